"""fix.vm.domain_xml planned on the vm-gpu-host scenario: one redefinition per domain holding every mechanical
edit its findings ask for, and notes (not edits) for what the host must change first. Applied to real libvirt
domains in tests/live/test_vm_live.py."""

from autoglm_doctor.app import RunOptions, build_report, plan_fixes
from autoglm_doctor.config import Config, Profile
from autoglm_doctor.facts.domain import parse_domain
from autoglm_doctor.plan import RedefineDomain
from autoglm_doctor.registry import load_registry
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import SCENARIOS


def plan():
    registry = load_registry()
    target = SnapshotTarget(str(SCENARIOS / "vm-gpu-host"))
    try:
        config = Config(profile=Profile({}))
        report = build_report(target, config, RunOptions(only=["vm.*"], timeout=60), registry=registry)
        [p] = plan_fixes(registry, target, config, report, ["fix.vm.domain_xml"])
        return p, p.render(target)
    finally:
        target.close()


def test_one_redefinition_per_domain_with_every_edit():
    p, _text = plan()
    changes = {c.domain: c for c in p.changes}
    assert set(changes) == {"vmdomain-defects", "vmdomain-bars"}
    assert all(isinstance(c, RedefineDomain) and c.uri == "qemu:///system" for c in changes.values())
    defects = parse_domain(changes["vmdomain-defects"].new_xml)
    assert all(h.managed for h in defects.hostdevs)
    assert [h.address for h in defects.hostdevs] == ["0000:65:00.0", "0000:b3:00.0", "0000:65:00.1"]
    assert defects.cpu_mode == "host-passthrough" and defects.has_agent_channel
    assert defects.hugepages and defects.hugepage_sizes == (1 << 30,)
    assert (defects.machine, defects.uefi) == ("pc-i440fx-7.2", False)  # not mechanical: left alone
    bars = parse_domain(changes["vmdomain-bars"].new_xml)
    assert bars.ovmf_mmio64_mb == 131072  # 64 GiB + 32 MiB of BARs, rounded to a power of two


def test_host_side_problems_are_notes_not_edits():
    p, text = plan()
    assert any("vmdomain-bars: its hugepage pool is too small" in n for n in p.notes)
    assert parse_domain(next(c for c in p.changes if c.domain == "vmdomain-bars").new_xml).hugepage_sizes == ()
    assert "opt/ovmf/X-PciMmio64Mb,string=131072" in text
