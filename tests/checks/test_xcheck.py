"""xcheck.*: host (vm-gpu-host: vmdomain-good passes 0000:17:00.0, an A100 PCIe 40GB on vfio-pci, 16 vCPUs,
64 GiB, bridge br0) against a guest snapshot that agrees with it and one that does not."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.registry import load_registry
from autoglm_doctor.runner import run_checks
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import SCENARIOS, Case

DOMAIN = "vmdomain-good"
GUEST = f"libvirt:{DOMAIN}"
PROFILE = {"model_endpoint": "http://192.168.122.1:8000", "vm_domains": [DOMAIN]}


def host_with_ping(tmp_path: Path, answers: bool = True) -> Path:
    """vm-gpu-host with the host's ping of the guest address recorded."""
    host = Path(tempfile.mkdtemp(dir=tmp_path)) / "host"
    shutil.copytree(SCENARIOS / "vm-gpu-host", host, symlinks=True)
    ping = {"argv": ["ping", "-c", "1", "-W", "2", "192.168.122.50"], "returncode": 0 if answers else 1,
            "stdout": "1 packets transmitted, 1 received\n" if answers else "1 packets transmitted, 0 received\n",
            "stderr": "", "not_found": False, "timed_out": False}
    (host / ".autoglm-doctor" / "commands.json").write_text(json.dumps([ping]))
    return host


@dataclass
class PairCase(Case):
    """A Case whose run also has guest targets (peers), as `check --guest` gives the host run."""
    guests: dict[str, str] = field(default_factory=dict)  # target name -> scenario

    def findings(self, tmp_path: Path | None = None) -> list:
        assert tmp_path is not None
        host = SnapshotTarget(str(self.scenario(tmp_path) if callable(self.scenario) else SCENARIOS / self.scenario))
        peers = {name: SnapshotTarget(str(SCENARIOS / s)) for name, s in self.guests.items()}
        try:
            registry = load_registry(fixes=False)
            ctx = Context(host, Profile(dict(PROFILE, **self.profile)), peers=peers)
            return run_checks(registry.select([self.check_id]), ctx, timeout=60)
        finally:
            host.close()
            for p in peers.values():
                p.close()


GOOD = {GUEST: "guest-x-vmdomain-good"}
BROKEN = {GUEST: "guest-x-vmdomain-broken"}
R = f"{DOMAIN}:{GUEST}"

CASES = [
    PairCase(host_with_ping, "xcheck.gpu.passthrough", {f"{DOMAIN}:0000:17:00.0": "pass"}, guests=GOOD, note="good"),
    PairCase(host_with_ping, "xcheck.gpu.passthrough", {f"{DOMAIN}:0000:17:00.0": "fail"}, guests=BROKEN, note="broken"),
    PairCase(host_with_ping, "xcheck.gpu.passthrough", {"guests": "skip"}, note="no-guest"),
    PairCase(host_with_ping, "xcheck.guest.resources", {R: "pass"}, guests=GOOD, note="good"),
    PairCase(host_with_ping, "xcheck.guest.resources", {R: "fail"}, guests=BROKEN, note="broken"),
    PairCase(host_with_ping, "xcheck.net.guest_reachable", {R: "pass"}, guests=GOOD, note="good"),
    PairCase(host_with_ping, "xcheck.net.guest_reachable", {R: "fail"}, guests=BROKEN, note="broken"),
    PairCase(lambda tmp: host_with_ping(tmp, answers=False), "xcheck.net.guest_reachable", {R: "fail"}, guests=GOOD,
             note="no-reply"),
    PairCase(host_with_ping, "xcheck.model.endpoint", {f"{GUEST}:http://192.168.122.1:8000/v1/models": "pass"},
             guests=GOOD, note="good"),
    PairCase(host_with_ping, "xcheck.model.endpoint", {f"{GUEST}:http://192.168.122.1:8000/v1/models": "fail"},
             guests=BROKEN, note="broken"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: PairCase, tmp_path: Path) -> None:
    case.verify(tmp_path)


def test_messages(tmp_path: Path) -> None:
    def msg(check_id: str, guests: dict[str, str]) -> str:
        return " | ".join(f.message for f in PairCase(host_with_ping, check_id, {}, guests=guests).findings(tmp_path)
                          if f.check_id == check_id)

    assert "shows 0 of the 1 10de:20f1 device(s) the domain passes" in msg("xcheck.gpu.passthrough", BROKEN)
    assert "4 of the domain's 16 vCPUs online and 15.6 GiB of the domain's 64.0 GiB" in msg("xcheck.guest.resources", BROKEN)
    assert "Couldn't connect to server" in msg("xcheck.model.endpoint", BROKEN)


def test_a_guest_whose_domain_is_unknown_skips_with_the_reason(tmp_path: Path) -> None:
    findings = PairCase(host_with_ping, "xcheck.gpu.passthrough", {}, guests={"ssh://vm": "guest-x-vmdomain-good"},
                        profile={"vm_domains": []}).findings(tmp_path)
    assert [(f.status.value, f.resource) for f in findings] == [("skip", "ssh://vm")]
    assert "no domain to compare with" in findings[0].message
