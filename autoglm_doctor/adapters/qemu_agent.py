"""The QEMU guest agent, reached through libvirtd (libvirt-python's ``libvirt_qemu``, imported lazily).

qemu-ga runs inside the guest on a virtio-serial port named ``org.qemu.guest_agent.0``; libvirtd owns the
host end of that channel and relays one JSON command at a time (``virDomainQemuAgentCommand``), each
preceded by a ``guest-sync`` handshake. Every call costs a few milliseconds (under TCG ~3 ms per file
operation, ~20 ms for guest-exec), so the connection and the domain handle are opened once per run.

Agent commands need a read-write libvirt connection (libvirt refuses them on a read-only one). This
module only sends commands; what they mean is the guest-agent target's business. Failures become
``AgentError`` with one line that says what went wrong: the domain is missing or off, the agent is not
connected or not answering within the timeout, or the reply is not JSON.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from autoglm_doctor.targets.base import AdapterUnavailable, TargetError

DEFAULT_URI = "qemu:///system"
INSTALL_HINT = (
    "install the extra: apt-get install libvirt-dev pkg-config gcc python3-dev && "
    "pip install 'autoglm-doctor[libvirt]'"
)


class AgentError(TargetError):
    """The agent could not answer a command. ``unreachable`` when the agent (or the domain) is not there
    at all, so the target can stop asking."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class AgentCommandError(TargetError):
    """The agent answered with an error (the guest's errno text), e.g. a file that cannot be opened."""


class QemuAgent:
    """One libvirt connection and one domain handle; ``command(name, args)`` returns the ``return`` value.

    Calls are serialised: qemu-ga handles one command at a time anyway, and libvirt would otherwise
    queue them behind its per-domain job lock."""

    def __init__(self, domain_name: str, uri: str | None = None, timeout: int = 5) -> None:
        self.domain_name = domain_name
        self.uri = uri or os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_URI
        self.timeout = timeout
        self._lock = threading.Lock()
        try:
            import libvirt
            import libvirt_qemu
        except ImportError as exc:
            raise AdapterUnavailable("libvirt-python is not installed", hint=INSTALL_HINT, reason="missing") from exc
        self._libvirt = libvirt
        self._qemu = libvirt_qemu
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        try:
            self._conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise AgentError(f"cannot connect to libvirt at {self.uri}: {_one_line(exc)}", unreachable=True) from exc
        try:
            self._dom = self._conn.lookupByName(domain_name)
        except libvirt.libvirtError as exc:
            self.close()
            raise AgentError(f"no libvirt domain {domain_name!r} at {self.uri}", unreachable=True) from exc
        if not self._dom.isActive():
            self.close()
            raise AgentError(f"libvirt domain {domain_name!r} is not running", unreachable=True)

    def command(self, execute: str, arguments: dict[str, Any] | None = None, *, timeout: int | None = None) -> Any:
        payload: dict[str, Any] = {"execute": execute}
        if arguments:
            payload["arguments"] = arguments
        wait = self.timeout if timeout is None else timeout
        with self._lock:
            try:
                raw = self._qemu.qemuAgentCommand(self._dom, json.dumps(payload), int(wait), 0)
            except self._libvirt.libvirtError as exc:
                raise _classify(exc, execute, wait) from exc
        if raw is None:
            raise AgentError(f"guest agent gave no reply to {execute}")
        try:
            reply = json.loads(raw)
        except ValueError as exc:
            raise AgentError(f"guest agent replied to {execute} with something that is not JSON: {raw[:80]!r}") from exc
        if not isinstance(reply, dict) or "return" not in reply:
            if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
                raise AgentCommandError(str(reply["error"].get("desc", reply["error"]))[:300])
            raise AgentError(f"guest agent replied to {execute} without a return value: {raw[:80]!r}")
        return reply["return"]

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # noqa: BLE001 - closing must never mask a report
            pass


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _classify(exc: Any, execute: str, wait: int) -> TargetError:
    """libvirt's error codes for the agent: not connected / not responding / the guest's own error."""
    text = _one_line(exc)
    import libvirt as lv

    code = exc.get_error_code() if hasattr(exc, "get_error_code") else None
    not_running = {getattr(lv, "VIR_ERR_OPERATION_INVALID", -1), getattr(lv, "VIR_ERR_NO_DOMAIN", -1)}
    if "parse" in text or "malformed" in text.lower():
        # libvirt then refuses every later command ("not available due to an error") until qemu-ga reconnects
        return AgentError(f"the guest agent sent a malformed reply libvirt cannot parse ({text[:160]})",
                          unreachable=True)
    if "due to an error" in text:
        return AgentError(f"libvirt stopped talking to the guest agent after an earlier malformed reply ({text})",
                          unreachable=True)
    if code == getattr(lv, "VIR_ERR_AGENT_UNRESPONSIVE", -1) or "not responding" in text or "not connected" in text:
        return AgentError(f"the guest agent is not answering ({text}); is qemu-ga running in the guest "
                          "with an org.qemu.guest_agent.0 channel?", unreachable=True)
    if code == getattr(lv, "VIR_ERR_OPERATION_TIMEOUT", -1) or "timed out" in text.lower():
        return AgentError(f"the guest agent did not answer {execute} within {wait}s", unreachable=True)
    if code in not_running:
        return AgentError(f"the domain cannot run agent commands: {text}", unreachable=True)
    if code == getattr(lv, "VIR_ERR_AGENT_COMMAND_FAILED", -1) or "unable to execute" in text:
        return AgentCommandError(text)
    return AgentError(f"guest agent command {execute} failed: {text}")
