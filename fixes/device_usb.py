"""Plan for device.usb.passthrough: give the agent's domain a USB hostdev that names the phone by
vendor/product (startupPolicy='optional'), replacing one pinned by bus/device. The hostdev XML is written
to a file and handed to ``virsh attach-device --config`` (the persistent definition: the VM sees the phone
from its next start; ``virsh attach-device DOMAIN FILE --live`` hot-plugs it now)."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.usb import hostdev_xml, pinned_hostdev_xml
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, Plan, RunCommand, WriteFile

STATE_DIR = "/var/lib/autoglm-doctor"


class UsbHostdev(Fix):
    meta = FixMeta(
        id="fix.usb.hostdev",
        title="Pass the phone to the agent's domain by USB vendor/product",
        fixes=("device.usb.passthrough",),
        risk=Severity.MEDIUM,
        description="virsh attach-device --config with a vendor/product hostdev; a bus/device hostdev for the "
                    "same phone is detached first.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        changes: list[Change] = []
        notes: list[str] = []
        for f in findings:
            ev = f.observed if isinstance(f.observed, dict) else {}
            domain, vendor, product = ev.get("domain"), ev.get("vendor"), ev.get("product")
            if not (domain and vendor and product) or ev.get("by") not in ("none", "bus/device"):
                continue
            pinned = ev.get("pinned")
            if pinned:
                old = f"{STATE_DIR}/{domain}-usb-bus{pinned[0]}-dev{pinned[1]}.xml"
                changes += [WriteFile(old, pinned_hostdev_xml(int(pinned[0]), int(pinned[1])), mode=0o600),
                            RunCommand(("virsh", "detach-device", domain, old, "--config"),
                                       undo=("virsh", "attach-device", domain, old, "--config"))]
            new = f"{STATE_DIR}/{domain}-usb-{vendor}-{product}.xml"
            changes += [WriteFile(new, hostdev_xml(vendor, product), mode=0o600),
                        RunCommand(("virsh", "attach-device", domain, new, "--config"),
                                   undo=("virsh", "detach-device", domain, new, "--config"))]
            notes.append(f"{domain} sees the phone from its next start; now: virsh attach-device {domain} {new} --live")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


FIXES = (UsbHostdev,)
