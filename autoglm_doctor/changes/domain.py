"""Redefine a libvirt domain from new XML (``virsh define``), keeping the old definition.

The before-state is the domain's *inactive* XML with secure data (``VIR_DOMAIN_XML_INACTIVE |
VIR_DOMAIN_XML_SECURE``): what ``virsh dumpxml --inactive --security-info`` prints, so a VNC password
or a disk secret survives the round trip and the undo defines exactly what was there. A running
domain keeps its live configuration until it is shut down and started again (that is how libvirt
applies a persistent definition); the step says so. libvirt is reached through the Mutator's
writable adapter, never by checks.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, ClassVar

from autoglm_doctor.targets.base import Mutator, Target, mutator_of
from autoglm_doctor.changes.base import Change, ChangeFailed, register


def canonical(xml: str) -> str:
    """XML compared by structure: whitespace between elements does not count."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ChangeFailed(f"not well-formed domain XML: {exc}") from None
    for el in root.iter():
        if el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    return ET.canonicalize(ET.tostring(root, encoding="unicode"), strip_text=True)


def libvirt_writer(mut: Mutator, uri: str) -> Any:
    """The Mutator's writable libvirt connection (an optional capability: a sysroot has none)."""
    connect = getattr(mut, "libvirt", None)
    if not callable(connect):
        raise ChangeFailed(f"{mut.name} cannot redefine libvirt domains")
    return connect(uri)


@register
@dataclass(frozen=True)
class RedefineDomain(Change):
    uri: str
    domain: str
    new_xml: str
    kind: ClassVar[str] = "redefine_domain"
    risk: ClassVar[str] = "disruptive"

    def describe(self) -> str:
        return f"redefine libvirt domain {self.domain} on {self.uri} (takes effect at its next start)"

    def preview(self, target: Target) -> str:
        import difflib

        try:
            doms = target.adapter("libvirt").domains()
            old = next((d["xml"] for d in doms if d["name"] == self.domain), "")
        except Exception:  # noqa: BLE001 - a preview must not fail a dry run
            old = ""
        diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), self.new_xml.splitlines(keepends=True),
                                            f"a/{self.domain}.xml", f"b/{self.domain}.xml"))
        return self.describe() + ("\n" + diff if diff else "")

    def _writer(self, target: Target) -> Any:
        return libvirt_writer(mutator_of(target), self.uri)

    def capture(self, target: Target) -> dict[str, Any]:
        old = self._writer(target).domain_xml(self.domain)
        if old is None:
            raise ChangeFailed(f"no domain {self.domain!r} on {self.uri}")
        return {"xml": old}

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return canonical(before["xml"]) == canonical(self.new_xml)

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        writer = libvirt_writer(mut, self.uri)
        writer.define_xml(self.new_xml)
        return {"after_xml": writer.domain_xml(self.domain)}

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        now = self._writer(target).domain_xml(self.domain)
        return now is not None and canonical(now) != canonical(before["xml"]) or \
            canonical(before["xml"]) == canonical(self.new_xml)

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        libvirt_writer(mut, self.uri).define_xml(before["xml"])
