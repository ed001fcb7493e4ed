"""Plan for a VM that does not start with the host (vm.domain.autostart): ``virsh autostart`` on the
libvirt connection the checks read, undone with ``virsh autostart --disable``. libvirt keeps the flag
as a link in its autostart directory; nothing in the domain's definition changes and a running guest
is not touched."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.domain import domain_set
from autoglm_doctor.model import Finding, FixMeta, Severity, Status
from autoglm_doctor.plan import Change, Fix, Plan, RunCommand


class DomainAutostart(Fix):
    meta = FixMeta(
        id="fix.vm.autostart",
        title="Start the VM with the host (virsh autostart)",
        fixes=("vm.domain.autostart",),
        risk=Severity.LOW,
        description="virsh [--connect profile.libvirt_uri] autostart DOMAIN for each domain that does not start with the host; "
                    "undo: virsh autostart --disable DOMAIN.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        ds = ctx.fact(domain_set)
        names = {rec.name for rec in ds.records if rec.domain is not None and rec.autostart is False}
        mine = [f for f in findings if f.status is Status.WARN and f.resource in names]
        # the connection the checks read: the profile's libvirt_uri, else libvirt's default (as virsh's own)
        connect = ("--connect", ctx.profile.get("libvirt_uri")) if ctx.profile.is_set("libvirt_uri") else ()
        changes: list[Change] = []
        for f in mine:
            changes.append(RunCommand(("virsh", *connect, "autostart", f.resource),
                                      undo=("virsh", *connect, "autostart", "--disable", f.resource)))
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(mine),
                    notes=("the guest starts at the next host boot (libvirt-guests/libvirtd); it is not started now",))


FIXES = (DomainAutostart,)
