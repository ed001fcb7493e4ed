"""libvirt adapter (libvirt-python, an optional extra, imported lazily).

Every libvirt call runs where it can be abandoned (adapters/abandon.py): the calls block in C, and a
daemon that accepts and never answers would otherwise hold a check for its whole budget. The connection
also turns on libvirt's keepalive (which needs libvirt's event loop running, here in a daemon thread),
so a daemon that stops answering mid-run is noticed by libvirt itself and the connection closed.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from autoglm_doctor.adapters.abandon import CallTimedOut, call_abandonable, env_seconds
from autoglm_doctor.targets.base import AdapterUnavailable, TargetError

INSTALL_HINT = (
    "install the extra: apt-get install libvirt-dev pkg-config gcc python3-dev && "
    "pip install 'autoglm-doctor[libvirt]'"
)
DEFAULT_URI = "qemu:///system"
# virErrorNumber values meaning "you may not": auth failed, access denied (ACL/polkit), auth cancelled/unavailable
DENIED_CODES = (45, 55, 79, 94)
VIR_DOMAIN_XML_INACTIVE = 2
CALL_TIMEOUT = 10.0  # seconds for one adapter call (AUTOGLM_DOCTOR_LIBVIRT_TIMEOUT)
KEEPALIVE = (5, 3)  # a probe every 5 s; 3 unanswered and libvirt closes the connection
_event_loop_lock = threading.Lock()
_event_loop_started = False


def _start_event_loop(libvirt: Any) -> bool:
    """libvirt's default event loop in a daemon thread (keepalive needs one); once per process."""
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return True
        try:
            libvirt.virEventRegisterDefaultImpl()
            # a periodic timer, so the loop wakes up even with no handle registered yet
            libvirt.virEventAddTimeout(1000, lambda _timer, _opaque: None, None)
        except Exception:  # noqa: BLE001 - keepalive is a bonus; calls are abandonable anyway
            return False

        def loop() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except Exception:  # noqa: BLE001 - never let the loop thread die noisily
                    return

        threading.Thread(target=loop, name="libvirt-event-loop", daemon=True).start()
        _event_loop_started = True
        return True


def denied(code: int | None, message: str) -> bool:
    return code in DENIED_CODES or "permission denied" in message.lower() or "access denied" in message.lower()


class LibvirtAdapter:
    API = ("version", "capabilities", "domains", "networks")

    def __init__(self, conn: Any, libvirt: Any, uri: str = DEFAULT_URI, timeout: float = CALL_TIMEOUT) -> None:
        self._conn = conn
        self._libvirt = libvirt
        self._uri = uri
        self._timeout = timeout
        self._dead: str | None = None

    @classmethod
    def connect(cls, uri: str | None = None) -> "LibvirtAdapter":
        try:
            import libvirt  # heavy C extension, optional
        except ImportError as exc:
            raise AdapterUnavailable("libvirt-python is not installed", hint=INSTALL_HINT, reason="missing") from exc
        uri = uri or os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_URI
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # keep libvirt quiet on stderr
        timeout = env_seconds("AUTOGLM_DOCTOR_LIBVIRT_TIMEOUT", CALL_TIMEOUT)
        keepalive = _start_event_loop(libvirt)
        try:
            conn = call_abandonable(libvirt.openReadOnly, uri, timeout=timeout, what=f"libvirt at {uri}")
        except CallTimedOut as exc:
            raise AdapterUnavailable(f"cannot connect to libvirt at {uri}: {exc}",
                                     hint="the daemon accepts connections but does not answer: restart libvirtd "
                                          "(or virtqemud) and check its log") from exc
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
        if keepalive:
            try:
                conn.setKeepAlive(*KEEPALIVE)
            except Exception:  # noqa: BLE001 - a driver without keepalive (test:///) still works
                pass
        return cls(conn, libvirt, uri, timeout)

    def _run(self, what: str, fn: Any, *args: Any) -> Any:
        """One adapter method's libvirt work, abandoned past the deadline; afterwards the connection is
        taken as dead and every call fails at once."""
        if self._dead:
            raise TargetError(self._dead)
        try:
            return call_abandonable(fn, *args, timeout=self._timeout, what=f"libvirt {what} at {self._uri}")
        except CallTimedOut as exc:
            self._dead = f"{exc}; libvirt stopped answering, later calls are not attempted"
            raise TargetError(str(exc)) from exc

    def _direct(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._libvirt.libvirtError as exc:
            raise TargetError(f"libvirt error: {exc}") from exc

    def _call(self, fn: Any, *args: Any) -> Any:
        return self._run(getattr(fn, "__name__", "call"), self._direct, fn, *args)

    def version(self) -> dict[str, Any]:
        conn, call = self._conn, self._direct
        return self._run("version", lambda: {
            "library": call(conn.getLibVersion),
            "hypervisor": call(conn.getVersion),
            "uri": call(conn.getURI),
        })

    def capabilities(self) -> str:
        return self._call(self._conn.getCapabilities)

    def domains(self) -> list[dict[str, Any]]:
        return self._run("domains", self._domains)

    def _domains(self) -> list[dict[str, Any]]:
        out = []
        for dom in self._direct(self._conn.listAllDomains, 0):
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
        return self._run("networks", self._networks)

    def _networks(self) -> list[dict[str, Any]]:
        out = []
        for net in self._direct(self._conn.listAllNetworks, 0):
            out.append({"name": net.name(), "active": bool(net.isActive()), "xml": net.XMLDesc(0)})
        return sorted(out, key=lambda d: d["name"])

    def close(self) -> None:
        if self._dead:
            return  # a call may still be blocked on this connection: closing it could block too
        try:
            call_abandonable(self._conn.close, timeout=self._timeout, what="libvirt close")
        except Exception:  # noqa: BLE001
            pass
