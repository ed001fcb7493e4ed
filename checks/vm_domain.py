"""The AutoGLM VM's libvirt domain: that it is defined and readable, its state (with the QEMU log decoded when
it failed to start), autostart, and the QEMU guest-agent channel the guest targets talk through.

Every vm.* check reviews the domains of ``domain_set``: profile.vm_domains, else every domain with a PCI
hostdev, on profile.libvirt_uri (``--libvirt-uri``). ``per_resource.PerDomain`` is the per-domain base: a
check is its metadata and one ``judge(ctx, dom, rec)`` method; libvirt being unreachable, a missing domain or
unparsable XML are reported once, by vm.domain.defined, and the other checks skip with a pointer to it.
"""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.domain import CRASHED, GUEST_AGENT, PAUSED, Domain, DomainRecord, domain_set
from autoglm_doctor.facts.qemu_log import read_qemu_log
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import NO_DOMAINS, PerDomain

def _meta(id: str, title: str, severity: Severity, remediation: str, description: str,
          fix: str | None = None) -> CheckMeta:
    return CheckMeta(id=id, title=title, severity=severity, scope=(Scope.VM,), remediation=remediation,
                     docs=docs_link(id), description=description, fix=fix)


class DomainDefined(Check):
    meta = _meta(
        "vm.domain.defined", "The AutoGLM VM's libvirt domain is defined and readable", Severity.HIGH,
        "start libvirtd, run as root (or a libvirt group member), or define the domain (virsh define)",
        "Connects to profile.libvirt_uri (or --libvirt-uri; default qemu:///system) and finds profile.vm_domains, "
        "else every domain with a PCI hostdev. libvirtd down, permission denied, a missing domain and XML that "
        "does not parse are distinct findings.")

    def run(self, ctx: Context) -> Iterable[Finding]:
        ds = ctx.fact(domain_set)
        if ds.unavailable:
            if ds.kind in ("missing", "not-captured"):
                yield self.skip(ds.unavailable, resource="libvirt", remediation=ds.hint or None)
            elif ds.kind == "denied":
                yield self.fail(f"permission denied: {ds.unavailable}", resource="libvirt", observed="denied",
                                expected="read access", remediation=ds.hint or None)
            elif ds.kind == "unreachable":
                yield self.fail(f"libvirtd is not answering: {ds.unavailable}", resource="libvirt",
                                observed="unreachable", expected="connected", remediation=ds.hint or None)
            else:
                yield self.error(ds.unavailable, resource="libvirt")
            return
        for name in ds.missing:
            yield self.fail(f"profile.vm_domains names {name!r}, but no such domain is defined at {ds.uri}",
                            resource=name, observed="not defined", expected="defined",
                            remediation=f"define it (virsh -c {ds.uri if '://' in ds.uri else 'qemu:///system'} "
                                        f"define {name}.xml) or fix profile.vm_domains")
        for rec in ds.records:
            if rec.domain is None:
                yield self.error(f"the domain XML libvirt returned does not parse: {rec.problem}", resource=rec.name)
                continue
            dom = rec.domain
            yield self.passed(f"{dom.name} is defined ({rec.state_text}; {len(dom.hostdevs)} PCI hostdev(s), "
                              f"machine {dom.machine or '?'})", resource=rec.name, observed="defined",
                              expected="defined")
        if not ds.records and not ds.missing:
            yield self.skip(NO_DOMAINS, resource="domains")


class DomainState(PerDomain):
    meta = _meta(
        "vm.domain.state", "The VM is not crashed, paused or failing to start", Severity.HIGH,
        "read the decoded QEMU log lines in the finding; virsh start NAME after fixing their cause",
        "Domain state (running, paused, crashed, shut off). When the last start failed, the last lines of "
        "/var/log/libvirt/qemu/NAME.log, with the known VFIO messages decoded (group not viable, failed to set "
        "iommu for container, BAR no space, failed to mmap).")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        log = read_qemu_log(ctx.target, rec.name) if not rec.active or rec.state == CRASHED else None
        ended_failed = bool(log and log.text and "shutting down, reason=failed" in log.text)
        if rec.failed_start or ended_failed:
            decoded = log.decoded() if log else []
            tail = log.tail() if log else []
            qemu_ran = rec.state == CRASHED or bool(log and log.text and "starting up" in log.text)
            why = "; ".join(d.meaning for d in decoded) or (
                "no known message in its QEMU log" if qemu_ran else
                f"libvirt refused it before QEMU ran (virsh start {rec.name} prints libvirt's reason)")
            what = "QEMU crashed" if rec.state == CRASHED else "its last start failed"
            text = f"{rec.name} is {rec.state_text} and {what}: {why}"
            if log and log.error:
                text += f" ({log.error})"
            elif log and log.text is None:
                text += f" ({log.path} does not exist)"
            yield self.fail(text, resource=rec.name, observed={"state": rec.state_text, "log": tail},
                            expected="running or cleanly shut off",
                            remediation="; ".join(d.action for d in decoded) or None)
        elif rec.state == PAUSED:
            yield self.warn(f"{rec.name} is paused (reason {rec.reason}): a paused guest serves nothing",
                            resource=rec.name, observed=rec.state_text, expected="running",
                            remediation=f"virsh resume {rec.name} (a pause on an I/O error means the disk's "
                                        "storage is full or gone)")
        else:
            yield self.passed(f"{rec.name} is {rec.state_text}", resource=rec.name, observed=rec.state_text,
                              expected="running or cleanly shut off")


class DomainAutostart(PerDomain):
    meta = _meta(
        "vm.domain.autostart", "The VM starts with the host", Severity.LOW,
        "virsh autostart NAME",
        "A domain without autostart stays off after a host reboot, and with it the model server.",
        fix="fix.vm.autostart")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        if rec.autostart is None:
            yield self.skip("autostart was not recorded for this domain", resource=rec.name)
        elif rec.autostart:
            yield self.passed(f"{rec.name} starts with the host", resource=rec.name, observed="on", expected="on")
        else:
            yield self.warn(f"{rec.name} does not start with the host: after a reboot AutoGLM stays down",
                            resource=rec.name, observed="off", expected="on",
                            remediation=f"virsh autostart {rec.name}")


class AgentChannel(PerDomain):
    meta = _meta(
        "vm.agent.channel", "The VM has a QEMU guest-agent channel", Severity.MEDIUM,
        f"add <channel type='unix'><target type='virtio' name='{GUEST_AGENT}'/></channel> to <devices>",
        "The guest targets (libvirt:DOMAIN) read the guest through qemu-guest-agent, which needs a virtio-serial "
        f"channel named {GUEST_AGENT}; without it the guest cannot be checked from the host.", fix="fix.vm.domain_xml")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        if dom.has_agent_channel:
            yield self.passed(f"{rec.name} has the {GUEST_AGENT} channel", resource=rec.name,
                              observed=GUEST_AGENT, expected=GUEST_AGENT)
        else:
            names = [n for _t, n in dom.channels] or ["none"]
            yield self.warn(f"{rec.name} has no {GUEST_AGENT} channel: the guest agent cannot run, so the guest "
                            "cannot be checked from the host", resource=rec.name,
                            observed=", ".join(names), expected=GUEST_AGENT)


CHECKS = (DomainDefined, DomainState, DomainAutostart, AgentChannel)
