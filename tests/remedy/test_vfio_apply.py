"""VFIO fixes applied to writable sysroot copies of GPU scenarios (this machine has no IOMMU or GPU):
files byte for byte, commands recorded (never run on the machine), rollback exact."""

import json

import pytest

from tests.remedy.sysroots import DEBIAN_GRUB, _tool, sysroot
from tests.remedy.test_fix_cli import JOURNAL, doctor, outside_journal


def apply(root, only, fix):
    res = doctor("fix", "--target", f"local:{root}", "--only", only, "--fix", fix, "--apply", "--yes",
                 "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    steps = json.loads((root / JOURNAL / out["run_id"] / "journal.json").read_text())["steps"]
    return out, [s["info"]["argv"] for s in steps if (s.get("info") or {}).get("recorded")]


def test_modules_one_plan_for_the_three_failures(tmp_path):
    root = sysroot("gpu-nouveau", tmp_path / "sr", "debian")
    before = outside_journal(root)
    out, recorded = apply(root, "host.vfio.modules", "fix.vfio.modules")
    assert out["state"] == "applied"
    assert (root / "etc/modules-load.d/autoglm-doctor-vfio.conf").read_text() == (
        "# Written by autoglm-doctor (fix.vfio.modules)\nvfio\nvfio_iommu_type1\nvfio_pci\n")
    assert recorded == [["modprobe", "vfio"], ["modprobe", "vfio_iommu_type1"], ["modprobe", "vfio_pci"]]
    res = doctor("fix", "--target", f"local:{root}", "--rollback", out["run_id"])
    assert res.returncode == 0, res.stderr
    assert outside_journal(root) == before


def test_bind_module_vfio_writes_modprobe_d_rebuilds_initramfs_and_detaches(tmp_path):
    root = sysroot("gpu-nouveau", tmp_path / "sr", "debian")
    out, recorded = apply(root, "host.vfio.*", "fix.vfio.bind")
    assert out["reboot_pending"] is True
    assert (root / "etc/modprobe.d/autoglm-doctor-vfio.conf").read_text().splitlines()[2:] == [
        "options vfio-pci ids=10de:2204,10de:1aef", "softdep nouveau pre: vfio-pci",
        "softdep snd_hda_intel pre: vfio-pci"]
    assert recorded == [["update-initramfs", "-u", "-k", "all"],
                        ["virsh", "nodedev-detach", "pci_0000_01_00_0", "--driver", "vfio"],
                        ["virsh", "nodedev-detach", "pci_0000_01_00_1", "--driver", "vfio"]]


def test_bind_builtin_vfio_goes_on_the_kernel_command_line(tmp_path):
    root = sysroot("gpu-builtin-vfio", tmp_path / "sr", "debian")
    out, recorded = apply(root, "host.vfio.*", "fix.vfio.bind")
    assert not (root / "etc/modprobe.d/autoglm-doctor-vfio.conf").exists()
    assert (root / "etc/default/grub").read_text() == DEBIAN_GRUB.replace(
        'GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="vfio-pci.ids=10de:2204,10de:1aef"')
    assert recorded[0] == ["update-grub"]
    assert out["reboot_pending"] is True


TWIN_SOFTDEPS = ("# Written by autoglm-doctor (fix.vfio.bind): the host drivers load after vfio-pci; no ids= (it would "
                 "take the host's identical card)\nsoftdep nvidia pre: vfio-pci\nsoftdep nouveau pre: vfio-pci\n"
                 "softdep snd_hda_intel pre: vfio-pci\n")


@pytest.mark.parametrize("family,package,initramfs", [
    ("debian", ["apt-get", "install", "-y", "driverctl"], ["update-initramfs", "-u", "-k", "all"]),
    ("rhel", ["dnf", "install", "-y", "driverctl"], ["dracut", "-f", "--regenerate-all"]),
])
def test_bind_with_an_identical_host_card_uses_per_address_driver_override(tmp_path, family, package, initramfs):
    """Two RTX 3090s: the host keeps 0000:0b:00.0 (its display), the VM gets 0000:0c:00.0. ids= would take
    both: the fix binds by address (driverctl's files), never writes ids=, and leaves the host's card alone."""
    root = sysroot("gpu-twin-3090", tmp_path / "sr", family)
    _tool(root, "/usr/bin/apt-get" if family == "debian" else "/usr/bin/dnf")
    before = outside_journal(root)
    dry = doctor("fix", "--target", f"local:{root}", "--only", "host.vfio.*", "--fix", "fix.vfio.bind")
    assert "WARNING: ids=10de:2204,10de:1aef would also claim 0000:0b:00.0, 0000:0b:00.1" in dry.stdout
    out, recorded = apply(root, "host.vfio.*", "fix.vfio.bind")
    assert out["reboot_pending"] is True
    assert recorded == [package, initramfs,
                        ["virsh", "nodedev-detach", "pci_0000_0c_00_0", "--driver", "vfio"],
                        ["virsh", "nodedev-detach", "pci_0000_0c_00_1", "--driver", "vfio"]]
    for fn in ("0", "1"):
        assert (root / f"etc/driverctl.d/pci-0000:0c:00.{fn}").read_bytes() == b"vfio-pci\n"
    assert sorted(p.name for p in (root / "etc/driverctl.d").iterdir()) == ["pci-0000:0c:00.0", "pci-0000:0c:00.1"]
    assert (root / "etc/modprobe.d/autoglm-doctor-vfio.conf").read_text() == TWIN_SOFTDEPS
    changed = {k for k, v in outside_journal(root).items() if before.get(k) != v}
    assert changed == {"etc/driverctl.d", "etc/driverctl.d/pci-0000:0c:00.0", "etc/driverctl.d/pci-0000:0c:00.1",
                       "etc/modprobe.d/autoglm-doctor-vfio.conf"}
    # what the next boot reads binds exactly the passed card: the persistence check passes for it
    res = doctor("check", "--target", f"local:{root}", "--only", "host.vfio.persistence", "--format", "json")
    assert {f["resource"]: f["status"] for f in json.loads(res.stdout)["findings"]
            if f["check_id"] == "host.vfio.persistence"} == {
        "0000:0c:00.0": "pass", "0000:0c:00.1": "pass"}
    res = doctor("fix", "--target", f"local:{root}", "--rollback", out["run_id"])
    assert res.returncode == 0, res.stderr
    assert outside_journal(root) == before
