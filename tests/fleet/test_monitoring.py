"""deploy/systemd and deploy/prometheus: the unit and timer pass systemd-analyze verify, run the doctor
with only the capabilities they grant and get the same findings as full root, and the alerting rules
pass promtool's checks and unit tests against the metric names the doctor really writes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.live
DEPLOY = ROOT / "deploy"
DOCTOR = str(Path(sys.executable).parent / "autoglm-doctor")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (CI must provide it)")
        pytest.skip(f"{name} not installed")
    return path


def unit_value(text: str, key: str) -> str:
    m = re.search(rf"^{key}=(.*)$", text, re.M)
    assert m, key
    return m.group(1)


def test_systemd_units_verify(tmp_path: Path) -> None:
    service = (DEPLOY / "systemd" / "autoglm-doctor.service").read_text()
    # systemd-analyze checks that ExecStart's program exists: point it at this checkout's doctor
    (tmp_path / "autoglm-doctor.service").write_text(service.replace("/opt/autoglm-doctor/venv/bin/autoglm-doctor", DOCTOR))
    shutil.copy(DEPLOY / "systemd" / "autoglm-doctor.timer", tmp_path)
    out = subprocess.run([tool("systemd-analyze"), "verify", "--man=no", "autoglm-doctor.service", "autoglm-doctor.timer"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
    timer = (DEPLOY / "systemd" / "autoglm-doctor.timer").read_text()
    assert unit_value(timer, "OnUnitActiveSec") == "5min"
    assert unit_value(service, "ProtectSystem") == "strict" and unit_value(service, "PrivateTmp") == "yes"
    argv = unit_value(service, "ExecStart").split()
    assert argv[1:4] == ["check", "--format", "prometheus"]
    out_dir = os.path.dirname(argv[argv.index("--output") + 1])
    assert unit_value(service, "ReadWritePaths") == out_dir  # the one place it may write


def test_granted_capabilities_give_the_same_findings_as_root(tmp_path: Path) -> None:
    service = (DEPLOY / "systemd" / "autoglm-doctor.service").read_text()
    caps = unit_value(service, "CapabilityBoundingSet").split()
    bounding = "-all," + ",".join("+" + c.removeprefix("CAP_").lower() for c in caps)
    only = ["--only", "host.*", "--only", "container.docker.*"]
    full, capped = tmp_path / "full.json", tmp_path / "capped.json"
    subprocess.run([DOCTOR, "check", "--format", "json", *only, "-o", str(full)], timeout=300)
    subprocess.run([tool("setpriv"), "--inh-caps=-all", "--ambient-caps=-all", f"--bounding-set={bounding}", "--",
                    DOCTOR, "check", "--format", "json", *only, "-o", str(capped)], timeout=300)

    def verdicts(path: Path) -> dict:
        return {(f["check_id"], f["resource"]): (f["status"], f["message"]) for f in json.loads(path.read_text())["findings"]}

    got, want = verdicts(capped), verdicts(full)
    assert got.keys() == want.keys()
    differ = {k: (want[k], got[k]) for k in want if want[k][0] != got[k][0]}
    assert not differ


def test_alert_rules_check_and_unit_tests() -> None:
    promtool = tool("promtool")
    rules = DEPLOY / "prometheus"
    out = subprocess.run([promtool, "check", "rules", "autoglm-doctor.rules.yml"], capture_output=True, text=True,
                         cwd=rules, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([promtool, "test", "rules", "autoglm-doctor.rules.test.yml"], capture_output=True, text=True,
                         cwd=rules, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_alert_rules_use_metrics_the_doctor_writes(tmp_path: Path) -> None:
    prom = subprocess.run([DOCTOR, "check", "--format", "prometheus", "--only", "host.kvm.*"], capture_output=True,
                          text=True, timeout=300).stdout
    written = set(re.findall(r"^(autoglm_doctor_[a-z_]+)", prom, re.M))
    referenced = set(re.findall(r"\b(autoglm_doctor_[a-z_]+)", (DEPLOY / "prometheus" / "autoglm-doctor.rules.yml").read_text()))
    assert referenced and referenced <= written, referenced - written


def test_grafana_dashboard_queries_metrics_the_doctor_writes() -> None:
    dash = json.loads((DEPLOY / "prometheus" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"]) == 5
    prom = subprocess.run([DOCTOR, "check", "--format", "prometheus", "--only", "host.kvm.*"], capture_output=True,
                          text=True, timeout=300).stdout
    written = set(re.findall(r"^(autoglm_doctor_[a-z_]+)", prom, re.M))
    used = {m for e in exprs for m in re.findall(r"\b(autoglm_doctor_[a-z_]+)", e)}
    assert used and used <= written, used - written
