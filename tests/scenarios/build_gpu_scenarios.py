#!/usr/bin/env python3
"""Builds the tests/scenarios/gpu-* snapshot trees (committed; rerun after editing this file):

    .venv/bin/python tests/scenarios/build_gpu_scenarios.py [OUTPUT_DIR]

Modelled on real machines: a 2-socket Xeon server with an A100 PCIe (class 0x0302, no boot_vga, BMC
ASPEED VGA as boot display); a Ryzen 7 5700G desktop with an RX 6800 XT behind the card's own PCIe
switch and the APU's iGPU as boot VGA; an Alder Lake desktop (UHD 770 iGPU + RTX 3090 in the CPU
slot, root port in the card's group, as Intel client platforms group them).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_sysfs import Host, Pci, Tree, host_files, pci_devices  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
INTEL_CONFIG = {"KVM": "m", "KVM_INTEL": "m", "INTEL_IOMMU": "y", "INTEL_IOMMU_DEFAULT_ON": "n", "AMD_IOMMU": "y",
                "IRQ_REMAP": "y", "VFIO": "m", "VFIO_PCI": "m", "VFIO_IOMMU_TYPE1": "m", "HUGETLBFS": "y"}
AMD_CONFIG = {**INTEL_CONFIG, "KVM_AMD": "m"}
DEBIAN_MODPROBE = {
    "/usr/lib/modprobe.d/aliases.conf": "# These are the standard aliases for the network protocols\n"
                                        "alias net-pf-1 unix\nalias net-pf-2 ipv4\n",
    "/usr/lib/modprobe.d/fbdev-blacklist.conf": "# framebuffer drivers that conflict with real drivers\n"
                                                "blacklist arkfb\nblacklist aty128fb\nblacklist vga16fb\n",
    "/usr/lib/modprobe.d/systemd.conf": "# load the bonding driver without default interfaces\n"
                                        "options bonding max_bonds=0\noptions dummy numdummies=0\n",
}
VFIO_LOADED = {"vfio": True, "vfio_pci": True, "vfio_pci_core": True, "vfio_iommu_type1": True, "kvm": True,
               "kvm_intel": True}


# -- the Alder Lake desktop with an RTX 3090 ---------------------------------------------------------
def desktop_3090(gpu_driver: str | None, audio_driver: str | None, *, boot_vga: bool = False, igpu: bool = True,
                 group: str | None = "1", reset: bool = True) -> list[Pci]:
    mod = {"vfio-pci": "vfio_pci", "nouveau": "nouveau", "nvidia": "nvidia", "snd_hda_intel": "snd_hda_intel"}
    devs = [
        Pci("0000:00:00.0", 0x8086, 0x4668, 0x060000, group="0" if group else None),
        Pci("0000:00:01.0", 0x8086, 0x460D, 0x060400, driver="pcieport", group=group, acs=None),
        Pci("0000:01:00.0", 0x10DE, 0x2204, 0x030000, parent="0000:00:01.0", sv=0x10DE, sd=0x1454, driver=gpu_driver,
            module=mod.get(gpu_driver or ""), group=group, boot_vga=boot_vga, reset=reset),
        Pci("0000:01:00.1", 0x10DE, 0x1AEF, 0x040300, parent="0000:00:01.0", sv=0x10DE, sd=0x1454,
            driver=audio_driver, module=mod.get(audio_driver or ""), group=group, reset_method="flr"),
        Pci("0000:00:14.0", 0x8086, 0x7AE0, 0x0C0330, driver="xhci_hcd", module="xhci_pci", group="5" if group else None),
        Pci("0000:00:1d.0", 0x8086, 0x7AB0, 0x060400, driver="pcieport", group="9" if group else None, acs=True),
        Pci("0000:04:00.0", 0x144D, 0xA80A, 0x010802, parent="0000:00:1d.0", sv=0x144D, sd=0xA801, driver="nvme",
            module="nvme", group="10" if group else None),
    ]
    if igpu:
        devs.insert(1, Pci("0000:00:02.0", 0x8086, 0x4680, 0x030000, sv=0x1043, sd=0x8882, driver="i915",
                           module="i915", group="2" if group else None, boot_vga=True))
    return devs


def intel_desktop(**kw) -> Host:
    base = dict(cpu="intel", release="6.1.0-18-amd64", config=dict(INTEL_CONFIG),
                cmdline="BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=5d3f0c1e-7a21-4f8e-9a53-0d2b8c7e4f11 ro "
                        "quiet intel_iommu=on",
                acpi=("APIC", "DMAR", "DSDT", "FACP", "FPDT", "HPET", "MCFG", "SSDT1", "SSDT2"),
                iommu_units=("dmar0", "dmar1"), modprobe=dict(DEBIAN_MODPROBE),
                hugepages={2048: (0, 0)}, node_hugepages={})
    base.update(kw)
    return Host(**base)


NVIDIA_VFIO_CONF = ("# GPU passthrough for the AutoGLM VM\n"
                    "options vfio-pci ids=10de:2204,10de:1aef\n"
                    "softdep nouveau pre: vfio-pci\n"
                    "softdep snd_hda_intel pre: vfio-pci\n")


# -- the scenarios ---------------------------------------------------------------------------------
def intel_a100(tree: Tree) -> None:
    """Healthy Intel server: A100 on vfio-pci in its own group, 1G pages on the GPU's node."""
    devs = [
        Pci("0000:00:00.0", 0x8086, 0x09A2, 0x060000, group="0", numa=0),
        Pci("0000:00:1c.0", 0x8086, 0xA190, 0x060400, driver="pcieport", group="20", numa=0, acs=True),
        Pci("0000:02:00.0", 0x1A03, 0x1150, 0x060400, parent="0000:00:1c.0", group="20", numa=0),
        Pci("0000:03:00.0", 0x1A03, 0x2000, 0x030000, parent="0000:02:00.0", sv=0x1A03, sd=0x2000, driver="ast",
            module="ast", group="20", numa=0, boot_vga=True, reset=False),
        Pci("0000:16:02.0", 0x8086, 0x347A, 0x060400, driver="pcieport", group="40", numa=0, acs=True),
        Pci("0000:17:00.0", 0x10DE, 0x20F1, 0x030200, parent="0000:16:02.0", sv=0x10DE, sd=0x145F, driver="vfio-pci",
            module="vfio_pci", group="41", numa=0, reset_method="flr bus"),
        Pci("0000:30:02.0", 0x8086, 0x347A, 0x060400, driver="pcieport", group="49", numa=0, acs=True),
        Pci("0000:31:00.0", 0x15B3, 0x101B, 0x020700, parent="0000:30:02.0", sv=0x15B3, sd=0x0007,
            driver="mlx5_core", module="mlx5_core", group="50", numa=0),
        Pci("0000:b0:02.0", 0x8086, 0x347A, 0x060400, driver="pcieport", group="89", numa=1, acs=True),
        Pci("0000:b1:00.0", 0x144D, 0xA80A, 0x010802, parent="0000:b0:02.0", sv=0x144D, sd=0xA812, driver="nvme",
            module="nvme", group="90", numa=1),
    ]
    pci_devices(tree, devs)
    host_files(tree, Host(
        cpu="intel", release="5.15.0-91-generic", config=dict(INTEL_CONFIG),
        cmdline="BOOT_IMAGE=/vmlinuz-5.15.0-91-generic root=/dev/mapper/ubuntu--vg-root ro intel_iommu=on iommu=pt "
                "default_hugepagesz=1G hugepagesz=1G hugepages=0:64",
        acpi=("APIC", "DMAR", "DSDT", "FACP", "HEST", "HPET", "MCFG", "SLIT", "SRAT", "SSDT1", "SSDT2"),
        iommu_units=("dmar0", "dmar1", "dmar2", "dmar3"), modules={**VFIO_LOADED, "ast": True, "mlx5_core": True},
        modprobe={**DEBIAN_MODPROBE,
                  "/etc/modprobe.d/vfio.conf": "options vfio-pci ids=10de:20f1\nsoftdep nouveau pre: vfio-pci\n",
                  "/etc/modprobe.d/blacklist-nouveau.conf": "blacklist nouveau\noptions nouveau modeset=0\n"},
        nodes=2, hugepages={2048: (0, 0), 1048576: (64, 64)},
        node_hugepages={(0, 1048576): (64, 64)}, vfio_groups=("41",), usrmerge=False))


