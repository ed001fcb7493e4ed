"""remediate.yml run for real: three hosts (each its own sshd on loopback, its own bridge and journal),
provisioned by preflight.yml, then fixed a host at a time. A host whose fix does not verify is rolled back
by the doctor and stops the whole run (the hosts after it are left untouched); once its cause is gone the
same run fixes every host, and a run after that changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.fleet.hosts import fleet, wheelhouse
from tests.fleet.test_ansible_fleet import ANSIBLE_DIR, BIN, _need, playbook, recap

pytestmark = pytest.mark.live
FIXES = ["fix.net.bridge_up", "fix.net.bridge_stp_off"]


def remediate(fl, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(fl.dir / "ansible-local"), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(fl.dir / "cp")}
    argv = [str(BIN / "ansible-playbook"), "-i", str(fl.inventory), str(ANSIBLE_DIR / "remediate.yml"),
            "-e", json.dumps({"autoglm_doctor_fixes": FIXES}), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env, cwd=fl.dir)


def sysfs(bridge: str, attr: str) -> str:
    return Path(f"/sys/class/net/{bridge}/{attr}").read_text().strip()


def ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


def outcomes(out: str) -> dict[str, str]:
    """host -> the doctor's state, from the "Say what was done" task's output."""
    found = {}
    host = None
    for line in out.splitlines():
        if line.startswith("ok: [") or line.startswith("changed: ["):
            host = line.split("[", 1)[1].split("]", 1)[0]
        elif host and host.startswith("fleet") and '"msg":' in line:
            found[host] = line.split('"msg": "', 1)[1].split(" ", 1)[0]
            host = None
    return found


@pytest.mark.timeout(1200)
def test_remediate_stops_at_the_first_host_that_does_not_verify(tmp_path: Path) -> None:
    _need("ansible-playbook")
    _need("sshd")
    os.chmod(tmp_path, 0o755)
    wheels = wheelhouse(tmp_path / "wheelhouse")
    with fleet(tmp_path, f"ag{os.getpid() % 10000}r", 3) as fl:
        # each host keeps its journal in its own home (they all live on this one machine)
        inv = json.loads(fl.inventory.read_text())
        for h in fl.hosts:
            inv["autoglm"]["hosts"][h.name]["autoglm_doctor_journal_dir"] = str(h.home / "journal")
        fl.inventory.write_text(json.dumps(inv))
        provision = playbook(fl, tmp_path / "reports", wheels)
        assert "fleet gate FAILED" in provision.stdout, provision.stdout[-3000:] + provision.stderr[-2000:]

        refused = remediate(fl)
        assert refused.returncode != 0 and "autoglm_doctor_fix_confirm=yes" in refused.stdout, refused.stdout[-2000:]

        fleet1, fleet2, fleet3 = fl.hosts
        assert (fleet1.state, fleet2.state, fleet3.state) == ("ok", "missing-bridge", "stp-on")
        b1, b3 = fleet1.profile["bridge"], fleet3.profile["bridge"]
        # fleet1's bridge is down and so is its only port: bringing the bridge up cannot give it a carrier,
        # so the doctor's verification fails and it undoes its step
        port1 = b1[:-2] + "p"
        ip("link", "set", port1, "down")
        ip("link", "set", b1, "down")
        first = remediate(fl, "-e", "autoglm_doctor_fix_confirm=yes")
        assert first.returncode != 0, first.stdout[-3000:]
        assert sysfs(b1, "operstate") == "down" and "UP" not in subprocess.run(
            ["ip", "-o", "link", "show", b1], capture_output=True, text=True).stdout.split(">")[0]
        assert sysfs(b3, "bridge/stp_state") != "0", "a host after the failed one was changed"
        assert "fleet3" not in outcomes(first.stdout) and "fleet2" not in outcomes(first.stdout)
        history = subprocess.run([str(fleet1.home / "venv" / "bin" / "autoglm-doctor"), "fix", "--history",
                                  "--journal-dir", str(fleet1.home / "journal")], capture_output=True, text=True)
        assert "rolled" in history.stdout.lower(), history.stdout + history.stderr

        # the cause gone, the same run fixes every host that needs it
        ip("link", "set", port1, "up")
        second = remediate(fl, "-e", "autoglm_doctor_fix_confirm=yes")
        assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
        assert outcomes(second.stdout) == {"fleet1": "applied", "fleet2": "unchanged", "fleet3": "applied"}, \
            second.stdout[-4000:]
        assert sysfs(b3, "bridge/stp_state") == "0"
        assert "UP" in subprocess.run(["ip", "-o", "link", "show", b1], capture_output=True, text=True).stdout
        assert {h: r["changed"] for h, r in recap(second.stdout).items() if h.startswith("fleet")} == \
            {"fleet1": 1, "fleet2": 0, "fleet3": 1}

        # idempotent: nothing left to do anywhere
        third = remediate(fl, "-e", "autoglm_doctor_fix_confirm=yes")
        assert third.returncode == 0, third.stdout[-3000:]
        assert outcomes(third.stdout) == {"fleet1": "unchanged", "fleet2": "unchanged", "fleet3": "unchanged"}
        assert {h: r["changed"] for h, r in recap(third.stdout).items() if h.startswith("fleet")} == \
            {"fleet1": 0, "fleet2": 0, "fleet3": 0}
