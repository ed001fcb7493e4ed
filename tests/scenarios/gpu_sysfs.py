"""Primitives that lay out a hand-made snapshot the way the kernel lays out sysfs/procfs.

Used by build_gpu_scenarios.py. Every sysfs link is relative, exactly as the kernel makes it:
  /sys/bus/pci/devices/ADDR            -> ../../../devices/pci0000:00/.../ADDR
  /sys/devices/.../ADDR/driver         -> ../../../../bus/pci/drivers/NAME  (one '..' per level below /sys)
  /sys/devices/.../ADDR/iommu_group    -> ../../../../kernel/iommu_groups/N
  /sys/devices/.../ADDR/subsystem      -> ../../../../bus/pci
  /sys/bus/pci/drivers/NAME/ADDR       -> ../../../../devices/pci0000:00/.../ADDR
  /sys/bus/pci/drivers/NAME/module     -> ../../../../module/NAME
  /sys/kernel/iommu_groups/N/devices/ADDR -> ../../../../devices/pci0000:00/.../ADDR
  /sys/class/iommu/dmar0               -> ../../devices/virtual/iommu/dmar0
Empty directories (git cannot hold them) are listed in .autoglm-doctor/dirs.json; device nodes
(/dev/vfio/N) in .autoglm-doctor/stat.json, as the snapshot format allows.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass, field


@dataclass
class Pci:
    address: str
    vendor: int
    device: int
    klass: int
    parent: str | None = None  # upstream bridge address, None: on the root bus
    sv: int = 0
    sd: int = 0
    driver: str | None = None
    module: str | None = None  # module behind the driver (None: built in)
    group: str | None = None
    numa: int = -1
    reset: bool = True
    boot_vga: bool = False  # VGA-class devices only (0x0300xx): the firmware's primary display
    reset_method: str | None = "flr bus"
    override: str | None = None
    acs: bool | None = None  # bridges: ACS capability enabled (True), present but off (False), none (None)
    vendor_text: str | None = None  # garbage injection: raw text of the vendor file
    class_text: str | None = None
    resource: str | None = None  # sysfs resource file (BARs as "start end flags" lines); None: not written

    @property
    def root_bus(self) -> str:
        return self.address[:7]


class Tree:
    def __init__(self, root: str) -> None:
        if os.path.exists(root):
            shutil.rmtree(root)
        os.makedirs(root)
        self.root = root
        self.stats: dict[str, dict] = {}
        self.empty: set[str] = set()

    def p(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def file(self, path: str, content: str | bytes = "") -> None:
        host = self.p(path)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(host, mode) as fh:
            fh.write(content)

    def link(self, path: str, text: str) -> None:
        host = self.p(path)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        if os.path.lexists(host):
            os.unlink(host)
        os.symlink(text, host)

    def dir(self, path: str) -> None:
        os.makedirs(self.p(path), exist_ok=True)

    def chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self.dir(os.path.dirname(path))
        self.stats[f"{path}|follow"] = {"mode": stat.S_IFCHR | mode, "uid": 0, "gid": 0, "size": 0,
                                        "rdev": [major, minor]}

    def finish(self) -> None:
        side = self.p("/.autoglm-doctor")
        os.makedirs(side, exist_ok=True)
        with open(os.path.join(side, "manifest.json"), "w") as fh:
            json.dump({"format": "autoglm-doctor-snapshot", "version": 1, "kind": "handmade",
                       "source": os.path.basename(self.root)}, fh, indent=1)
            fh.write("\n")
        dirs = {}
        for here, subdirs, files in os.walk(self.root):
            rel = os.path.relpath(here, self.root).replace(os.sep, "/")
            if rel.split("/")[0] == ".autoglm-doctor":
                continue
            if not subdirs and not files:
                dirs["/" + rel] = []
        with open(os.path.join(side, "dirs.json"), "w") as fh:
            json.dump(dict(sorted(dirs.items())), fh, indent=1, sort_keys=True)
            fh.write("\n")
        if self.stats:
            with open(os.path.join(side, "stat.json"), "w") as fh:
                json.dump(self.stats, fh, indent=1, sort_keys=True)
                fh.write("\n")


def _config_space(dev: Pci) -> bytes:
    """4 KiB of PCIe config space: ids, class, and for bridges an ACS extended capability."""
    data = bytearray(4096)
    data[0:2] = dev.vendor.to_bytes(2, "little")
    data[2:4] = dev.device.to_bytes(2, "little")
    data[9:12] = dev.klass.to_bytes(3, "little")
    data[0x0E] = 0x01  # header type 1: bridge
    if dev.acs is not None:
        # AER at 0x100 -> ACS at 0x148 (cap id 0x000d, version 1, next 0)
        data[0x100:0x104] = (0x0001 | (1 << 16) | (0x148 << 20)).to_bytes(4, "little")
        data[0x148:0x14C] = (0x000D | (1 << 16)).to_bytes(4, "little")
        data[0x14C:0x14E] = (0x001F).to_bytes(2, "little")  # capable: SV TB RR CR UF
        data[0x14E:0x150] = (0x001D if dev.acs else 0).to_bytes(2, "little")  # enabled: SV RR CR UF
    else:
        data[0x100:0x104] = (0x0001 | (1 << 16)).to_bytes(4, "little")  # AER only
    return bytes(data)


def pci_devices(tree: Tree, devices: list[Pci]) -> None:
    by_addr = {d.address: d for d in devices}

    def devpath(dev: Pci) -> str:
        chain, cur = [], dev
        while cur is not None:
            chain.append(cur.address)
            cur = by_addr.get(cur.parent) if cur.parent else None
        root = f"pci{dev.root_bus[:4]}:{chain[-1][5:7]}"
        return "/sys/devices/" + "/".join([root] + list(reversed(chain)))

    tree.dir("/sys/bus/pci/drivers")
    for dev in devices:
        path = devpath(dev)
        up = "../" * (path.count("/") - 1)  # from inside the device directory back to /sys
        tree.link(f"/sys/bus/pci/devices/{dev.address}", "../../.." + path[4:])
        tree.file(f"{path}/vendor", dev.vendor_text if dev.vendor_text is not None else f"0x{dev.vendor:04x}\n")
        tree.file(f"{path}/device", f"0x{dev.device:04x}\n")
        tree.file(f"{path}/class", dev.class_text if dev.class_text is not None else f"0x{dev.klass:06x}\n")
        tree.file(f"{path}/subsystem_vendor", f"0x{dev.sv:04x}\n")
        tree.file(f"{path}/subsystem_device", f"0x{dev.sd:04x}\n")
        tree.file(f"{path}/numa_node", f"{dev.numa}\n")
        tree.file(f"{path}/driver_override", f"{dev.override or '(null)'}\n")
        tree.file(f"{path}/modalias", f"pci:v{dev.vendor:08X}d{dev.device:08X}sv{dev.sv:08X}sd{dev.sd:08X}"
                                      f"bc{dev.klass >> 16:02X}sc{(dev.klass >> 8) & 0xFF:02X}i{dev.klass & 0xFF:02X}\n")
        tree.link(f"{path}/subsystem", up + "bus/pci")
        if dev.klass >> 8 == 0x0300:
            tree.file(f"{path}/boot_vga", "1\n" if dev.boot_vga else "0\n")
        if dev.reset:
            tree.file(f"{path}/reset", "")
            if dev.reset_method:
                tree.file(f"{path}/reset_method", dev.reset_method + "\n")
        if dev.klass >> 8 in (0x0604, 0x0609):
            tree.file(f"{path}/config", _config_space(dev))
        if dev.resource is not None:
            tree.file(f"{path}/resource", dev.resource)
        if dev.driver:
            tree.link(f"{path}/driver", up + f"bus/pci/drivers/{dev.driver}")
            tree.link(f"/sys/bus/pci/drivers/{dev.driver}/{dev.address}", "../../../.." + path[4:])
            if dev.module:
                tree.link(f"/sys/bus/pci/drivers/{dev.driver}/module", f"../../../../module/{dev.module}")
        if dev.group is not None:
            tree.link(f"{path}/iommu_group", up + f"kernel/iommu_groups/{dev.group}")
            tree.link(f"/sys/kernel/iommu_groups/{dev.group}/devices/{dev.address}", "../../../.." + path[4:])
            tree.file(f"/sys/kernel/iommu_groups/{dev.group}/type", "DMA-FQ\n")


@dataclass
class Host:
    """Everything outside the PCI tree."""
    cpu: str = "intel"  # intel | amd
    release: str = "5.15.0-91-generic"
    cmdline: str = ""
    config: dict[str, str] = field(default_factory=dict)  # CONFIG_X -> y/m/n
    acpi: tuple[str, ...] = ("APIC", "DSDT", "FACP", "HPET", "MCFG", "SSDT1")
    iommu_units: tuple[str, ...] = ()
    ir: bool = True
    groups_dir: bool = True
    modules: dict[str, bool] = field(default_factory=dict)  # name -> loadable (True) / built in (False)
    modprobe: dict[str, str] = field(default_factory=dict)  # path -> content
    nodes: int = 1
    hugepages: dict[int, tuple[int, int]] = field(default_factory=dict)  # size kB -> (nr, free) on the host
    node_hugepages: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # (node, kB) -> (nr, free)
    thp: str = "always [madvise] never"
    vfio_groups: tuple[str, ...] = ()
    usrmerge: bool = True


# An excerpt of pci.ids (the PCI ID Repository, as shipped in /usr/share/misc/pci.ids), in its format:
# vendor lines, TAB device lines, TAB TAB subsystem lines. Only the scenario devices.
PCI_IDS = """\
# List of PCI ID's (excerpt for the autoglm-doctor GPU scenarios)
1002  Advanced Micro Devices, Inc. [AMD/ATI]
\t1478  Navi 10 XL Upstream Port of PCI Express Switch
\t1479  Navi 10 XL Downstream Port of PCI Express Switch
\t1637  Renoir Radeon High Definition Audio Controller
\t1638  Cezanne [Radeon Vega Series / Radeon Vega Mobile Series]
\t73bf  Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]
\tab28  Navi 21/23 HDMI/DP Audio Controller
1022  Advanced Micro Devices, Inc. [AMD]
\t1630  Renoir/Cezanne Root Complex
\t1631  Renoir/Cezanne IOMMU
\t1633  Renoir PCIe GPP Bridge
\t1634  Renoir/Cezanne PCIe GPP Bridge
\t1635  Renoir Internal PCIe GPP Bridge to Bus
10de  NVIDIA Corporation
\t1aef  GA102 High Definition Audio Controller
\t20f1  GA100 [A100 PCIe 40GB]
\t2204  GA102 [GeForce RTX 3090]
10ec  Realtek Semiconductor Co., Ltd.
\t8168  RTL8111/8168/8411 PCI Express Gigabit Ethernet Controller
\t\t1043 8677  PRIME B450M-A Motherboard
144d  Samsung Electronics Co Ltd
\ta80a  NVMe SSD Controller PM9A1/PM9A3/980PRO
15b3  Mellanox Technologies
\t101b  MT28908 Family [ConnectX-6]
1a03  ASPEED Technology, Inc.
\t1150  AST1150 PCI-to-PCI Bridge
\t2000  ASPEED Graphics Family
8086  Intel Corporation
\t09a2  Ice Lake Memory Map/VT-d
\t1539  I211 Gigabit Network Connection
\t4668  12th Gen Core Processor Host Bridge/DRAM Registers
\t460d  12th Gen Core Processor PCI Express x16 Controller #1
\t4680  AlderLake-S GT1
\t7aa3  Alder Lake-S PCH SMBus Controller
\t7ab0  Alder Lake-S PCH PCI Express Root Port #9
\t7ab8  Alder Lake-S PCH PCI Express Root Port #1
\t7abc  Alder Lake-S PCH PCI Express Root Port #5
\t7ad0  Alder Lake-S HD Audio Controller
\t7ae0  Alder Lake-S PCH USB 3.2 Gen 2x2 XHCI Controller
\ta190  C620 Series Chipset Family PCI Express Root Port #1

