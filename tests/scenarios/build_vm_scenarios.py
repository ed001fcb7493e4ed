#!/usr/bin/env python3
"""Builds the tests/scenarios/vm-* snapshot trees (committed; rerun after editing this file):

    .venv/bin/python tests/scenarios/build_vm_scenarios.py

vm-gpu-host is what this CI machine cannot show: a 2-socket Xeon host with an A100 PCIe 40GB on vfio-pci
(node 1; BAR1 64 GiB and BAR3 32 MiB, both 64-bit prefetchable, as its sysfs resource file reads) and an
RTX 3090 with its HD audio function (BAR1 256 MiB), 1 GiB hugepages reserved, a host bridge br0 — and
libvirt domains (api.json, as the recorder captures them) with a QEMU log for the one whose start failed:
  vmdomain-good     q35, OVMF, host-passthrough, pinned to node 1, hugepages, X-PciMmio64Mb=262144, virtio
  vmdomain-defects  i440fx, SeaBIOS, an emulated CPU, KVM hidden, the 3090 without its audio function and
                    unmanaged, a hostdev at an address the host does not have, no agent channel, SATA writeback disk, a NAT network and a missing bridge;
                    its last start failed with "group 65 is not viable"
  vmdomain-bars     the A100 behind OVMF's default 32 GiB window, Secure Boot on, more hugepages than reserved
  vmdomain-broken   XML that does not parse
  vmdomain-crashed, vmdomain-paused, vmdomain-nogpu (no hostdev: reviewed only when profile.vm_domains names them)
vm-libvirt-denied: the connection is refused for permissions.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_gpu_scenarios import DEBIAN_MODPROBE, INTEL_CONFIG, VFIO_LOADED  # noqa: E402
from gpu_sysfs import Host, Pci, Tree, host_files, pci_devices  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EMPTY = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"


def resource(*bars: tuple[int, int, int] | None) -> str:
    """A sysfs resource file: BARs 0-5 then the ROM, each 'start end flags' (None: unused BAR)."""
    lines = [EMPTY if b is None else f"0x{b[0]:016x} 0x{b[0] + b[1] - 1:016x} 0x{b[2]:016x}\n" for b in bars]
    return "".join(lines + [EMPTY] * (13 - len(lines)))


MEM32 = 0x00040200  # IORESOURCE_MEM | SIZEALIGN
MEM64_PREF = 0x0014220C  # IORESOURCE_MEM | PREFETCH | MEM_64 | SIZEALIGN | ...
IO = 0x00040101
A100 = resource((0x9C000000, 16 << 20, MEM32), (0x24000000000, 64 << 30, MEM64_PREF), None,
                (0x25000000000, 32 << 20, MEM64_PREF), None, None)
RTX3090 = resource((0xF6000000, 16 << 20, MEM32), (0xE0000000, 256 << 20, MEM64_PREF), None,
                   (0xF0000000, 32 << 20, MEM64_PREF), None, (0xE000, 128, IO))
AUDIO = resource((0xF7080000, 16 << 10, MEM32))

QEMU = "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"


def hostdev(bus: int, fn: int, managed: str = "yes") -> str:
    return (f"<hostdev mode='subsystem' type='pci' managed='{managed}'><source><address domain='0x0000' "
            f"bus='0x{bus:02x}' slot='0x00' function='0x{fn}'/></source></hostdev>")


GOOD = f"""<domain type='kvm' {QEMU}>
  <name>vmdomain-good</name><uuid>6c1f0d6e-2f55-4b0e-9f5e-0a7d3c1b2a01</uuid>
  <memory unit='GiB'>64</memory><vcpu placement='static'>16</vcpu>
  <memoryBacking><hugepages><page size='1' unit='G'/></hugepages></memoryBacking>
  <cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/></cputune>
  <numatune><memory mode='strict' nodeset='1'/></numatune>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram>/var/lib/libvirt/qemu/nvram/vmdomain-good_VARS.fd</nvram></os>
  <features><acpi/><apic/></features>
  <cpu mode='host-passthrough' check='none' migratable='off'/>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none' io='native'/>
      <source file='/var/lib/libvirt/images/vmdomain-good.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <controller type='pci' index='0' model='pcie-root'/>
    <interface type='bridge'><mac address='52:54:00:aa:00:01'/><source bridge='br0'/><model type='virtio'/></interface>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    {hostdev(0x17, 0)}
  </devices>
  <qemu:commandline><qemu:arg value='-fw_cfg'/><qemu:arg value='opt/ovmf/X-PciMmio64Mb,string=262144'/></qemu:commandline>
