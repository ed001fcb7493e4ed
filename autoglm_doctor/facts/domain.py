"""The libvirt domain definition, parsed once with ElementTree into what a passthrough review looks at:
PCI hostdevs, machine type, firmware, CPU mode, vCPUs and pinning, memory and its backing, NUMA tuning,
disks, interfaces, channels, the 64-bit MMIO window and the qemu:commandline passthrough.

Domains are read through the Target's libvirt adapter (so a snapshot records and replays them). The
connection URI is the profile's ``libvirt_uri`` (the CLI's ``--libvirt-uri`` sets it), else libvirt's
default. Which domains: ``profile.vm_domains``, else every domain with a PCI hostdev.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
GUEST_AGENT = "org.qemu.guest_agent.0"
# libvirt's scaled integers (virScaleInteger): the binary units and the SI ones
_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
          "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4, "tb": 1000**4,
          "p": 1024**5, "pib": 1024**5, "pb": 1000**5, "e": 1024**6, "eib": 1024**6, "eb": 1000**6}
_MMIO64 = re.compile(r"opt/ovmf/X-PciMmio64Mb,string=(\d+)")
_DOMAIN_NAME = re.compile(r"^[^/\x00-\x1f]{1,255}$")


def validate_domain_names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _DOMAIN_NAME.match(v) for v in value):
        raise ValueError("must be a list of libvirt domain names, e.g. [\"autoglm-gpu\"]")
    if len(set(value)) != len(value):
        raise ValueError("lists the same domain twice")
    return value


def validate_uri(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[a-z][a-z0-9+.-]*:", value):
        raise ValueError(f"{value!r} is not a libvirt URI like qemu:///system")
    return value


def scaled(value: str | None, unit: str | None, default_unit: str = "KiB") -> int | None:
    """Bytes of a libvirt scaled integer (``<memory unit='GiB'>16</memory>``); None when absent or garbage."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit():
        return None
    factor = _UNITS.get((unit or default_unit).strip().lower())
    return None if factor is None else int(text) * factor


@dataclass(frozen=True)
class Hostdev:
    address: str  # host PCI address, 0000:01:00.0 ('' when the source names none)
    managed: bool
    guest_address: str = ""  # where the guest sees it ('' = libvirt picks)
    multifunction: bool = False


@dataclass(frozen=True)
class Disk:
    target: str  # vda, sda, ...
    device: str  # disk, cdrom, lun, floppy
    bus: str
    cache: str
    io: str
    source: str = ""


@dataclass(frozen=True)
class Interface:
    type: str  # bridge, network, direct, user, ...
    source: str  # bridge name, network name or macvtap device
    mac: str = ""
    model: str = ""