def amd_rx6800(tree: Tree) -> None:
    """Healthy AMD desktop: RX 6800 XT + HDMI audio on vfio-pci via the command line, softdeps in place."""
    devs = [
        Pci("0000:00:00.0", 0x1022, 0x1630, 0x060000, group="0"),
        Pci("0000:00:00.2", 0x1022, 0x1631, 0x080600, group="1"),
        Pci("0000:00:01.1", 0x1022, 0x1633, 0x060400, driver="pcieport", group="2", acs=True),
        Pci("0000:09:00.0", 0x1002, 0x1478, 0x060400, parent="0000:00:01.1", driver="pcieport", group="14", acs=True),
        Pci("0000:0a:00.0", 0x1002, 0x1479, 0x060400, parent="0000:09:00.0", driver="pcieport", group="15", acs=True),
        Pci("0000:0b:00.0", 0x1002, 0x73BF, 0x030000, parent="0000:0a:00.0", sv=0x1DA2, sd=0xE438,
            driver="vfio-pci", module="vfio_pci", group="16", reset_method="bus"),
        Pci("0000:0b:00.1", 0x1002, 0xAB28, 0x040300, parent="0000:0a:00.0", sv=0x1002, sd=0xAB28,
            driver="vfio-pci", module="vfio_pci", group="16", reset_method="bus"),
        Pci("0000:00:02.1", 0x1022, 0x1634, 0x060400, driver="pcieport", group="4", acs=True),
        Pci("0000:05:00.0", 0x10EC, 0x8168, 0x020000, parent="0000:00:02.1", sv=0x1043, sd=0x8677, driver="r8169",
            module="r8169", group="12"),
        Pci("0000:00:08.1", 0x1022, 0x1635, 0x060400, driver="pcieport", group="6", acs=True),
        Pci("0000:0e:00.0", 0x1002, 0x1638, 0x030000, parent="0000:00:08.1", sv=0x1043, sd=0x8809, driver="amdgpu",
            module="amdgpu", group="7", boot_vga=True),
        Pci("0000:0e:00.1", 0x1002, 0x1637, 0x040300, parent="0000:00:08.1", sv=0x1002, sd=0x1637,
            driver="snd_hda_intel", module="snd_hda_intel", group="8"),
    ]
    pci_devices(tree, devs)
    host_files(tree, Host(
        cpu="amd", release="6.1.0-18-amd64", config=dict(AMD_CONFIG),
        cmdline="BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0b6f2a94-1c1e-4b7a-8f0e-2d4c9a7b3e55 ro quiet "
                "iommu=pt vfio-pci.ids=1002:73bf,1002:ab28",
        acpi=("APIC", "BGRT", "CRAT", "DSDT", "FACP", "FPDT", "HPET", "IVRS", "MCFG", "SSDT1", "SSDT2"),
        iommu_units=("ivhd0",), modules={**VFIO_LOADED, "kvm_intel": False, "kvm_amd": True, "amdgpu": True,
                                         "snd_hda_intel": True},
        modprobe={**DEBIAN_MODPROBE, "/etc/modprobe.d/vfio.conf":
                  "# vfio-pci first, so it claims the RX 6800 XT before amdgpu and snd_hda_intel\n"
                  "softdep amdgpu pre: vfio-pci\nsoftdep snd_hda_intel pre: vfio-pci\n"},
        hugepages={2048: (8192, 8192)}, node_hugepages={(0, 2048): (8192, 8192)}, vfio_groups=("16",)))


