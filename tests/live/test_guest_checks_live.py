"""guest.* and xcheck.* against the real TCG test guest (no GPU, busybox userland, 1 vCPU, 256 MiB): what a guest
without a GPU can show, each verdict checked against what the guest agent reads independently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.facts.guest_gpu import nvidia_smi
from autoglm_doctor.registry import load_registry
from autoglm_doctor.runner import run_checks
from autoglm_doctor.targets.guest_agent import GuestAgentTarget
from tests.helpers import doctor
from tests.live.test_guest_agent_live import _agent_cat

pytestmark = pytest.mark.live


@pytest.fixture()
def target(ci_guest):
    t = GuestAgentTarget(ci_guest.name)
    yield t
    t.close()


def verdicts(target, ids, profile=None):
    findings = run_checks(load_registry(fixes=False).select(ids), Context(target, Profile(dict(profile or {}))), timeout=120)
    return {(f.check_id, f.resource): f for f in findings}


def test_guest_checks_on_the_real_guest(ci_guest, target):
    ids = ["guest.gpu.visible", "guest.system.kernel", "guest.system.resources", "guest.system.clock"]
    got = verdicts(target, ids, {"vm_vcpus": 2, "vm_memory_gb": 0.125})
    # independent: the guest's PCI classes and vendors read with a raw guest-exec of cat
    listing = _agent_cat(ci_guest, "/proc/bus/pci/devices").decode()
    has_gpu = any(line.split()[1][:4] in ("10de", "1002") for line in listing.splitlines() if line.split())
    assert has_gpu is False
    assert got[("guest.gpu.visible", "gpus")].status.value == "fail"
    assert got[("guest.system.kernel", ci_guest.kernel_release)].status.value == "pass"
    assert got[("guest.system.resources", "vcpus")].status.value == "fail"  # 1 vCPU, the profile wants 2
    assert got[("guest.system.resources", "memory")].status.value == "pass"
    # busybox: no chronyc, no timedatectl, no timesyncd state
    assert got[("guest.system.clock", "clock")].status.value == "warn"


def test_missing_nvidia_smi_is_named(target):
    state = Context(target, Profile({})).fact(nvidia_smi)
    assert state.smi is None and state.error == "nvidia-smi is not installed (the NVIDIA driver's utilities)"


def test_cross_checks_through_guest(ci_guest, tmp_path: Path):
    cfg = tmp_path / "doctor.toml"
    cfg.write_text(f'[profile]\nvm_domains = ["{ci_guest.name}"]\nmodel_endpoint = "http://127.0.0.1:9"\n')
    out = doctor("check", "--target", "local", "--guest", ci_guest.spec, "--config", str(cfg), "--only", "xcheck.*",
                 "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    local = [f for f in json.loads(out.stdout)["findings"] if f["target"] == "local"]
    found = {(f["check_id"], f["status"]) for f in local}
    assert found == {("xcheck.gpu.passthrough", "skip"), ("xcheck.guest.resources", "pass"),
                     ("xcheck.net.guest_reachable", "fail"), ("xcheck.model.endpoint", "fail")}, [f["message"] for f in local]