</domain>"""

DEFECTS = """<domain type='kvm'>
  <name>vmdomain-defects</name><uuid>6c1f0d6e-2f55-4b0e-9f5e-0a7d3c1b2a02</uuid>
  <memory unit='KiB'>8388608</memory><vcpu>4</vcpu>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><kvm><hidden state='on'/></kvm></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>Skylake-Client</model></cpu>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='writeback'/>
      <source file='/var/lib/libvirt/images/vmdomain-defects.qcow2'/><target dev='sda' bus='sata'/></disk>
    <disk type='file' device='cdrom'><target dev='sdb' bus='sata'/></disk>
    <interface type='network'><mac address='52:54:00:bb:00:01'/><source network='default'/></interface>
    <interface type='bridge'><mac address='52:54:00:bb:00:02'/><source bridge='br-missing'/></interface>
    HOSTDEV
  </devices>
</domain>""".replace("HOSTDEV", hostdev(0x65, 0, "no") + hostdev(0xB3, 0))

BARS = f"""<domain type='kvm'>
  <name>vmdomain-bars</name><uuid>6c1f0d6e-2f55-4b0e-9f5e-0a7d3c1b2a03</uuid>
  <memory unit='GiB'>96</memory><vcpu>16</vcpu>
  <memoryBacking><hugepages/></memoryBacking>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</loader></os>
  <features><acpi/><smm state='on'/></features>
  <cpu mode='host-model'/>
  <devices>
    <interface type='bridge'><mac address='52:54:00:cc:00:01'/><source bridge='br0'/></interface>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    {hostdev(0x17, 0)}
  </devices>
