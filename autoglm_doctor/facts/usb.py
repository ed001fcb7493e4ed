"""USB devices from sysfs and the USB/PCI hostdevs of libvirt domains: how a phone plugged into the host
reaches the agent's VM.

sysfs: /sys/bus/usb/devices/B-P[.P...] links to /sys/devices/pci.../ADDR/usbB/B-P (relative, as the
kernel makes them); idVendor/idProduct/busnum/devnum/serial are the device descriptor and its address; each
interface B-P:C.I has bInterfaceClass/SubClass/Protocol. adbd's interface is ff/42/01 (vendor class,
subclass 0x42, protocol 1), which is how a phone with USB debugging on is recognised without a vendor list.

libvirt: ``<hostdev mode='subsystem' type='usb'>`` names the device by ``<vendor id/><product id/>`` or by
``<address bus device/>``. The device number changes on every replug and reboot, so an address-only hostdev
loses the phone (and a domain whose hostdev is missing fails to start unless startupPolicy='optional').
Passing the whole USB controller (``<hostdev type='pci'>`` of the xHCI function) also brings the phone along.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target

USB_ROOT = "/sys/bus/usb/devices"
ADB_INTERFACE = ("ff", "42", "01")
_PCI = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_NAME = re.compile(r"^\d+-\d+(?:\.\d+)*$")


@dataclass(frozen=True)
class UsbDevice:
    name: str  # sysfs name, 1-2 or 1-2.4
    vendor: str  # 4 hex digits, lower case
    product: str
    bus: int
    dev: int
    serial: str = ""
    label: str = ""  # manufacturer and product strings
    adb: bool = False  # has adbd's interface (ff/42/01)
    controller: str = ""  # PCI address of the host controller it hangs off

    @property
    def ids(self) -> str:
        return f"{self.vendor}:{self.product}"


def _attr(target: Target, path: str) -> str:
    text = target.read_text(path)
    return "" if text is None else text.strip()


def _hex4(text: str) -> str:
    value = text.lower().removeprefix("0x")
    return value.zfill(4) if re.fullmatch(r"[0-9a-f]{1,4}", value) else ""


def read_usb_devices(target: Target) -> list[UsbDevice]:
    names = target.listdir(USB_ROOT)
    if names is None:
        return []
    out = []
    for name in sorted(n for n in names if _NAME.match(n)):
        base = f"{USB_ROOT}/{name}"
        vendor, product = _hex4(_attr(target, f"{base}/idVendor")), _hex4(_attr(target, f"{base}/idProduct"))
        bus, dev = _attr(target, f"{base}/busnum"), _attr(target, f"{base}/devnum")
        if not vendor or not product or not bus.isdigit() or not dev.isdigit():
            continue  # half-enumerated or garbage: not a device the agent could use
        adb = False
        for entry in target.listdir(base) or []:
            if entry.startswith(f"{name}:"):
                triple = tuple(_attr(target, f"{base}/{entry}/{a}").lower()
                               for a in ("bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol"))
                adb = adb or triple == ADB_INTERFACE
        link = target.readlink(base) or ""
        pci = [part for part in link.split("/") if _PCI.match(part)]
        label = " ".join(x for x in (_attr(target, f"{base}/manufacturer"), _attr(target, f"{base}/product")) if x)
        out.append(UsbDevice(name, vendor, product, int(bus), int(dev), _attr(target, f"{base}/serial")[:64],
                             label[:80], adb, pci[-1] if pci else ""))
    return out


def usb_devices(ctx: Context) -> list[UsbDevice]:
    return read_usb_devices(ctx.target)


@dataclass(frozen=True)
class UsbHostdev:
    domain: str
    vendor: str  # '' when the source names no vendor
    product: str
    bus: int | None
    device: int | None
    optional: bool  # startupPolicy='optional'

    @property
    def by_ids(self) -> bool:
        return bool(self.vendor and self.product)

    def describe(self) -> str:
        if self.by_ids:
            return f"vendor/product {self.vendor}:{self.product}"
        return f"bus {self.bus} device {self.device}"


@dataclass(frozen=True)
class DomainUsb:
    name: str
    active: bool
    usb: tuple[UsbHostdev, ...]
    pci: tuple[str, ...]  # host PCI addresses passed through


def _int(text: str | None) -> int | None:
    """libvirt reads these with strtoul(base 0): 0x.. hex, a leading 0 octal, else decimal."""
    t = (text or "").strip().lower()
    try:
        if t.startswith("0x"):
            return int(t[2:], 16)
        return int(t, 8) if len(t) > 1 and t.startswith("0") else int(t, 10)
    except ValueError:
        return None


def parse_domain_usb(name: str, xml: str, active: bool = False) -> DomainUsb:
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:
        raise ValueError(f"domain {name}: XML with a DTD/entities is not what libvirt emits")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"domain {name}: not well-formed XML ({exc})") from exc
    usb, pci = [], []
    for hd in root.findall("./devices/hostdev"):
        if hd.get("mode", "subsystem") != "subsystem":
            continue
        src = hd.find("source")
        if src is None:
            continue
        addr = src.find("address")
        if hd.get("type") == "usb":
            v, p = src.find("vendor"), src.find("product")
            usb.append(UsbHostdev(name, _hex4(v.get("id", "")) if v is not None else "",
                                  _hex4(p.get("id", "")) if p is not None else "",
                                  _int(addr.get("bus")) if addr is not None else None,
                                  _int(addr.get("device")) if addr is not None else None,
                                  src.get("startupPolicy") == "optional"))
        elif hd.get("type") == "pci" and addr is not None:
            parts = [_int(addr.get(k)) for k in ("domain", "bus", "slot", "function")]
            if None not in parts:
                d, b, s, f = parts
                pci.append(f"{d:04x}:{b:02x}:{s:02x}.{f:x}")
    return DomainUsb(name, active, tuple(usb), tuple(pci))


@dataclass(frozen=True)
class DomainsUsb:
    available: bool
    reason: str = ""
    domains: tuple[DomainUsb, ...] = ()
    problems: tuple[str, ...] = ()

    def get(self, name: str) -> DomainUsb | None:
        return next((d for d in self.domains if d.name == name), None)


def domains_usb(ctx: Context) -> DomainsUsb:
    try:
        found = ctx.target.adapter("libvirt").domains()
    except (AdapterUnavailable, NotCaptured) as exc:
        return DomainsUsb(False, f"libvirt unavailable ({exc})")
    except TargetError as exc:
        return DomainsUsb(False, f"libvirt error ({exc})")
    doms, problems = [], []
    for dom in found or []:
        try:
            doms.append(parse_domain_usb(str(dom.get("name", "?")), str(dom.get("xml", "")), bool(dom.get("active"))))
        except ValueError as exc:
            problems.append(str(exc))
    return DomainsUsb(True, "", tuple(doms), tuple(problems))


def hostdev_xml(vendor: str, product: str) -> str:
    """A USB hostdev that follows the phone across replugs; optional, so the VM starts without it."""
    return ("<hostdev mode='subsystem' type='usb' managed='yes'>\n"
            "  <source startupPolicy='optional'>\n"
            f"    <vendor id='0x{vendor}'/>\n"
            f"    <product id='0x{product}'/>\n"
            "  </source>\n"
            "</hostdev>\n")


def pinned_hostdev_xml(bus: int, device: int) -> str:
    return ("<hostdev mode='subsystem' type='usb' managed='yes'>\n"
            f"  <source>\n    <address bus='{bus}' device='{device}'/>\n  </source>\n"
            "</hostdev>\n")


def with_usb_hostdev(xml: str, vendor: str, product: str, drop: tuple[int, int] | None = None) -> str:
    """The domain XML with a vendor/product USB hostdev for the phone, and without the hostdev that pinned
    it by bus/device (``drop``). Runtime-only ``<alias>`` elements are left out."""
    ET.register_namespace("qemu", "http://libvirt.org/schemas/domain/qemu/1.0")
    root = ET.fromstring(xml)
    devices = root.find("devices")
    if devices is None:
        devices = ET.SubElement(root, "devices")
    for hd in devices.findall("hostdev"):
        src = hd.find("source")
        addr = src.find("address") if src is not None else None
        if hd.get("type") == "usb" and src is not None and src.find("vendor") is None and addr is not None \
                and drop is not None and (_int(addr.get("bus")), _int(addr.get("device"))) == drop:
            devices.remove(hd)
    for parent in root.iter():
        for alias in parent.findall("alias"):
            parent.remove(alias)
    new = ET.fromstring(hostdev_xml(vendor, product))
    new.tail = "\n"
    devices.append(new)
    return ET.tostring(root, encoding="unicode")
