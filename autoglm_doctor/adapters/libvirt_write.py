"""The writable libvirt connection the remediation engine redefines domains through (checks only
ever get the read-only one). libvirt-python is imported lazily."""

from __future__ import annotations

from typing import Any

from autoglm_doctor.targets.base import AdapterUnavailable, TargetError

# VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE: the persistent definition, secrets included
INACTIVE_SECURE = 1 | 2


class LibvirtWriter:
    def __init__(self, conn: Any, libvirt: Any, uri: str) -> None:
        self._conn = conn
        self._libvirt = libvirt
        self.uri = uri

    @classmethod
    def connect(cls, uri: str) -> "LibvirtWriter":
        try:
            import libvirt
        except ImportError as exc:
            raise AdapterUnavailable("libvirt-python is not installed", reason="missing") from exc
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise TargetError(f"cannot open libvirt at {uri} for writing: {exc}") from exc
        return cls(conn, libvirt, uri)

    def domain_xml(self, name: str) -> str | None:
        try:
            dom = self._conn.lookupByName(name)
        except self._libvirt.libvirtError as exc:
            if exc.get_error_code() == self._libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise TargetError(f"libvirt: {exc}") from exc
        return dom.XMLDesc(INACTIVE_SECURE)

    def define_xml(self, xml: str) -> None:
        try:
            self._conn.defineXML(xml)
        except self._libvirt.libvirtError as exc:
            raise TargetError(f"libvirt refused the domain XML: {exc}") from exc

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # noqa: BLE001
            pass