# List of known device classes, subclasses and programming interfaces
C 00  Unclassified device
"""
BUILTIN_PARAM = {"vfio_pci": "ids", "vfio": "enable_unsafe_noiommu_mode", "vfio_iommu_type1": "allow_unsafe_interrupts"}
CPU = {
    "intel": ("GenuineIntel", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "vmx pdpe1gb x2apic"),
    "amd": ("AuthenticAMD", "AMD Ryzen 7 5700G with Radeon Graphics", "svm pdpe1gb x2apic"),
}


def host_files(tree: Tree, host: Host) -> None:
    vendor, model, extra = CPU[host.cpu]
    flags = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 " + extra
    tree.file("/proc/cpuinfo", "".join(
        f"processor\t: {i}\nvendor_id\t: {vendor}\nmodel name\t: {model}\nflags\t\t: {flags}\n\n" for i in range(4)))
    tree.file("/sys/devices/system/cpu/online", "0-3\n")
    tree.file("/proc/sys/kernel/osrelease", host.release + "\n")
    tree.file("/usr/share/misc/pci.ids", PCI_IDS)
    tree.file("/proc/cmdline", host.cmdline + "\n")
    lines = [f"CONFIG_{k}={v}" if v != "n" else f"# CONFIG_{k} is not set" for k, v in host.config.items()]
    tree.file(f"/boot/config-{host.release}", "#\n# Linux/x86 kernel configuration\n#\n" + "\n".join(lines) + "\n")
    for table in host.acpi:
        tree.file(f"/sys/firmware/acpi/tables/{table}", table[:4].encode() + bytes(32))
    tree.dir("/sys/firmware/acpi/tables/dynamic")
    tree.dir("/sys/class/iommu")
    for unit in host.iommu_units:
        if unit.startswith("dmar"):
            tree.link(f"/sys/class/iommu/{unit}", f"../../devices/virtual/iommu/{unit}")
            d = f"/sys/devices/virtual/iommu/{unit}/intel-iommu"
            tree.file(f"{d}/version", "1:0\n")
            tree.file(f"{d}/cap", "d2008c40660462\n")
            tree.file(f"{d}/ecap", "f050da\n" if host.ir else "f050d2\n")
        else:  # AMD: the IOMMU is PCI function 00:00.2
            tree.link(f"/sys/class/iommu/{unit}", f"../../devices/pci0000:00/0000:00:00.2/iommu/{unit}")
            tree.file(f"/sys/devices/pci0000:00/0000:00:00.2/iommu/{unit}/amd-iommu/cap", "0x00190003\n")
    if host.groups_dir:
        tree.dir("/sys/kernel/iommu_groups")
    tree.dir("/sys/module")
    for name, loadable in host.modules.items():
        if loadable:
            tree.file(f"/sys/module/{name}/initstate", "live\n")
            tree.file(f"/sys/module/{name}/refcnt", "0\n")
        else:  # built in: no initstate, only parameters
            tree.file(f"/sys/module/{name}/parameters/{BUILTIN_PARAM.get(name, 'debug')}", "\n")
    for d in ("/etc/modprobe.d", "/run/modprobe.d", "/usr/lib/modprobe.d"):
        tree.dir(d)
    if host.usrmerge:
        tree.link("/lib", "usr/lib")
    for path, text in host.modprobe.items():
        tree.file(path, text)
    tree.dir("/sys/devices/system/node")
    for n in range(host.nodes):
        tree.file(f"/sys/devices/system/node/node{n}/cpulist", "0-3\n" if host.nodes == 1 else f"{n * 2}-{n * 2 + 1}\n")
        for size in (2048, 1048576):
            nr, free = host.node_hugepages.get((n, size), (0, 0))
            d = f"/sys/devices/system/node/node{n}/hugepages/hugepages-{size}kB"
            tree.file(f"{d}/nr_hugepages", f"{nr}\n")
            tree.file(f"{d}/free_hugepages", f"{free}\n")
            tree.file(f"{d}/surplus_hugepages", "0\n")
    for size in (2048, 1048576):
        nr, free = host.hugepages.get(size, (0, 0))
        d = f"/sys/kernel/mm/hugepages/hugepages-{size}kB"
        tree.file(f"{d}/nr_hugepages", f"{nr}\n")
        tree.file(f"{d}/free_hugepages", f"{free}\n")
        tree.file(f"{d}/resv_hugepages", "0\n")
        tree.file(f"{d}/surplus_hugepages", "0\n")
    tree.file("/sys/kernel/mm/transparent_hugepage/enabled", host.thp + "\n")
    if host.vfio_groups:
        tree.chardev("/dev/vfio/vfio", 10, 196, 0o666)
        for i, group in enumerate(host.vfio_groups):
            tree.chardev(f"/dev/vfio/{group}", 243, i)
