"""The USB path from a phone plugged into the KVM host to the agent in the VM.

On the host (device.usb.passthrough): every phone with adbd's USB interface must be handed to the agent's
domain, by vendor/product (a ``<hostdev type='usb'>``) or with its whole USB controller (a PCI hostdev).
A hostdev that names the phone by bus/device breaks on the next replug or reboot: the kernel gives the phone
a new device number. In the guest (device.usb.guest): the phone shows up in /sys/bus/usb/devices, with
the ADB interface, so adb in the VM can open it.
"""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.adb import is_endpoint
from autoglm_doctor.facts.usb import UsbDevice, domains_usb, usb_devices
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity

PASSTHROUGH = "device.usb.passthrough"


def _resource(dev: UsbDevice) -> str:
    return f"{dev.ids} {dev.serial}" if dev.serial else f"{dev.ids} usb:{dev.name}"


class UsbPassthrough(Check):
    meta = CheckMeta(
        id=PASSTHROUGH,
        title="USB phones on the host are passed into the agent's VM by vendor/product",
        severity=Severity.HIGH,
        scope=(Scope.DEVICE, Scope.VM),
        runs_on=(Scope.HOST,),
        remediation="add <hostdev mode='subsystem' type='usb' managed='yes'><source startupPolicy='optional'>"
                    "<vendor id='0xVVVV'/><product id='0xPPPP'/></source></hostdev> to the domain (virsh edit), "
                    "or pass the whole USB controller as a PCI hostdev",
        docs=docs_link(PASSTHROUGH),
        description="Phones are found by adbd's USB interface (class ff, subclass 42, protocol 01) in "
                    "/sys/bus/usb/devices; the domains' <hostdev> elements come from libvirt. Note that a phone "
                    "changes its product id with its USB mode (file transfer, PTP, charging only).",
        fix="fix.usb.hostdev",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        devices = ctx.fact(usb_devices)
        phones = [d for d in devices if d.adb]
        lv = ctx.fact(domains_usb)
        wanted = ctx.profile.get("agent_domain")
        if not lv.available:
            if phones:
                yield self.skip(f"{len(phones)} phone(s) on USB, but the domains cannot be read: {lv.reason}",
                                resource="libvirt")
            else:
                yield self.skip("no Android phone (adbd's USB interface) is plugged into this host", resource="usb")
            return
        for problem in lv.problems:
            yield self.error(problem, resource="libvirt")
        domains = list(lv.domains)
        if wanted:
            dom = lv.get(wanted)
            if dom is None:
                yield self.fail(f"profile.agent_domain {wanted!r} is not a libvirt domain here "
                                f"({', '.join(d.name for d in domains) or 'none defined'})", resource=wanted,
                                observed="no such domain", expected="a defined domain").with_(fix_id=None)
                return
            domains = [dom]
        addresses = {(d.bus, d.dev) for d in devices}
        present = {(d.vendor, d.product) for d in devices}
        stale = [h for dom in domains for h in dom.usb
                 if (h.by_ids and (h.vendor, h.product) not in present)
                 or (not h.by_ids and (h.bus, h.device) not in addresses)]
        for phone in phones:
            yield self._phone(phone, domains, bool(wanted), stale)
        for h in stale:
            if h.by_ids and not h.optional:
                yield self.warn(f"{h.domain} passes USB {h.describe()}, which is not plugged in: libvirt refuses to "
                                "start the domain without it (no startupPolicy='optional')", resource=f"{h.domain}:{h.describe()}",
                                observed="absent, required", expected="plugged in, or startupPolicy='optional'",
                                remediation="plug the phone in, or add startupPolicy='optional' to the hostdev's "
                                            "<source>").with_(fix_id=None)
        if phones:
            return
        controllers = [(dom.name, addr, cls) for dom in domains for addr in dom.pci
                       if (cls := (ctx.target.read_text(f"/sys/bus/pci/devices/{addr}/class") or "").strip())
                       .lower().startswith("0x0c03")]
        for name, addr, cls in controllers:
            yield self.passed(f"USB controller {addr} (class {cls}) is passed to {name}: phones plugged into its "
                              "ports go straight to the VM", resource=f"{name}:{addr}",
                              observed={"domain": name, "by": "pci", "controller": addr},
                              expected="vendor/product or controller")
        if not controllers and not any(h for h in stale if h.by_ids and not h.optional):
            yield self.skip("no Android phone (adbd's USB interface) is plugged into this host", resource="usb")

    def _phone(self, phone: UsbDevice, domains: list, required: bool, stale: list) -> Finding:
        res = _resource(phone)
        where = f"{phone.label or 'phone'} {phone.ids} at usb {phone.name} (bus {phone.bus} device {phone.dev})"
        evidence = {"vendor": phone.vendor, "product": phone.product, "bus": phone.bus, "device": phone.dev}
        for dom in domains:
            if phone.controller and phone.controller in dom.pci:
                return self.passed(f"{where}: its USB controller {phone.controller} is passed to {dom.name}",
                                   resource=res, observed={**evidence, "domain": dom.name, "by": "pci"},
                                   expected="vendor/product or controller")
            for h in dom.usb:
                if h.by_ids and (h.vendor, h.product) == (phone.vendor, phone.product):
                    return self.passed(f"{where} is passed to {dom.name} by vendor/product", resource=res,
                                       observed={**evidence, "domain": dom.name, "by": "vendor/product"},
                                       expected="vendor/product or controller")
                if not h.by_ids and (h.bus, h.device) == (phone.bus, phone.dev):
                    return self.warn(f"{where} is passed to {dom.name} by bus/device: after a replug or reboot the "
                                     "phone gets a new device number and the VM loses it", resource=res,
                                     observed={**evidence, "domain": dom.name, "by": "bus/device",
                                               "pinned": [h.bus, h.device]},
                                     expected="vendor/product or controller")
        lost = [h for h in stale if not h.by_ids]
        if lost:
            h = lost[0]
            return self.fail(f"{where} is not passed to {h.domain}: the domain pins bus {h.bus} device {h.device}, "
                             "which no longer exists (the phone re-enumerated)", resource=res,
                             observed={**evidence, "domain": h.domain, "by": "none", "pinned": [h.bus, h.device]},
                             expected="vendor/product or controller")
        if required:
            dom = domains[0]
            return self.fail(f"{where} is not passed to {dom.name}: adb in the VM cannot see it", resource=res,
                             observed={**evidence, "domain": dom.name, "by": "none"},
                             expected="vendor/product or controller")
        return self.skip(f"{where} is not passed to any domain: the agent is taken to run on this host "
                         "(set profile.agent_domain when it runs in a VM)", resource=res)


class UsbInGuest(Check):
    meta = CheckMeta(
        id="device.usb.guest",
        title="The phone's USB device is visible inside the agent's VM",
        severity=Severity.HIGH,
        scope=(Scope.DEVICE,),
        runs_on=(Scope.GUEST,),
        remediation="pass the phone to the domain on the host (see device.usb.passthrough), then replug it; the "
                    "guest needs a USB controller (qemu-xhci) and usbcore",
        docs=docs_link("device.usb.guest"),
        description="The guest's /sys/bus/usb/devices lists the phone with adbd's interface (ff/42/01); a "
                    "profile.devices USB serial is matched against the device's serial attribute.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        devices = ctx.fact(usb_devices)
        phones = [d for d in devices if d.adb]
        wanted = [s for s in ctx.profile.get("devices") or [] if not is_endpoint(s) and "._adb-" not in s]
        seen = ", ".join(d.ids for d in devices) or "none"
        if ctx.profile.get("devices") and not wanted:
            yield self.skip("every profile device is reached over TCP: no USB path needed", resource="usb")
            return
        if wanted:
            for serial in wanted:
                match = next((d for d in devices if d.serial == serial), None)
                if match is None:
                    yield self.fail(f"{serial} is not on this VM's USB (devices here: {seen})", resource=serial,
                                    observed="absent", expected="listed in /sys/bus/usb/devices")
                elif not match.adb:
                    yield self.fail(f"{serial} ({match.ids}) is here but shows no ADB interface: USB debugging is "
                                    "off or the phone is in charging-only mode", resource=serial,
                                    observed="no adb interface", expected="adb interface ff/42/01")
                else:
                    yield self.passed(f"{serial} ({match.ids}) is on this VM's USB at {match.name}", resource=serial,
                                      observed=match.ids, expected="listed in /sys/bus/usb/devices")
            return
        if phones:
            for d in phones:
                yield self.passed(f"{d.label or 'phone'} {d.ids} is on this VM's USB at {d.name}",
                                  resource=_resource(d), observed=d.ids, expected="adb interface visible")
            return
        yield self.warn(f"no USB device with an ADB interface in this VM (devices here: {seen}): fine only when the "
                        "phones are reached over TCP", resource="usb", observed=seen, expected="a phone")


CHECKS = (UsbPassthrough, UsbInGuest)