def nouveau(tree: Tree) -> None:
    """RTX 3090 driven by nouveau, its audio by snd_hda_intel; no VFIO configuration at all."""
    pci_devices(tree, desktop_3090("nouveau", "snd_hda_intel"))
    host_files(tree, intel_desktop(modules={"kvm": True, "kvm_intel": True, "nouveau": True, "snd_hda_intel": True}))


def nvidia(tree: Tree) -> None:
    """RTX 3090 on the proprietary driver (which blacklists nouveau), audio on snd_hda_intel."""
    pci_devices(tree, desktop_3090("nvidia", "snd_hda_intel"))
    host_files(tree, intel_desktop(
        modules={"kvm": True, "kvm_intel": True, "nvidia": True, "snd_hda_intel": True},
        modprobe={**DEBIAN_MODPROBE,
                  "/usr/lib/modprobe.d/nvidia-installer-disable-nouveau.conf":
                      "# generated by nvidia-installer\nblacklist nouveau\noptions nouveau modeset=0\n",
                  "/etc/modprobe.d/nvidia.conf": "options nvidia-drm modeset=1\n"}))


def audio_snd_hda(tree: Tree) -> None:
    """GPU on vfio-pci, but only its id is configured: the HDMI audio function stays on snd_hda_intel."""
    pci_devices(tree, desktop_3090("vfio-pci", "snd_hda_intel"))
    host_files(tree, intel_desktop(
        modules={**VFIO_LOADED, "snd_hda_intel": True}, vfio_groups=("1",),
        modprobe={**DEBIAN_MODPROBE, "/etc/modprobe.d/vfio.conf":
                  "options vfio-pci ids=10de:2204\nsoftdep nouveau pre: vfio-pci\n"}))


