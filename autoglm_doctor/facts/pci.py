"""PCI inventory: every PCI function with ids, class, driver, IOMMU group, NUMA node, boot VGA,
reset capability and human-readable names.

Two ways to enumerate, one result:
- on the live host, through the udev adapter (pyudev): ids, class, driver and the udev hwdb names
  (ID_VENDOR_FROM_DATABASE / ID_MODEL_FROM_DATABASE, or a direct hwdb lookup of the modalias when
  the udev database is not populated);
- on any other target (snapshot, guest), from sysfs through the Target, names from pci.ids.
Attributes udev does not carry (iommu_group, numa_node, boot_vga, reset, driver_override) are read
from sysfs through the Target in both cases.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target

PCI_DEVICES = "/sys/bus/pci/devices"
PCI_IDS_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")
ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_SHORT_ADDRESS = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
_HEX4 = re.compile(r"^0x[0-9a-fA-F]{4}$")
_HEX6 = re.compile(r"^0x[0-9a-fA-F]{6}$")

NVIDIA, AMD_ATI = 0x10DE, 0x1002
GPU_VENDORS = {NVIDIA: "NVIDIA", AMD_ATI: "AMD"}
# 0x0300 VGA, 0x0302 3D controller (A100/H100 compute GPUs), 0x0380 other display controller
# (AMD Instinct MI100/MI200/MI300 report this class).
GPU_CLASSES = (0x0300, 0x0302, 0x0380)
BRIDGE_CLASSES = (0x0604, 0x0609)  # PCI-to-PCI bridge, semi-transparent PCI-to-PCI bridge
CLASS_NAMES = {
    0x0300: "VGA controller", 0x0302: "3D controller", 0x0380: "display controller", 0x0403: "HD audio",
    0x0c03: "USB controller", 0x0c80: "serial bus controller", 0x0200: "Ethernet controller",
    0x0207: "InfiniBand controller", 0x0280: "network controller", 0x0108: "NVMe controller",
    0x0106: "SATA controller", 0x0104: "RAID controller", 0x0600: "host bridge", 0x0601: "ISA bridge",
    0x0604: "PCI bridge", 0x0c05: "SMBus controller",
}


def normalise_address(value: str) -> str:
    """'01:00.0' or '0000:01:00.0' (any case) -> '0000:01:00.0'; ValueError otherwise."""
    m = _SHORT_ADDRESS.match(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a PCI address like 0000:01:00.0")
    domain, bus, dev, fn = m.groups()
    return f"{(domain or '0000').lower()}:{bus.lower()}:{dev.lower()}.{fn}"


def _validate_gpus(value: Any) -> list[str]:
    if not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of PCI addresses (strings such as \"0000:01:00.0\")")
    out = [normalise_address(v) for v in value]
    if len(set(out)) != len(out):
        raise ValueError("lists the same address twice")
    return out


@dataclass(frozen=True)
class PciDevice:
    address: str
    vendor: int
    device: int
    class_code: int  # 24-bit: base class, subclass, programming interface
    subsystem_vendor: int = 0
    subsystem_device: int = 0
    driver: str | None = None
    driver_override: str | None = None
    iommu_group: str | None = None
    numa_node: int = -1
    boot_vga: bool | None = None  # None: no boot_vga attribute (not a VGA-class device)
    has_reset: bool = False
    reset_methods: tuple[str, ...] = ()
    devpath: str = ""  # /sys/devices/pci0000:00/.../ADDRESS
    vendor_name: str | None = None
    device_name: str | None = None

    @property
    def ids(self) -> str:
        return f"{self.vendor:04x}:{self.device:04x}"

    @property
    def base_class(self) -> int:
        return self.class_code >> 8

    @property
    def slot(self) -> str:
        """domain:bus:device — every function of one physical card shares it."""
        return self.address.rsplit(".", 1)[0]

    @property
    def is_bridge(self) -> bool:
        return self.base_class in BRIDGE_CLASSES

    @property
    def is_gpu(self) -> bool:
        return self.vendor in GPU_VENDORS and self.base_class in GPU_CLASSES

    @property
    def upstream(self) -> str | None:
        parent = posixpath.basename(posixpath.dirname(self.devpath))
        return parent if ADDRESS.match(parent) else None

    @property
    def kind(self) -> str:
        return CLASS_NAMES.get(self.base_class, f"class {self.class_code:06x}")

    def describe(self) -> str:
        name = " ".join(p for p in (self.vendor_name, self.device_name) if p)
        kind = f"{self.kind}, " if name else ""
        return f"{self.address} [{self.ids}] {name or self.kind} ({kind}driver {self.driver or 'none'})"


@dataclass(frozen=True)
class PciInventory:
    devices: dict[str, PciDevice]
    broken: dict[str, str] = field(default_factory=dict)  # address -> why it could not be read
    source: str = "sysfs"  # "udev" or "sysfs"
    names_source: str | None = None  # "udev hwdb", "pci.ids path" or None

    def get(self, address: str) -> PciDevice | None:
        return self.devices.get(address)

    def same_card(self, dev: PciDevice) -> list[PciDevice]:
        return [d for d in self.devices.values() if d.slot == dev.slot and d.address != dev.address]


# -- parsing helpers ----------------------------------------------------------------------------
def _hex(path: str, text: str | None, pattern: re.Pattern[str], *, required: bool) -> int:
    if text is None:
        if required:
            raise GarbageValue(f"{path} is absent")
        return 0
    value = text.strip()
    if not pattern.match(value):
        raise GarbageValue(f"{path} holds {value[:40]!r}, not a hex id like {'0x10de' if pattern is _HEX4 else '0x030000'}")
    return int(value, 16)


def _sysfs_extras(target: Target, address: str) -> dict[str, Any]:
    base = f"{PCI_DEVICES}/{address}"
    entries = set(target.listdir(base) or ())
    override = target.read_text(f"{base}/driver_override") if "driver_override" in entries else None
    override = override.strip() if override is not None else None
    group_link = target.readlink(f"{base}/iommu_group")
    numa_text = target.read_text(f"{base}/numa_node") if "numa_node" in entries else None
    numa = -1
    if numa_text is not None:
        numa_text = numa_text.strip()
        if not re.match(r"^-?\d+$", numa_text):
            raise GarbageValue(f"{base}/numa_node holds {numa_text[:40]!r}, not a node number")
        numa = int(numa_text)
    boot_vga = None
    if "boot_vga" in entries:
        text = (target.read_text(f"{base}/boot_vga") or "").strip()
        if text not in ("0", "1"):
            raise GarbageValue(f"{base}/boot_vga holds {text[:40]!r}, not 0 or 1")
        boot_vga = text == "1"
    methods: tuple[str, ...] = ()
    if "reset_method" in entries:
        methods = tuple((target.read_text(f"{base}/reset_method") or "").split())
    return {
        "driver_override": None if override in (None, "", "(null)") else override,
        "iommu_group": posixpath.basename(group_link) if group_link else None,
        "numa_node": numa,
        "boot_vga": boot_vga,
        "has_reset": "reset" in entries,
        "reset_methods": methods,
    }


def _from_sysfs(target: Target, address: str) -> PciDevice:
    base = f"{PCI_DEVICES}/{address}"
    link = target.readlink(base)
    devpath = posixpath.normpath(posixpath.join(PCI_DEVICES, link)) if link else base
    if target.listdir(base) is None:
        raise GarbageValue(f"{base} -> {link} is a dangling link: the device directory does not exist")
    vendor = _hex(f"{base}/vendor", target.read_text(f"{base}/vendor"), _HEX4, required=True)
    device = _hex(f"{base}/device", target.read_text(f"{base}/device"), _HEX4, required=True)
    klass = _hex(f"{base}/class", target.read_text(f"{base}/class"), _HEX6, required=True)
    sv = _hex(f"{base}/subsystem_vendor", target.read_text(f"{base}/subsystem_vendor"), _HEX4, required=False)
    sd = _hex(f"{base}/subsystem_device", target.read_text(f"{base}/subsystem_device"), _HEX4, required=False)
    driver_link = target.readlink(f"{base}/driver")
    return PciDevice(address, vendor, device, klass, sv, sd,
                     driver=posixpath.basename(driver_link) if driver_link else None,
                     devpath=devpath, **_sysfs_extras(target, address))


def _udev_hex(address: str, key: str, value: Any, width: int) -> int:
    text = str(value or "")
    if not re.match(rf"^[0-9a-fA-F]{{1,{width}}}$", text):
        raise GarbageValue(f"udev property {key}={text[:40]!r} of {address} is not a hex id")
    return int(text, 16)


def _from_udev(target: Target, entry: dict[str, Any], names: dict[str, str]) -> PciDevice:
    props = entry.get("properties") or {}
    address = entry["sys_name"]
    vendor, _, device = str(props.get("PCI_ID", "")).partition(":")
    sv, _, sd = str(props.get("PCI_SUBSYS_ID", "0:0")).partition(":")
    return PciDevice(
        address,
        _udev_hex(address, "PCI_ID", vendor, 4), _udev_hex(address, "PCI_ID", device, 4),
        _udev_hex(address, "PCI_CLASS", props.get("PCI_CLASS"), 6),
        _udev_hex(address, "PCI_SUBSYS_ID", sv, 4), _udev_hex(address, "PCI_SUBSYS_ID", sd, 4),
        driver=entry.get("driver") or props.get("DRIVER") or None,
        devpath="/sys" + str(props.get("DEVPATH", "")),
        vendor_name=names.get("ID_VENDOR_FROM_DATABASE"),
        device_name=names.get("ID_MODEL_FROM_DATABASE"),
        **_sysfs_extras(target, address),
    )


# -- pci.ids ------------------------------------------------------------------------------------
def parse_pci_ids(text: str, wanted: set[tuple[int, int, int, int]]) -> dict[tuple[int, int, int, int], tuple[str | None, str | None]]:
    """Names for (vendor, device, subvendor, subdevice) keys, like udev's hwdb: the model is the
    device name, or 'device name (subsystem name)' when pci.ids lists the subsystem."""
    vendors = {k[0] for k in wanted}
    devices = {(k[0], k[1]) for k in wanted}
    vname: dict[int, str] = {}
    dname: dict[tuple[int, int], str] = {}
    sname: dict[tuple[int, int, int, int], str] = {}
    cur_v: int | None = None
    cur_d: int | None = None
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        if line.startswith("C "):
            break  # the class list follows the vendors
        try:
            if line[0] != "\t":
                cur_v, cur_d = int(line[:4], 16), None
                if cur_v in vendors:
                    vname[cur_v] = line[4:].strip()
            elif line[1] != "\t":
                cur_d = int(line[1:5], 16)
                if cur_v is not None and (cur_v, cur_d) in devices:
                    dname[(cur_v, cur_d)] = line[5:].strip()
            elif cur_v is not None and cur_d is not None and (cur_v, cur_d) in devices:
                sv, sd = int(line[2:6], 16), int(line[7:11], 16)
                sname[(cur_v, cur_d, sv, sd)] = line[11:].strip()
        except ValueError:
            continue  # a malformed line names nothing
    out = {}
    for key in wanted:
        model = dname.get(key[:2])
        if model and key in sname:
            model = f"{model} ({sname[key]})"
        out[key] = (vname.get(key[0]), model)
    return out


def _name_with_pci_ids(target: Target, devices: list[PciDevice]) -> tuple[list[PciDevice], str | None]:
    for path in PCI_IDS_PATHS:
        try:
            text = target.read_text(path)
        except TargetError:
            continue
        if text is None:
            continue
        wanted = {(d.vendor, d.device, d.subsystem_vendor, d.subsystem_device) for d in devices}
        names = parse_pci_ids(text, wanted)
        out = []
        for d in devices:
            v, m = names[(d.vendor, d.device, d.subsystem_vendor, d.subsystem_device)]
            out.append(_with_names(d, v, m))
        return out, path
    return devices, None


def _with_names(d: PciDevice, vendor: str | None, model: str | None) -> PciDevice:
    from dataclasses import replace

    return replace(d, vendor_name=d.vendor_name or vendor, device_name=d.device_name or model)


# -- the two enumerations -----------------------------------------------------------------------
def inventory_from_sysfs(target: Target) -> PciInventory:
    names = target.listdir(PCI_DEVICES)
    if names is None:
        raise NotCaptured(f"{PCI_DEVICES} does not exist: sysfs is not mounted or has no PCI bus")
    devices, broken = [], {}
    for address in names:
        if not ADDRESS.match(address):
            broken[address] = f"{PCI_DEVICES}/{address} is not named like a PCI address"
            continue
        try:
            devices.append(_from_sysfs(target, address))
        except NotCaptured:
            raise
        except TargetError as exc:
            broken[address] = str(exc)
    devices, where = _name_with_pci_ids(target, devices)
    return PciInventory({d.address: d for d in devices}, broken, "sysfs", f"pci.ids {where}" if where else None)


def inventory_from_udev(target: Target, udev: Any) -> PciInventory:
    devices, broken, hwdb_used = [], {}, False
    for entry in udev.devices("pci"):
        address = entry.get("sys_name", "")
        props = entry.get("properties") or {}
        names = {k: v for k, v in props.items() if k.endswith("_FROM_DATABASE")}
        if "ID_VENDOR_FROM_DATABASE" not in names and props.get("MODALIAS"):
            try:  # the udev database is not populated (no udevd): ask the hwdb directly
                names = udev.hwdb(props["MODALIAS"]) or {}
            except (AdapterUnavailable, NotCaptured):
                names = {}
        hwdb_used = hwdb_used or bool(names)
        try:
            devices.append(_from_udev(target, entry, names))
        except TargetError as exc:
            broken[address] = str(exc)
    where = "udev hwdb" if hwdb_used else None
    if not hwdb_used:
        devices, path = _name_with_pci_ids(target, devices)
        where = f"pci.ids {path}" if path else None
    return PciInventory({d.address: d for d in devices}, broken, "udev", where)


def pci_inventory(ctx: Context) -> PciInventory:
    """udev on the live host, sysfs everywhere else (a snapshot without udev data, a guest)."""
    target = ctx.target
    try:
        udev = target.adapter("udev")
        return inventory_from_udev(target, udev)
    except (AdapterUnavailable, NotCaptured):
        return inventory_from_sysfs(target)


# -- passthrough selection ----------------------------------------------------------------------
@dataclass(frozen=True)
class GpuSelection:
    explicit: bool  # profile.gpus was set
    gpus: tuple[PciDevice, ...]
    missing: tuple[str, ...] = ()  # named in the profile, not on the bus
    boot_vga_skipped: tuple[PciDevice, ...] = ()  # candidates left out because they drive the host console


def passthrough_gpus(ctx: Context) -> GpuSelection:
    inv = ctx.fact(pci_inventory)
    if ctx.profile.is_set("gpus"):
        wanted = []
        for raw in ctx.profile.get("gpus"):  # normalised by the config loader; again for API callers
            try:
                wanted.append(normalise_address(str(raw)))
            except ValueError:
                wanted.append(str(raw))
        found = tuple(inv.devices[a] for a in wanted if a in inv.devices)
        return GpuSelection(True, found, tuple(a for a in wanted if a not in inv.devices))
    candidates = [d for d in inv.devices.values() if d.is_gpu]
    return GpuSelection(False, tuple(d for d in candidates if not d.boot_vga),
                        boot_vga_skipped=tuple(d for d in candidates if d.boot_vga))
