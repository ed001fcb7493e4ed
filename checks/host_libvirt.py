"""Host basics: the libvirt daemon the VM runs under, and whether it offers KVM (not only TCG) guests."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.targets.base import AdapterUnavailable, GarbageValue


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def checked_version(version: object) -> dict:
    """libvirt's version answer, or GarbageValue naming the field a daemon (or snapshot) got wrong."""
    if not isinstance(version, dict):
        raise GarbageValue(f"unexpected answer from libvirt version: {type(version).__name__}, not an object")
    for key in ("library", "hypervisor"):
        value = version.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**10):
            raise GarbageValue(f"unexpected answer from libvirt version: {key} is {value!r:.80} (expected a "
                               "version number such as 9000000)")
    if version.get("library") is None:
        raise GarbageValue("unexpected answer from libvirt version: library is missing")
    if version.get("uri") is not None and not isinstance(version["uri"], str):
        raise GarbageValue(f"unexpected answer from libvirt version: uri is {version['uri']!r:.80} (expected text)")
    return version


def kvm_archs(capabilities_xml: object) -> tuple[list[str], list[str]]:
    """(architectures with KVM guests, architectures with TCG-only guests) from the capabilities XML."""
    if not isinstance(capabilities_xml, str):
        raise GarbageValue(f"unexpected answer from libvirt capabilities: {type(capabilities_xml).__name__}, "
                           "not XML text")
    try:
        root = ET.fromstring(capabilities_xml)
    except ET.ParseError as exc:
        raise GarbageValue(f"libvirt capabilities XML does not parse: {exc}") from exc
    kvm: list[str] = []
    tcg: list[str] = []
    for guest in root.findall("guest"):
        if (guest.findtext("os_type") or "").strip() != "hvm":
            continue
        arch = guest.find("arch")
        if arch is None:
            continue
        types = {d.get("type") for d in arch.findall("domain")}
        (kvm if "kvm" in types else tcg).append(arch.get("name", "?"))
    return kvm, tcg


class LibvirtDaemon(Check):
    meta = CheckMeta(
        id="host.libvirt.daemon",
        title="libvirt answers and offers KVM guests",
        severity=Severity.HIGH,
        scope=(Scope.HOST,),
        remediation="install and start libvirt (apt-get install libvirt-daemon-system; systemctl enable --now libvirtd)",
        docs=docs_link("host.libvirt.daemon"),
        description="Connects read-only to qemu:///system, reports the versions, and reads the capabilities: "
                    "a host whose libvirt offers only type='qemu' (TCG) guests cannot run the VM at usable speed.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        try:
            libvirt = ctx.target.adapter("libvirt")
            version = checked_version(libvirt.version())
        except AdapterUnavailable as exc:
            if exc.reason == "missing":
                yield self.skip(str(exc), resource="connection", remediation=exc.hint)
            else:
                yield self.fail(str(exc), resource="connection", observed="unreachable", expected="connected",
                                remediation=exc.hint or None)
            return
        hypervisor = version.get("hypervisor") or 0
        yield self.passed(
            f"libvirt {_version(int(version['library']))} at {version.get('uri', '?')}, "
            f"hypervisor {_version(int(hypervisor)) if hypervisor else 'unknown'}",
            resource="connection", observed=version.get("uri"), expected="connected",
        )
        kvm, tcg = kvm_archs(libvirt.capabilities())
        if kvm:
            yield self.passed(f"KVM guests available for {', '.join(sorted(kvm))}", resource="kvm",
                              observed=sorted(kvm), expected="a kvm domain type")
        else:
            yield self.fail(
                "libvirt offers only emulated (TCG, type='qemu') guests"
                + (f" for {', '.join(sorted(tcg))}" if tcg else "")
                + ": /dev/kvm is missing or unusable for libvirt's QEMU",
                resource="kvm", observed=sorted(tcg), expected="a kvm domain type",
                remediation="fix host.kvm.device and host.cpu.virtualization first, then restart libvirtd so it re-probes QEMU",
            )


CHECKS = (LibvirtDaemon,)