def firmware_off(tree: Tree) -> None:
    """VT-d off in the BIOS: no DMAR table, although intel_iommu=on is on the command line."""
    pci_devices(tree, desktop_3090("nouveau", "snd_hda_intel", group=None))
    host_files(tree, intel_desktop(acpi=("APIC", "DSDT", "FACP", "FPDT", "HPET", "MCFG", "SSDT1"), iommu_units=(),
                                   modules={"kvm": True, "kvm_intel": True, "nouveau": True}))


def kernel_off(tree: Tree) -> None:
    """DMAR present, CONFIG_INTEL_IOMMU_DEFAULT_ON not set, nothing on the command line: IOMMU off."""
    pci_devices(tree, desktop_3090("nouveau", "snd_hda_intel", group=None))
    host_files(tree, intel_desktop(
        iommu_units=(), modules={"kvm": True, "kvm_intel": True, "nouveau": True},
        cmdline="BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=5d3f0c1e-7a21-4f8e-9a53-0d2b8c7e4f11 ro quiet"))


def amd_iommu_off(tree: Tree) -> None:
    """IVRS present but amd_iommu=off on the command line (a leftover from a suspend workaround)."""
    devs = [replace(d, group=None) for d in _amd_devices_for_off()]
    pci_devices(tree, devs)
    host_files(tree, Host(
        cpu="amd", release="6.1.0-18-amd64", config=dict(AMD_CONFIG),
        cmdline="BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0b6f2a94-1c1e-4b7a-8f0e-2d4c9a7b3e55 ro quiet "
                "amd_iommu=off",
        acpi=("APIC", "CRAT", "DSDT", "FACP", "HPET", "IVRS", "MCFG", "SSDT1"), iommu_units=(),
        modules={"kvm": True, "kvm_amd": True, "amdgpu": True}, modprobe=dict(DEBIAN_MODPROBE),
        hugepages={2048: (0, 0)}))


def _amd_devices_for_off() -> list[Pci]:
    return [
        Pci("0000:00:00.0", 0x1022, 0x1630, 0x060000),
        Pci("0000:00:01.1", 0x1022, 0x1633, 0x060400, driver="pcieport", acs=True),
        Pci("0000:0b:00.0", 0x1002, 0x73BF, 0x030000, parent="0000:00:01.1", sv=0x1DA2, sd=0xE438, driver="amdgpu",
            module="amdgpu"),
        Pci("0000:0b:00.1", 0x1002, 0xAB28, 0x040300, parent="0000:00:01.1", sv=0x1002, sd=0xAB28,
            driver="snd_hda_intel", module="snd_hda_intel"),
    ]


def group_shared_nic(tree: Tree) -> None:
    """GPU in a chipset slot: its group also holds an I211 NIC (igb) behind the same PCH ports (no ACS);
    the GPU also lacks a reset method."""
    devs = [
        Pci("0000:00:00.0", 0x8086, 0x4668, 0x060000, group="0"),
        Pci("0000:00:02.0", 0x8086, 0x4680, 0x030000, driver="i915", module="i915", group="2", boot_vga=True),
        Pci("0000:00:1c.0", 0x8086, 0x7AB8, 0x060400, driver="pcieport", group="12", acs=None),
        Pci("0000:00:1c.4", 0x8086, 0x7ABC, 0x060400, driver="pcieport", group="12", acs=None),
        Pci("0000:03:00.0", 0x8086, 0x1539, 0x020000, parent="0000:00:1c.0", sv=0x1043, sd=0x85F0, driver="igb",
            module="igb", group="12"),
        Pci("0000:05:00.0", 0x10DE, 0x2204, 0x030000, parent="0000:00:1c.4", sv=0x10DE, sd=0x1454,
            driver="vfio-pci", module="vfio_pci", group="12", reset=False),
        Pci("0000:05:00.1", 0x10DE, 0x1AEF, 0x040300, parent="0000:00:1c.4", sv=0x10DE, sd=0x1454,
            driver="vfio-pci", module="vfio_pci", group="12", reset_method="flr"),
    ]
    pci_devices(tree, devs)
    host_files(tree, intel_desktop(modules={**VFIO_LOADED, "igb": True}, vfio_groups=("12",),
                                   modprobe={**DEBIAN_MODPROBE, "/etc/modprobe.d/vfio.conf": NVIDIA_VFIO_CONF}))