</domain>"""

DEFAULT_NET = ("<network><name>default</name><forward mode='nat'/><bridge name='virbr0' stp='on'/>"
               "<ip address='192.168.122.1' netmask='255.255.255.0'/></network>")

QEMU_LOG = """2026-11-29 09:12:01.113+0000: starting up libvirt version: 9.0.0, package: 9.0.0-4 (Debian), qemu version: 7.2.0
LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/var/lib/libvirt/qemu/domain-1-vmdomain-defects /usr/bin/qemu-system-x86_64 -name guest=vmdomain-defects -machine pc-i440fx-7.2,usb=off -device vfio-pci,host=0000:65:00.0,id=hostdev0,bus=pci.0,addr=0x6
2026-11-29T09:12:01.402133Z qemu-system-x86_64: -device vfio-pci,host=0000:65:00.0,id=hostdev0,bus=pci.0,addr=0x6: vfio 0000:65:00.0: group 65 is not viable
Please ensure all devices within the iommu_group are bound to their vfio bus driver.
2026-11-29 09:12:01.512+0000: shutting down, reason=failed
"""


CRASH_LOG = """2026-11-30 08:00:00.000+0000: starting up libvirt version: 9.0.0, package: 9.0.0-4 (Debian), qemu version: 7.2.0
LC_ALL=C /usr/bin/qemu-system-x86_64 -name guest=vmdomain-crashed -device vfio-pci,host=0000:17:00.0,id=hostdev0
2026-11-30T08:03:12.551201Z qemu-system-x86_64: vfio_region_write(0000:17:00.0:region1+0x0): Failed to mmap 0000:17:00.0 BAR 1. Performance may be slow
"""
PLAIN = "<domain type='kvm'><name>{}</name><devices/></domain>"


def domain(name: str, xml: str, state: int, reason: int, *, active: bool = False, autostart: bool = False) -> dict:
    return {"name": name, "uuid": "", "active": active, "state": state, "reason": reason, "persistent": True,
            "autostart": autostart, "xml": xml}


def bridge(tree: Tree, name: str) -> None:
    dev = f"/sys/devices/virtual/net/{name}"
    tree.link(f"/sys/class/net/{name}", f"../../devices/virtual/net/{name}")
    for attr, text in (("uevent", f"DEVTYPE=bridge\nINTERFACE={name}\nIFINDEX=5\n"), ("operstate", "up\n"),
                       ("flags", "0x1003\n"), ("carrier", "1\n"), ("mtu", "1500\n"), ("bridge/stp_state", "0\n"),
                       ("bridge/forward_delay", "1500\n")):
        tree.file(f"{dev}/{attr}", text)
    tree.dir(f"{dev}/brif")


def gpu_host(tree: Tree) -> None:
    devs = [
        Pci("0000:00:00.0", 0x8086, 0x09A2, 0x060000, group="0", numa=0),
        Pci("0000:16:02.0", 0x8086, 0x347A, 0x060400, driver="pcieport", group="40", numa=1, acs=True),
        Pci("0000:17:00.0", 0x10DE, 0x20F1, 0x030200, parent="0000:16:02.0", sv=0x10DE, sd=0x145F, driver="vfio-pci",
            module="vfio_pci", group="41", numa=1, resource=A100),
        Pci("0000:64:02.0", 0x8086, 0x347A, 0x060400, driver="pcieport", group="64", numa=0, acs=True),
        Pci("0000:65:00.0", 0x10DE, 0x2204, 0x030000, parent="0000:64:02.0", sv=0x10DE, sd=0x1454, driver="vfio-pci",
            module="vfio_pci", group="65", numa=0, resource=RTX3090),
        Pci("0000:65:00.1", 0x10DE, 0x1AEF, 0x040300, parent="0000:64:02.0", sv=0x10DE, sd=0x1454,
            driver="snd_hda_intel", module="snd_hda_intel", group="65", numa=0, reset_method="flr", resource=AUDIO),
    ]
    pci_devices(tree, devs)
    host_files(tree, Host(
        cpu="intel", release="6.1.0-18-amd64", config=dict(INTEL_CONFIG),
        cmdline="BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=/dev/mapper/vg-root ro intel_iommu=on iommu=pt "
                "default_hugepagesz=1G hugepagesz=1G hugepages=1:80",
        acpi=("APIC", "DMAR", "DSDT", "FACP", "MCFG", "SLIT", "SRAT"), iommu_units=("dmar0", "dmar1"),
        modules={**VFIO_LOADED, "snd_hda_intel": True}, modprobe=dict(DEBIAN_MODPROBE), nodes=2,
        hugepages={2048: (0, 0), 1048576: (80, 80)}, node_hugepages={(1, 1048576): (80, 80)},
        vfio_groups=("41", "65"), usrmerge=False))
    tree.file("/proc/meminfo", "MemTotal:       527958016 kB\nMemFree:        401234567 kB\n"
                               "Hugepagesize:    1048576 kB\n")
    bridge(tree, "br0")
    tree.file("/var/log/libvirt/qemu/vmdomain-defects.log", QEMU_LOG)
    tree.file("/var/log/libvirt/qemu/vmdomain-crashed.log", CRASH_LOG)
    tree.dir("/var/log/libvirt/qemu")


def write_api(tree: Tree, api: dict) -> None:
    side = tree.p("/.autoglm-doctor")
    os.makedirs(side, exist_ok=True)
    with open(os.path.join(side, "api.json"), "w") as fh:
        json.dump(api, fh, indent=1, sort_keys=True)
        fh.write("\n")


def build(out: str = HERE) -> None:
    tree = Tree(os.path.join(out, "vm-gpu-host"))
    gpu_host(tree)
    tree.finish()
    write_api(tree, {
        "libvirt.domains([])": {"result": [
            domain("vmdomain-bars", BARS, 5, 1),
            domain("vmdomain-broken", "<domain type='kvm'><name>vmdomain-broken</name><devices><hostdev>", 5, 1),
            domain("vmdomain-crashed", PLAIN.format("vmdomain-crashed"), 6, 1, active=True),
            domain("vmdomain-defects", DEFECTS, 5, 6),
            domain("vmdomain-good", GOOD, 1, 1, active=True, autostart=True),
            domain("vmdomain-paused", PLAIN.format("vmdomain-paused"), 3, 2, active=True),
            domain("vmdomain-nogpu", "<domain type='kvm'><name>vmdomain-nogpu</name><features><kvm><hidden state='on'/></kvm></features>"
                   "<devices/></domain>", 5, 1),
        ]},
        "libvirt.networks([])": {"result": [{"name": "default", "active": True, "xml": DEFAULT_NET}]},
    })
    tree = Tree(os.path.join(out, "vm-libvirt-denied"))
    tree.finish()
    write_api(tree, {"libvirt.connect([])": {"error": {
        "type": "AdapterUnavailable", "reason": "denied",
        "message": "permission denied connecting to libvirt at qemu:///system: Failed to connect socket to "
                   "'/var/run/libvirt/libvirt-sock': Permission denied",
        "hint": "run as root, or as a member of the libvirt group (polkit/unix_sock_group)"}}})


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else HERE)
