"""Plan for device.usb.passthrough: give the agent's domain a USB hostdev that names the phone by
vendor/product (startupPolicy='optional'), replacing one pinned by bus/device, as one redefinition of the
domain (the engine keeps the old definition for the undo; a running VM sees the change at its next start,
``virsh attach-device DOMAIN FILE --live`` hot-plugs it now)."""

from __future__ import annotations

from typing import Any, Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.usb import with_usb_hostdev
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, Plan, RedefineDomain
from autoglm_doctor.targets.base import TargetError

DEFAULT_URI = "qemu:///system"


def _libvirt(ctx: Context) -> tuple[str, dict[str, str]]:
    """The connection URI and each domain's persistent definition (what its next start uses)."""
    lv = ctx.target.adapter("libvirt")
    uri = ctx.profile.get("libvirt_uri")
    if not uri:
        try:
            uri = str((lv.version() or {}).get("uri") or DEFAULT_URI)
        except TargetError:
            uri = DEFAULT_URI
    return uri, {str(d.get("name")): str(d.get("inactive_xml") or d.get("xml", "")) for d in lv.domains() or []}


class UsbHostdev(Fix):
    meta = FixMeta(
        id="fix.usb.hostdev",
        title="Pass the phone to the agent's domain by USB vendor/product",
        fixes=("device.usb.passthrough",),
        risk=Severity.MEDIUM,
        description="Redefines the domain with a vendor/product <hostdev type='usb'> (startupPolicy='optional'); "
                    "a bus/device hostdev for the same phone is removed.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        wanted: dict[str, list[dict[str, Any]]] = {}
        for f in findings:
            ev = f.observed if isinstance(f.observed, dict) else {}
            if ev.get("domain") and ev.get("vendor") and ev.get("product") and ev.get("by") in ("none", "bus/device"):
                wanted.setdefault(str(ev["domain"]), []).append(ev)
        if not wanted:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings))
        try:
            uri, xmls = _libvirt(ctx)
        except TargetError as exc:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings), notes=(f"libvirt: {exc}",))
        changes: list[Change] = []
        notes: list[str] = []
        for domain, evs in sorted(wanted.items()):
            xml = xmls.get(domain)
            if not xml:
                notes.append(f"domain {domain} is not defined on {uri}")
                continue
            for ev in evs:
                pinned = ev.get("pinned")
                xml = with_usb_hostdev(xml, str(ev["vendor"]), str(ev["product"]),
                                       (int(pinned[0]), int(pinned[1])) if pinned else None)
            changes.append(RedefineDomain(uri, domain, xml))
            notes.append(f"{domain} sees the phone from its next start (virsh attach-device {domain} FILE --live "
                         "hot-plugs it now)")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


FIXES = (UsbHostdev,)