@dataclass(frozen=True)
class Domain:
    name: str
    uuid: str = ""
    virt_type: str = ""  # kvm, qemu
    arch: str = ""
    machine: str = ""  # pc-q35-7.2, q35, pc-i440fx-7.2, pc
    firmware: str = ""  # 'efi' / 'bios' as written in <os firmware=...>; '' = not said
    loader: str = ""  # <loader> path (OVMF_CODE*.fd) when given explicitly
    loader_type: str = ""  # pflash, rom
    secure_boot: bool | None = None  # <loader secure='yes'> / <feature name='secure-boot'>; None: not said
    enrolled_keys: bool | None = None
    cpu_mode: str = ""  # host-passthrough, host-model, maximum, custom; '' = no <cpu>
    cpu_model: str = ""
    vcpus: int = 0
    vcpu_pins: dict[int, str] = field(default_factory=dict)  # vcpu -> host cpuset
    vcpu_cpuset: str = ""  # <vcpu cpuset=...>
    memory_bytes: int = 0
    hugepages: bool = False
    hugepage_sizes: tuple[int, ...] = ()  # bytes of each <page size=...>; () with hugepages = default size
    numatune_mode: str = ""
    numatune_nodeset: str = ""
    kvm_hidden: bool = False
    hostdevs: tuple[Hostdev, ...] = ()
    disks: tuple[Disk, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    channels: tuple[tuple[str, str], ...] = ()  # (target type, target name)
    pcihole64_bytes: int | None = None
    ovmf_mmio64_mb: int | None = None  # -fw_cfg opt/ovmf/X-PciMmio64Mb,string=N in <qemu:commandline>
    qemu_args: tuple[str, ...] = ()

    @property
    def q35(self) -> bool:
        return "q35" in self.machine

    @property
    def uefi(self) -> bool:
        if self.firmware:
            return self.firmware == "efi"
        return self.loader_type == "pflash" or "ovmf" in self.loader.lower() or "edk2" in self.loader.lower()

    @property
    def has_agent_channel(self) -> bool:
        return ("virtio", GUEST_AGENT) in self.channels


def parse_xml(text: str, what: str) -> ET.Element:
    """ElementTree with the two things libvirt never emits refused: a DTD and entities."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError(f"{what}: XML with a DTD/entities is not what libvirt emits")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"{what}: not well-formed XML ({exc})") from exc


def pci_address(el: ET.Element | None) -> str:
    """'0000:01:00.0' from <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>; '' if absent."""
    if el is None or el.get("bus") is None:
        return ""
    try:
        dom, bus, slot, fn = (int(el.get(k, "0"), 0) for k in ("domain", "bus", "slot", "function"))
    except ValueError:
        return ""
    return f"{dom:04x}:{bus:02x}:{slot:02x}.{fn:x}"


def _yes(value: str | None) -> bool | None:
    return None if value is None else value in ("yes", "on")


def _hostdevs(devices: ET.Element) -> tuple[Hostdev, ...]:
    out = []
    for el in devices.findall("hostdev"):
        if el.get("mode", "subsystem") != "subsystem" or el.get("type") != "pci":
            continue
        guest = el.find("address")
        out.append(Hostdev(pci_address(el.find("source/address")), el.get("managed") == "yes",
                           pci_address(guest) if guest is not None and guest.get("type") == "pci" else "",
                           guest is not None and guest.get("multifunction") == "on"))
    return tuple(out)


def _disks(devices: ET.Element) -> tuple[Disk, ...]:
    out = []
    for el in devices.findall("disk"):
        target, driver, src = el.find("target"), el.find("driver"), el.find("source")
        source = ""
        if src is not None:
            source = src.get("file") or src.get("dev") or src.get("name") or src.get("volume") or ""
        out.append(Disk(target.get("dev", "") if target is not None else "", el.get("device", "disk"),
                        target.get("bus", "") if target is not None else "",
                        driver.get("cache", "") if driver is not None else "",
                        driver.get("io", "") if driver is not None else "", source))
    return tuple(out)


def _interfaces(devices: ET.Element) -> tuple[Interface, ...]:
    out = []
    for el in devices.findall("interface"):
        kind = el.get("type", "")
        src, mac, model = el.find("source"), el.find("mac"), el.find("model")
        attr = {"bridge": "bridge", "network": "network", "direct": "dev"}.get(kind, "bridge")
        out.append(Interface(kind, src.get(attr, "") if src is not None else "",
                             mac.get("address", "") if mac is not None else "",
                             model.get("type", "") if model is not None else ""))
    return tuple(out)


def _firmware(os_el: ET.Element | None) -> dict[str, Any]:
    if os_el is None:
        return {}
    loader = os_el.find("loader")
    out: dict[str, Any] = {"firmware": os_el.get("firmware", "")}
    type_el = os_el.find("type")
    if type_el is not None:
        out["machine"] = type_el.get("machine", "")
        out["arch"] = type_el.get("arch", "")
    if loader is not None:
        out["loader"] = (loader.text or "").strip()
        out["loader_type"] = loader.get("type", "")
        out["secure_boot"] = _yes(loader.get("secure"))
    for feat in os_el.findall("firmware/feature"):
        if feat.get("name") == "secure-boot":
            out["secure_boot"] = _yes(feat.get("enabled"))
        elif feat.get("name") == "enrolled-keys":
            out["enrolled_keys"] = _yes(feat.get("enabled"))
    return out


def _qemu_args(root: ET.Element) -> tuple[str, ...]:
    return tuple(a.get("value", "") for a in root.findall(f"{{{QEMU_NS}}}commandline/{{{QEMU_NS}}}arg"))


def _mmio64_mb(args: tuple[str, ...]) -> int | None:
    for i, arg in enumerate(args):
        m = _MMIO64.search(arg)
        if m and (arg.startswith("opt/") or (i and args[i - 1] == "-fw_cfg") or arg.startswith("-fw_cfg")):
            return int(m.group(1))
    return None


def _pcihole64(devices: ET.Element) -> int | None:
    for ctl in devices.findall("controller"):
        if ctl.get("type") == "pci" and ctl.get("model") in ("pcie-root", "pci-root"):
            hole = ctl.find("pcihole64")
            if hole is not None:
                return scaled(hole.text, hole.get("unit"))
    return None


def _int(text: str | None, default: int = 0) -> int:
    text = (text or "").strip()
    return int(text) if text.isdigit() else default


def parse_domain(xml: str, name: str = "?") -> Domain:
    """A Domain from libvirt's domain XML; ValueError (with the domain's name) when it is not XML at all."""
    root = parse_xml(xml, f"domain {name}")
    if root.tag != "domain":
        raise ValueError(f"domain {name}: the document is <{root.tag}>, not a libvirt <domain>")
    devices = root.find("devices")
    if devices is None:
        devices = ET.Element("devices")
    cpu, mem, vcpu = root.find("cpu"), root.find("memory"), root.find("vcpu")
    backing = root.find("memoryBacking/hugepages")
    sizes = tuple(s for s in (scaled(p.get("size"), p.get("unit")) for p in (backing.findall("page") if backing is not None else ())) if s)
    numa = root.find("numatune/memory")
    pins = {}
    for pin in root.findall("cputune/vcpupin"):
        if (pin.get("vcpu") or "").isdigit():
            pins[int(pin.get("vcpu", "0"))] = pin.get("cpuset", "")
    hidden = root.find("features/kvm/hidden")
    args = _qemu_args(root)
    return Domain(
        name=(root.findtext("name") or name).strip(),
        uuid=(root.findtext("uuid") or "").strip(),
        virt_type=root.get("type", ""),
        **_firmware(root.find("os")),
        cpu_mode=(cpu.get("mode", "custom") if cpu is not None else ""),
        cpu_model=((cpu.findtext("model") or "").strip() if cpu is not None else ""),
        vcpus=_int(vcpu.text if vcpu is not None else None),
        vcpu_pins=pins,
        vcpu_cpuset=vcpu.get("cpuset", "") if vcpu is not None else "",
        memory_bytes=(scaled(mem.text, mem.get("unit")) or 0) if mem is not None else 0,
        hugepages=backing is not None,
        hugepage_sizes=sizes,
        numatune_mode=numa.get("mode", "strict") if numa is not None else "",
        numatune_nodeset=numa.get("nodeset", "") if numa is not None else "",
        kvm_hidden=hidden is not None and hidden.get("state") == "on",
        hostdevs=_hostdevs(devices),
        disks=_disks(devices),
        interfaces=_interfaces(devices),
        channels=tuple((t.get("type", ""), t.get("name", "")) for t in devices.findall("channel/target")),
        pcihole64_bytes=_pcihole64(devices),
        ovmf_mmio64_mb=_mmio64_mb(args),
        qemu_args=args,
    )


def cpuset(text: str) -> set[int]:
    """libvirt/kernel cpu list '0-3,^2,8' -> {0, 1, 3, 8}; ValueError on garbage."""
    out: set[int] = set()
    drop: set[int] = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        neg = part.startswith("^")
        lo, _, hi = part.lstrip("^").partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"{text!r} is not a CPU/node list like 0-3,8")
        span = range(int(lo), int(hi or lo) + 1)
        if len(span) > 1 << 16:
            raise ValueError(f"{text!r} spans too many CPUs")
        (drop if neg else out).update(span)
    return out - drop


# -- reading the domains through the Target --------------------------------------------------------
STATES = {0: "no state", 1: "running", 2: "blocked", 3: "paused", 4: "shutting down", 5: "shut off",
          6: "crashed", 7: "suspended (pmsuspended)"}
SHUTOFF_FAILED = 6  # VIR_DOMAIN_SHUTOFF_FAILED: the domain failed to start
SHUTOFF, CRASHED, PAUSED = 5, 6, 3


@dataclass(frozen=True)
class DomainRecord:
    name: str
    domain: Domain | None  # None: the XML could not be parsed (``problem`` says why)
    state: int = 0
    reason: int = 0
    active: bool = False
    persistent: bool | None = None  # None: not recorded (older snapshot)
    autostart: bool | None = None
    problem: str = ""
    xml: str = ""  # the definition as read (what a fix edits)

    @property
    def state_text(self) -> str:
        return STATES.get(self.state, f"state {self.state}")

    @property
    def failed_start(self) -> bool:
        return self.state == CRASHED or (self.state == SHUTOFF and self.reason == SHUTOFF_FAILED)


@dataclass(frozen=True)
class DomainSet:
    """What the vm.* checks review. ``unavailable`` is set when libvirt could not be asked at all
    (``kind``: missing, unreachable, denied, not-captured, error); ``missing`` names profile domains that
    do not exist."""
    uri: str
    records: tuple[DomainRecord, ...] = ()
    missing: tuple[str, ...] = ()
    unavailable: str = ""
    kind: str = ""
    hint: str = ""
    explicit: bool = False  # profile.vm_domains was set


def libvirt_adapter(ctx: Context) -> tuple[Any, str]:
    """(the adapter, the URI it speaks for): the profile's libvirt_uri, else libvirt's default."""
    uri = ctx.profile.get("libvirt_uri") if ctx.profile.is_set("libvirt_uri") else ""
    return ctx.target.adapter(f"libvirt@{uri}" if uri else "libvirt"), uri or "libvirt's default URI"


def record_from(entry: dict[str, Any]) -> DomainRecord:
    name = str(entry.get("name", "?"))
    xml = entry.get("inactive_xml") or entry.get("xml") or ""
    try:
        dom: Domain | None = parse_domain(str(xml), name)
        problem = ""
    except ValueError as exc:
        dom, problem = None, str(exc)

    def flag(key: str) -> bool | None:
        return bool(entry[key]) if isinstance(entry.get(key), bool) else None

    return DomainRecord(name, dom, int(entry.get("state") or 0), int(entry.get("reason") or 0),
                        bool(entry.get("active")), flag("persistent"), flag("autostart"), problem, str(xml))


def domain_set(ctx: Context) -> DomainSet:
    from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured, TargetError

    explicit = ctx.profile.is_set("vm_domains")
    uri = ctx.profile.get("libvirt_uri") or "libvirt's default URI"
    try:
        lv, uri = libvirt_adapter(ctx)
        entries = lv.domains() or []
    except AdapterUnavailable as exc:
        return DomainSet(uri, unavailable=str(exc), kind=exc.reason, hint=exc.hint, explicit=explicit)
    except NotCaptured as exc:
        return DomainSet(uri, unavailable=f"libvirt domains not captured ({exc})", kind="not-captured",
                         explicit=explicit)
    except TargetError as exc:
        kind = "denied" if "denied" in str(exc).lower() else "error"
        return DomainSet(uri, unavailable=str(exc), kind=kind, explicit=explicit)
    if not isinstance(entries, list):
        return DomainSet(uri, unavailable=f"libvirt answered {type(entries).__name__}, not a domain list",
                         kind="error", explicit=explicit)
    records = [record_from(e) for e in entries if isinstance(e, dict)]
    if explicit:
        wanted = ctx.profile.get("vm_domains")
        by_name = {r.name: r for r in records}
        return DomainSet(uri, tuple(by_name[n] for n in wanted if n in by_name),
                         tuple(n for n in wanted if n not in by_name), explicit=True)
    # unset: every domain with a PCI hostdev (and every one whose XML is broken: it may hold one)
    return DomainSet(uri, tuple(r for r in records if r.domain is None or r.domain.hostdevs))
