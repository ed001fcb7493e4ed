"""fix.vfio.bind: the plan written for a host whose GPU is held by nouveau, and for a built-in vfio-pci."""

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.plan import RunCommand, WriteFile
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import SCENARIOS


def _plan(scenario):
    from autoglm_doctor.fixes.host_vfio import BindToVfio as Fix

    target = SnapshotTarget(str(SCENARIOS / scenario))
    try:
        return Fix().plan(Context(target, Profile({})), []), target
    finally:
        target.close()


def test_plan_for_nouveau_host():
    plan, _ = _plan("gpu-nouveau")
    writes = [c for c in plan.changes if isinstance(c, WriteFile)]
    assert writes[0].path == "/etc/modprobe.d/autoglm-doctor-vfio.conf"
    assert writes[0].content.splitlines()[2:] == [
        "options vfio-pci ids=10de:2204,10de:1aef", "softdep nouveau pre: vfio-pci", "softdep snd_hda_intel pre: vfio-pci"]
    detach = [c for c in plan.changes if isinstance(c, RunCommand) and c.argv[:2] == ("virsh", "nodedev-detach")]
    assert [c.argv[2] for c in detach] == ["pci_0000_01_00_0", "pci_0000_01_00_1"]
    assert all(c.undo[:2] == ("virsh", "nodedev-reattach") for c in detach)
    assert plan.reboot_required
    assert any("nouveau" in n and "reboot" in n for n in plan.notes)


def test_plan_for_builtin_vfio_points_at_the_cmdline_and_writes_nothing():
    plan, _ = _plan("gpu-builtin-vfio")
    assert not [c for c in plan.changes if isinstance(c, WriteFile)]
    assert any("vfio-pci.ids=10de:2204,10de:1aef" in n for n in plan.notes)


def test_plan_never_takes_a_group_peer_nic_from_the_host():
    plan, _ = _plan("gpu-group-shared-nic")
    assert "10de:2204,10de:1aef" in plan.changes[0].content and "8086:1539" not in plan.changes[0].content
    assert not [c for c in plan.changes if isinstance(c, RunCommand) and "pci_0000_03_00_0" in c.argv]
    assert any(n.startswith("left alone: 0000:03:00.0") for n in plan.notes)


def test_plan_with_an_identical_host_card_binds_per_address_never_by_ids():
    plan, _ = _plan("gpu-twin-3090")
    assert plan.notes[0] == (
        "WARNING: ids=10de:2204,10de:1aef would also claim 0000:0b:00.0, 0000:0b:00.1 (same vendor:device, kept by the "
        "host): binding per address with driver_override instead (/etc/driverctl.d/pci-0000:0c:00.0, "
        "/etc/driverctl.d/pci-0000:0c:00.1, applied at every boot by driverctl)")
    writes = {c.path: c.content for c in plan.changes if isinstance(c, WriteFile)}
    assert writes["/etc/driverctl.d/pci-0000:0c:00.0"] == "vfio-pci\n"
    assert writes["/etc/driverctl.d/pci-0000:0c:00.1"] == "vfio-pci\n"
    assert not any("options vfio-pci" in text for text in writes.values())
    assert not any("0000:0b:00" in path for path in writes)
    detach = [c.argv[2] for c in plan.changes if isinstance(c, RunCommand) and c.argv[:2] == ("virsh", "nodedev-detach")]
    assert detach == ["pci_0000_0c_00_0", "pci_0000_0c_00_1"]
