"""fix.vm.autostart against the real libvirtd: a throw-away domain (never started) defined without
autostart, the fix applied (libvirt's own dominfo then says enabled), a second apply changing
nothing, and the rollback disabling it again. The domain is named after this branch and pid and
undefined afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "autoglm-doctor"
XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
</domain>"""


def virsh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["virsh", *args], capture_output=True, text=True, check=check, timeout=60)


def autostart(name: str) -> str:
    info = dict(ln.split(":", 1) for ln in virsh("dominfo", name).stdout.splitlines() if ":" in ln)
    return info["Autostart"].strip()


@pytest.fixture
def domain(tmp_path):
    if shutil.which("virsh") is None or virsh("version", check=False).returncode != 0:
        pytest.fail("libvirtd is not answering (bash .ci/services.sh)")
    name = f"fixes-{os.getpid() % 100000}-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "dom.xml"
    path.write_text(XML.format(name=name))
    virsh("define", str(path))
    try:
        yield name
    finally:
        virsh("autostart", "--disable", name, check=False)
        virsh("undefine", name, check=False)
        assert name not in virsh("list", "--all", "--name").stdout.split()


def doctor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), "fix", "--config", str(tmp_path / "vm.toml"), "--journal-dir",
                           str(tmp_path / "journal"), "--only", "vm.domain.autostart", *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, "AUTOGLM_DOCTOR_JOURNAL": ""})


def test_autostart_enabled_verified_and_rolled_back(domain, tmp_path):
    (tmp_path / "vm.toml").write_text(f'[profile]\nvm_domains = ["{domain}"]\n')
    assert autostart(domain) == "disable"
    dry = doctor(tmp_path)
    assert f"run: virsh autostart {domain}  (undo: virsh autostart --disable {domain})" in dry.stdout, dry.stdout
    res = doctor(tmp_path, "--apply", "--yes", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["state"] == "applied" and autostart(domain) == "enable"
    again = doctor(tmp_path, "--apply", "--yes")
    assert again.returncode == 0 and "nothing to apply" in again.stdout, again.stdout + again.stderr
    back = doctor(tmp_path, "--rollback", out["run_id"])
    assert back.returncode == 0, back.stdout + back.stderr
    assert autostart(domain) == "disable"
    assert virsh("domstate", domain).stdout.strip() == "shut off"  # never started
