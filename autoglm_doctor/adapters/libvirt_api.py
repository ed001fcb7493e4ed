"""libvirt adapter (libvirt-python, an optional extra, imported lazily)."""

from __future__ import annotations

import os
from typing import Any

from autoglm_doctor.targets.base import AdapterUnavailable, TargetError

INSTALL_HINT = (
    "install the extra: apt-get install libvirt-dev pkg-config gcc python3-dev && "
    "pip install 'autoglm-doctor[libvirt]'"
)
DEFAULT_URI = "qemu:///system"
# virErrorNumber values meaning "you may not": auth failed, access denied (ACL/polkit), auth cancelled/unavailable
DENIED_CODES = (45, 55, 79, 94)
VIR_DOMAIN_XML_INACTIVE = 2


def denied(code: int | None, message: str) -> bool:
    return code in DENIED_CODES or "permission denied" in message.lower() or "access denied" in message.lower()


class LibvirtAdapter:
    API = ("version", "capabilities", "domains", "networks")

    def __init__(self, conn: Any, libvirt: Any) -> None:
        self._conn = conn
        self._libvirt = libvirt

    @classmethod
    def connect(cls, uri: str | None = None) -> "LibvirtAdapter":
        try:
            import libvirt  # heavy C extension, optional
        except ImportError as exc:
            raise AdapterUnavailable("libvirt-python is not installed", hint=INSTALL_HINT, reason="missing") from exc
        uri = uri or os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_URI
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # keep libvirt quiet on stderr
        try:
            conn = libvirt.openReadOnly(uri)
        except libvirt.libvirtError as exc:
            if denied(exc.get_error_code(), str(exc)):
                raise AdapterUnavailable(
                    f"permission denied connecting to libvirt at {uri}: {exc}",
                    hint="run as root, or as a member of the libvirt group (polkit/unix_sock_group)", reason="denied",
                ) from exc
            raise AdapterUnavailable(
                f"cannot connect to libvirt at {uri}: {exc}",
                hint="start libvirtd (systemctl start libvirtd) or virtqemud",
            ) from exc
        if conn is None:
            raise AdapterUnavailable(f"cannot connect to libvirt at {uri}")
        return cls(conn, libvirt)

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._libvirt.libvirtError as exc:
            raise TargetError(f"libvirt error: {exc}") from exc

    def version(self) -> dict[str, Any]:
        return {
            "library": self._call(self._conn.getLibVersion),
            "hypervisor": self._call(self._conn.getVersion),
            "uri": self._call(self._conn.getURI),
        }

    def capabilities(self) -> str:
        return self._call(self._conn.getCapabilities)

    def domains(self) -> list[dict[str, Any]]:
        out = []
        for dom in self._call(self._conn.listAllDomains, 0):
            try:
                state, reason = dom.state()
                entry = {
                    "name": dom.name(),
                    "uuid": dom.UUIDString(),
                    "active": bool(dom.isActive()),
                    "state": int(state),
                    "reason": int(reason),
                    "persistent": bool(dom.isPersistent()),
                    "autostart": bool(dom.autostart()) if dom.isPersistent() else False,
                    "xml": dom.XMLDesc(0),
                }
                if entry["active"] and entry["persistent"]:  # the definition the next start uses
                    entry["inactive_xml"] = dom.XMLDesc(VIR_DOMAIN_XML_INACTIVE)
            except self._libvirt.libvirtError as exc:
                if exc.get_error_code() == 42:  # VIR_ERR_NO_DOMAIN: undefined while we listed
                    continue
                raise TargetError(f"libvirt error reading a domain: {exc}") from exc
            out.append(entry)
        return sorted(out, key=lambda d: d["name"])

    def networks(self) -> list[dict[str, Any]]:
        out = []
        for net in self._call(self._conn.listAllNetworks, 0):
            out.append({"name": net.name(), "active": bool(net.isActive()), "xml": net.XMLDesc(0)})
        return sorted(out, key=lambda d: d["name"])

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # noqa: BLE001
            pass
