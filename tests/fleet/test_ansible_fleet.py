"""The Ansible role and playbooks, run for real with ansible-core against five hosts (each its own sshd on
loopback, its own profile and its own broken state), installing from one wheelhouse built once."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fleet.hosts import ROOT, fleet, wheelhouse

pytestmark = pytest.mark.live
ANSIBLE_DIR = ROOT / "deploy" / "ansible"
BIN = Path(sys.executable).parent
INSTALL_TASK = "TASK [autoglm_doctor : Install autoglm-doctor into its venv"
ONLY = ["host.bridge.present", "host.bridge.stp", "container.volumes.access", "container.deploy.model_endpoint"]


def _need(tool: str) -> str:
    path = shutil.which(tool) or (str(BIN / tool) if (BIN / tool).exists() else None)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is not installed (CI must provide it)")
        pytest.skip(f"{tool} not installed")
    return path


def playbook(fl, reports: Path, wh: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(fl.dir / "ansible-local"), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(fl.dir / "cp")}
    argv = [str(BIN / "ansible-playbook"), "-i", str(fl.inventory), str(ANSIBLE_DIR / "preflight.yml"),
            "-e", json.dumps({"autoglm_doctor_wheelhouse": str(wh), "autoglm_doctor_report_dir": str(reports),
                              "autoglm_doctor_only": ONLY, "autoglm_doctor_controller_cmd": str(BIN / "autoglm-doctor")}),
            *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env, cwd=fl.dir)


def recap(out: str) -> dict[str, dict[str, int]]:
    rows = {}
    for m in re.finditer(r"^(\S+)\s+:\s+(.*)$", out, re.M):
        counts = dict(re.findall(r"(\w+)=(\d+)", m.group(2)))
        if "changed" in counts:
            rows[m.group(1)] = {k: int(v) for k, v in counts.items()}
    return rows


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")) if path.exists() else []:
        st = p.lstat()
        h.update(f"{p}|{st.st_mode}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


def test_lint_and_syntax() -> None:
    _need("ansible-playbook")
    for pb in ("preflight.yml", "remediate.yml"):
        out = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", pb],
                             capture_output=True, text=True, cwd=ANSIBLE_DIR, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
    lint = subprocess.run([_need("ansible-lint"), "--offline", "preflight.yml", "remediate.yml", "roles/autoglm_doctor"],
                          capture_output=True, text=True, cwd=ANSIBLE_DIR, timeout=300,
                          env={**os.environ, "ANSIBLE_LINT_NODEPS": "1", "NO_COLOR": "1"})
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.timeout(1500)
def test_preflight_five_hosts(tmp_path: Path, wheels: Path) -> None:
    _need("ansible-playbook")
    _need("sshd")
    reports = tmp_path / "reports"
    os.chmod(tmp_path, 0o755)
    with fleet(tmp_path, f"ag{os.getpid() % 10000}f") as fl:
        # check mode on hosts that were never provisioned: nothing is installed, nothing on the hosts changes
        before = {h.name: tree_digest(h.home) for h in fl.hosts}
        dry = playbook(fl, reports, wheels, "--check")
        assert {h.name: tree_digest(h.home) for h in fl.hosts} == before
        assert not any(h.home.exists() for h in fl.hosts), dry.stdout[-3000:]

        first = playbook(fl, reports, wheels)
        assert first.returncode != 0, first.stdout[-3000:]  # the fleet gate fails: hosts are broken
        assert "fleet gate FAILED" in first.stdout, first.stdout[-5000:] + first.stderr[-3000:]
        fleet_view = json.loads((reports / "fleet.json.out").read_text())
        hosts = {h["host"]: h for h in fleet_view["hosts"]}
        assert sorted(hosts) == [h.name for h in fl.hosts]
        failing = {name: sorted((f["check_id"], f["status"]) for f in h["failing"]
                                if f["resource"] in {hh.profile["bridge"] for hh in fl.hosts}
                                | {hh.profile["volumes"][0]["path"] for hh in fl.hosts}
                                | {hh.profile["model_endpoint"] + "/v1/models" for hh in fl.hosts})
                   for name, h in hosts.items()}
        assert failing == {
            "fleet1": [],
            "fleet2": [("host.bridge.present", "fail")],
            "fleet3": [("host.bridge.stp", "warn")],
            "fleet4": [("container.volumes.access", "fail")],
            "fleet5": [("container.deploy.model_endpoint", "fail")],
        }, json.dumps(fleet_view, indent=1)[:4000]
        assert {n: h["gate"]["passed"] for n, h in hosts.items()} == {
            "fleet1": True, "fleet2": False, "fleet3": True, "fleet4": False, "fleet5": False}

        # idempotent: a second run installs nothing; only each host's fetched report changes. The fast path:
        # the runner finds the same install key and profile, runs the doctor, and no install task runs
        stamps = {h.name: (h.home / "venv" / "autoglm-doctor.stamp").stat().st_mtime_ns for h in fl.hosts}
        second = playbook(fl, reports, wheels)
        rows = recap(second.stdout)
        assert {h.name: rows[h.name]["changed"] for h in fl.hosts} == {h.name: 1 for h in fl.hosts}, second.stdout[-3000:]
        assert INSTALL_TASK not in second.stdout and "Write the deployment profile" not in second.stdout
        assert {h.name: (h.home / "venv" / "autoglm-doctor.stamp").stat().st_mtime_ns for h in fl.hosts} == stamps

        # check mode on provisioned hosts: the checks run, the hosts do not change
        before = {h.name: tree_digest(h.home) for h in fl.hosts}
        (reports / "fleet1.json").unlink()
        checked = playbook(fl, reports, wheels, "--check")
        assert {h.name: tree_digest(h.home) for h in fl.hosts} == before
        assert json.loads((reports / "fleet1.json").read_text())["findings"], checked.stdout[-2000:]

        # a wheel rebuilt under the same version is installed again (its content is in the install key), then
        # the fast path holds again; on one host (--limit), as an install costs several seconds per host
        rebuilt = tmp_path / "wheelhouse-rebuilt"
        shutil.copytree(wheels, rebuilt)
        own = next(rebuilt.glob("autoglm_doctor-*.whl"))
        dist_info = own.name.split("-")[0] + "-" + own.name.split("-")[1] + ".dist-info"
        with zipfile.ZipFile(own, "a") as z:
            z.writestr(f"{dist_info}/REBUILT", "rebuilt\n")
        third = playbook(fl, reports, rebuilt, "--limit", "fleet2,localhost")
        assert "fleet gate FAILED" in third.stdout and INSTALL_TASK in third.stdout, third.stdout[-3000:]
        assert {h.name: bool(list((h.home / "venv").glob(f"lib/python3*/site-packages/{dist_info}/REBUILT")))
                for h in fl.hosts} == {h.name: h.name == "fleet2" for h in fl.hosts}
        fourth = playbook(fl, reports, rebuilt, "--limit", "fleet2,localhost")
        assert INSTALL_TASK not in fourth.stdout, fourth.stdout[-3000:]
        assert recap(fourth.stdout)["fleet2"]["changed"] == 1, fourth.stdout[-3000:]
        assert json.loads((reports / "fleet.json.out").read_text())["gate"]["failing_hosts"] == [
            "fleet2", "fleet4", "fleet5"]


def test_max_failing_hosts_lets_the_fleet_pass(tmp_path: Path) -> None:
    """The merge play's gate follows autoglm_doctor_max_failing_hosts (controller side only)."""
    _need("ansible-playbook")
    reports = tmp_path / "reports"
    reports.mkdir()
    base = {"schema_version": "1.0", "tool": {"name": "autoglm-doctor", "version": "0.9.0"}, "target": "local",
            "run_id": "0123456789ab", "started_at": "2026-11-30T10:00:00+00:00", "duration_ms": 1, "summary": {},
            "notes": []}
    ok = {"check_id": "host.kvm.device", "status": "pass", "severity": "high", "resource": "", "message": "ok"}
    bad = {**ok, "status": "fail", "message": "bad"}
    for name, f in (("a", ok), ("b", bad)):
        (reports / f"{name}.json").write_text(json.dumps({**base, "findings": [f]}))
    inv = tmp_path / "inv.ini"
    inv.write_text("[autoglm]\n")
    for limit, rc in (("0", 2), ("1", 0)):
        out = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inv), str(ANSIBLE_DIR / "preflight.yml"),
                              "-e", json.dumps({"autoglm_doctor_report_dir": str(reports),
                                                "autoglm_doctor_max_failing_hosts": limit,
                                                "autoglm_doctor_controller_cmd": str(BIN / "autoglm-doctor")})],
                             capture_output=True, text=True, timeout=300, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
        assert out.returncode == rc, out.stdout[-3000:]
        assert ("fleet gate passed" if rc == 0 else "fleet gate FAILED") in out.stdout
