"""VFIO fixes applied to writable sysroot copies of GPU scenarios (this machine has no IOMMU or GPU):
files byte for byte, commands recorded (never run on the machine), rollback exact."""

import json

from tests.remedy.sysroots import DEBIAN_GRUB, sysroot
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