def runtime_only(tree: Tree) -> None:
    """Both functions bound to vfio-pci by hand (virsh nodedev-detach); nothing persists it.
    2M pages reserved but mostly in use."""
    pci_devices(tree, desktop_3090("vfio-pci", "vfio-pci"))
    host_files(tree, intel_desktop(modules=dict(VFIO_LOADED), vfio_groups=("1",),
                                   hugepages={2048: (4096, 1024)}, node_hugepages={(0, 2048): (4096, 1024)}))


def no_nouveau_order(tree: Tree) -> None:
    """ids configured (with a continuation line) but nothing orders vfio-pci before nouveau or
    snd_hda_intel: /etc/modprobe.d/blacklist-nouveau.conf (all comments) masks the /usr/lib file."""
    pci_devices(tree, desktop_3090("vfio-pci", "vfio-pci"))
    host_files(tree, intel_desktop(modules=dict(VFIO_LOADED), vfio_groups=("1",), modprobe={
        **DEBIAN_MODPROBE,
        "/usr/lib/modprobe.d/blacklist-nouveau.conf": "blacklist nouveau\n",
        "/etc/modprobe.d/blacklist-nouveau.conf": "# re-enabled nouveau for the host console\n#blacklist nouveau\n",
        "/etc/modprobe.d/vfio.conf": "options vfio-pci \\\n    ids=10de:2204,10de:1aef\n"}))


def builtin_vfio(tree: Tree) -> None:
    """vfio-pci built into the kernel: the modprobe.d ids are ignored, so the manual binding does not persist."""
    pci_devices(tree, desktop_3090("vfio-pci", "vfio-pci"))
    host_files(tree, intel_desktop(
        modules={"vfio": False, "vfio_pci": False, "vfio_iommu_type1": False, "kvm": True, "kvm_intel": True},
        config={**INTEL_CONFIG, "VFIO": "y", "VFIO_PCI": "y", "VFIO_IOMMU_TYPE1": "y"}, vfio_groups=("1",),
        modprobe={**DEBIAN_MODPROBE, "/etc/modprobe.d/vfio.conf": NVIDIA_VFIO_CONF}))


def boot_vga_only(tree: Tree) -> None:
    """The RTX 3090 is the only display adapter (no iGPU): it is the host's boot VGA."""
    pci_devices(tree, desktop_3090("vfio-pci", "vfio-pci", boot_vga=True, igpu=False))
    host_files(tree, intel_desktop(modules=dict(VFIO_LOADED), vfio_groups=("1",),
                                   modprobe={**DEBIAN_MODPROBE, "/etc/modprobe.d/vfio.conf": NVIDIA_VFIO_CONF}))


def bad_input(tree: Tree) -> None:
    """Garbage and broken links: a device whose vendor file is garbage, one whose class is garbage,
    a dangling /sys/bus/pci/devices link, a GPU whose group has no devices/ directory, and a GPU
    whose iommu_group link points to a group that does not exist."""
    devs = desktop_3090("vfio-pci", "vfio-pci") + [
        Pci("0000:00:1f.3", 0x8086, 0x7AD0, 0x040300, vendor_text="0xZZZZ\n", group="14"),
        Pci("0000:00:1f.4", 0x8086, 0x7AA3, 0x0C0500, class_text="serial\n", group="14"),
        Pci("0000:06:00.0", 0x10DE, 0x2204, 0x030000, parent="0000:00:1d.0", sv=0x10DE, sd=0x1454, driver="vfio-pci", module="vfio_pci",
            group="30"),
    ]
    pci_devices(tree, devs)
    host_files(tree, intel_desktop(modules=dict(VFIO_LOADED), vfio_groups=("1",),
                                   modprobe={**DEBIAN_MODPROBE, "/etc/modprobe.d/vfio.conf": NVIDIA_VFIO_CONF}))
    tree.link("/sys/bus/pci/devices/0000:07:00.0", "../../../devices/pci0000:00/0000:00:1c.6/0000:07:00.0")
    os.unlink(tree.p("/sys/kernel/iommu_groups/30/devices/0000:06:00.0"))
    os.rmdir(tree.p("/sys/kernel/iommu_groups/30/devices"))
    tree.link("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/iommu_group", "../../../../kernel/iommu_groups/99")


