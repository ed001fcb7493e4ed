"""Builds the USB-passthrough scenarios: the host's USB tree in sysfs (relative links, as the kernel makes
them), the libvirt domains (api.json, as a recorder captures them) and a guest's USB tree.

    python tests/scenarios/build_usb_scenarios.py

Layout of one USB device (a Pixel 7 with USB debugging on, file-transfer mode):
  /sys/bus/usb/devices/1-2      -> ../../../devices/pci0000:00/0000:00:14.0/usb1/1-2
  /sys/bus/usb/devices/1-2:1.1  -> ../../../devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.1
  /sys/devices/.../usb1/1-2/{idVendor,idProduct,busnum,devnum,serial,manufacturer,product}
  /sys/devices/.../usb1/1-2/1-2:1.0/bInterface{Class,SubClass,Protocol} = 06 01 01  (MTP)
  /sys/devices/.../usb1/1-2/1-2:1.1/bInterface{Class,SubClass,Protocol} = ff 42 01  (adbd)
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PHONE_SERIAL = "2A241FDH2004SX"


@dataclass
class Usb:
    name: str
    vendor: str
    product: str
    dev: int
    interfaces: tuple[tuple[str, str, str], ...]
    serial: str = ""
    manufacturer: str = ""
    label: str = ""
    vendor_text: str | None = None  # garbage injection


PHONE = Usb("1-2", "18d1", "4ee7", 5, (("06", "01", "01"), ("ff", "42", "01")), PHONE_SERIAL, "Google", "Pixel 7")
KEYBOARD = Usb("1-1", "046d", "c31c", 2, (("03", "01", "01"),), "", "Logitech", "USB Keyboard")
TABLET = Usb("1-1", "0627", "0001", 2, (("03", "00", "00"),), "28754-0000:00:05.0-1", "QEMU", "QEMU USB Tablet")


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def link(root: Path, rel: str, target: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def usb_tree(root: Path, controller: str, devices: list[Usb]) -> None:
    hub = f"/sys/devices/pci0000:00/{controller}/usb1"
    for name, value in (("idVendor", "1d6b"), ("idProduct", "0003"), ("busnum", "1"), ("devnum", "1")):
        write(root, f"{hub}/{name}", value + "\n")
    link(root, "/sys/bus/usb/devices/usb1", f"../../../devices/pci0000:00/{controller}/usb1")
    for d in devices:
        base = f"{hub}/{d.name}"
        attrs = {"idVendor": d.vendor_text if d.vendor_text is not None else d.vendor, "idProduct": d.product,
                 "busnum": "1", "devnum": str(d.dev), "manufacturer": d.manufacturer, "product": d.label}
        if d.serial:
            attrs["serial"] = d.serial
        for name, value in attrs.items():
            write(root, f"{base}/{name}", value + "\n")
        link(root, f"/sys/bus/usb/devices/{d.name}", f"../../../devices/pci0000:00/{controller}/usb1/{d.name}")
        for i, (cls, sub, proto) in enumerate(d.interfaces):
            iface = f"{d.name}:1.{i}"
            for name, value in (("bInterfaceClass", cls), ("bInterfaceSubClass", sub), ("bInterfaceProtocol", proto)):
                write(root, f"{base}/{iface}/{name}", value + "\n")
            link(root, f"/sys/bus/usb/devices/{iface}", f"../../../devices/pci0000:00/{controller}/usb1/{d.name}/{iface}")


def domain(name: str, hostdevs: str, active: bool = True) -> dict:
    xml = (f"<domain type='kvm'><name>{name}</name><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
           f"{hostdevs}</devices></domain>")
    return {"name": name, "uuid": "6f1d2b0e-6c47-4b5e-9b7c-2f4a3c1d9e01", "active": active, "state": 1, "xml": xml}


BY_IDS = ("<hostdev mode='subsystem' type='usb' managed='yes'><source startupPolicy='optional'>"
          "<vendor id='0x18d1'/><product id='0x4ee7'/><address bus='1' device='5'/></source>"
          "<alias name='hostdev0'/><address type='usb' bus='0' port='1'/></hostdev>")
PINNED = ("<hostdev mode='subsystem' type='usb' managed='yes'><source><address bus='1' device='5'/></source>"
          "<address type='usb' bus='0' port='1'/></hostdev>")
REQUIRED_ABSENT = ("<hostdev mode='subsystem' type='usb' managed='yes'><source><vendor id='0x2717'/>"
                   "<product id='0xff48'/></source></hostdev>")
CONTROLLER = ("<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' "
              "slot='0x00' function='0x0'/></source></hostdev>")


def scenario(name: str, *, role: str = "host", devices: list[Usb] | None = None, controller: str = "0000:00:14.0",
             domains: list[dict] | None = None, extra=None) -> None:
    root = HERE / name
    if root.exists():
        shutil.rmtree(root)
    side = root / ".autoglm-doctor"
    side.mkdir(parents=True)
    (side / "manifest.json").write_text(json.dumps({"format": "autoglm-doctor-snapshot", "version": 1,
                                                    "kind": "handmade", "role": role, "source": name}, indent=1) + "\n")
    usb_tree(root, controller, devices or [])
    if domains is not None:
        (side / "api.json").write_text(json.dumps({"libvirt.domains([])": {"result": domains}}, indent=1,
                                                  sort_keys=True) + "\n")
    if extra:
        extra(root)


def usb_controller_on_vfio(root: Path) -> None:
    base = "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0"
    write(root, f"{base}/class", "0x0c0330\n")
    write(root, f"{base}/vendor", "0x1912\n")
    write(root, f"{base}/device", "0x0014\n")
    link(root, "/sys/bus/pci/devices/0000:03:00.0", "../../../devices/pci0000:00/0000:00:1c.0/0000:03:00.0")


def build() -> None:
    host = [KEYBOARD, PHONE]
    scenario("usb-host-by-ids", devices=host, domains=[domain("autoglm-agent", BY_IDS), domain("gpu-vm", "")])
    scenario("usb-host-pinned", devices=host, domains=[domain("autoglm-agent", PINNED)])
    moved = Usb(**{**PHONE.__dict__, "dev": 9})
    scenario("usb-host-reenumerated", devices=[KEYBOARD, moved], domains=[domain("autoglm-agent", PINNED)])
    scenario("usb-host-not-passed", devices=host, domains=[domain("autoglm-agent", "")])
    scenario("usb-host-controller", devices=[KEYBOARD], domains=[domain("autoglm-agent", CONTROLLER)],
             extra=usb_controller_on_vfio)
    scenario("usb-host-absent-required", devices=[KEYBOARD], domains=[domain("autoglm-agent", REQUIRED_ABSENT)])
    garbage_phone = Usb(**{**PHONE.__dict__, "name": "1-3", "vendor_text": "\x00zz"})
    scenario("usb-host-garbage", devices=[KEYBOARD, PHONE, garbage_phone],
             domains=[domain("autoglm-agent", BY_IDS), {"name": "broken", "active": False, "xml": "<domain><devices>"}])
    scenario("usb-guest-phone", role="guest", controller="0000:00:05.0", devices=[TABLET, PHONE])
    scenario("usb-guest-no-phone", role="guest", controller="0000:00:05.0", devices=[TABLET])


if __name__ == "__main__":
    build()