def twin_3090(tree: Tree) -> None:
    """Two identical RTX 3090s (10de:2204 + HDMI audio 10de:1aef) on a Ryzen desktop, each behind its own
    CPU root port with ACS (own IOMMU groups): the first slot's card is the host's display (boot VGA,
    nvidia driver), the second is the one to pass through, still on nvidia/snd_hda_intel. vfio-pci
    ids= would take both cards."""
    def card(addr: str, port: str, group: str, boot_vga: bool) -> list[Pci]:
        return [Pci(addr + ".0", 0x10DE, 0x2204, 0x030000, parent=port, sv=0x10DE, sd=0x1454, driver="nvidia",
                    module="nvidia", group=group, boot_vga=boot_vga),
                Pci(addr + ".1", 0x10DE, 0x1AEF, 0x040300, parent=port, sv=0x10DE, sd=0x1454, driver="snd_hda_intel",
                    module="snd_hda_intel", group=group, reset_method="flr")]
    devs = [
        Pci("0000:00:00.0", 0x1022, 0x1630, 0x060000, group="0"),
        Pci("0000:00:00.2", 0x1022, 0x1631, 0x080600, group="1"),
        Pci("0000:00:01.1", 0x1022, 0x1633, 0x060400, driver="pcieport", group="2", acs=True),
        Pci("0000:00:01.2", 0x1022, 0x1633, 0x060400, driver="pcieport", group="3", acs=True),
        *card("0000:0b:00", "0000:00:01.1", "14", True),
        *card("0000:0c:00", "0000:00:01.2", "15", False),
        Pci("0000:00:02.1", 0x1022, 0x1634, 0x060400, driver="pcieport", group="4", acs=True),
        Pci("0000:05:00.0", 0x10EC, 0x8168, 0x020000, parent="0000:00:02.1", sv=0x1043, sd=0x8677, driver="r8169",
            module="r8169", group="12"),
    ]
    pci_devices(tree, devs)
    host_files(tree, Host(
        cpu="amd", release="6.1.0-18-amd64", config=dict(AMD_CONFIG),
        cmdline="BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0b6f2a94-1c1e-4b7a-8f0e-2d4c9a7b3e55 ro quiet iommu=pt",
        acpi=("APIC", "BGRT", "CRAT", "DSDT", "FACP", "FPDT", "HPET", "IVRS", "MCFG", "SSDT1", "SSDT2"),
        iommu_units=("ivhd0",), modules={"kvm": True, "kvm_amd": True, "nvidia": True, "snd_hda_intel": True,
                                         "r8169": True},
        modprobe={**DEBIAN_MODPROBE,
                  "/usr/lib/modprobe.d/nvidia-installer-disable-nouveau.conf":
                      "# generated by nvidia-installer\nblacklist nouveau\noptions nouveau modeset=0\n"},
        hugepages={2048: (0, 0)}))


SCENARIOS = {
    "gpu-intel-a100": intel_a100,
    "gpu-amd-rx6800": amd_rx6800,
    "gpu-nouveau": nouveau,
    "gpu-nvidia": nvidia,
    "gpu-audio-snd-hda": audio_snd_hda,
    "gpu-iommu-firmware-off": firmware_off,
    "gpu-iommu-kernel-off": kernel_off,
    "gpu-amd-iommu-off": amd_iommu_off,
    "gpu-group-shared-nic": group_shared_nic,
    "gpu-runtime-only": runtime_only,
    "gpu-no-nouveau-order": no_nouveau_order,
    "gpu-builtin-vfio": builtin_vfio,
    "gpu-boot-vga-only": boot_vga_only,
    "gpu-bad-input": bad_input,
    "gpu-twin-3090": twin_3090,
}


def build_all(out_dir: str = HERE) -> list[str]:
    built = []
    for name, builder in SCENARIOS.items():
        tree = Tree(os.path.join(out_dir, name))
        builder(tree)
        tree.finish()
        built.append(tree.root)
    return built


if __name__ == "__main__":
    for path in build_all(sys.argv[1] if len(sys.argv) > 1 else HERE):
        print(path)
