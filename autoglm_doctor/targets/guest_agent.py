"""A libvirt guest read through its QEMU guest agent: ``--target libvirt:DOMAIN``.

Files are read with guest-file-open / guest-file-read / guest-file-close (no network, no login: the
agent is the guest's own daemon on a virtio-serial port), commands run with guest-exec and are polled
with guest-exec-status. Listing, stat and free space run ``find``/``stat`` in the guest (exec_backed).

This target is read-only on purpose and says so (``writable = False``): the agent can write files, but
a fix applied through it could not be journalled or rolled back the way the fix engine requires.

Every reply is validated: a handle that is not an integer, base64 that does not decode, a count that
disagrees with the data — all are ``GarbageValue`` errors that name the command. When the agent or the
domain is gone (not connected, not answering, domain off) the target remembers it and fails every later
call at once with the same one-line reason, so a dead agent costs one timeout, not one per check.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any, Sequence

from autoglm_doctor.targets.base import (
    SMALL_READ_LIMIT,
    AdapterUnavailable,
    CommandResult,
    GarbageValue,
    ReadOnlyTarget,
    TargetError,
    TooLarge,
)
from autoglm_doctor.targets.exec_backed import REMOTE_PATH, ExecMetadata

CHUNK = 1024 * 1024  # qemu-ga caps one guest-file-read at 48 MB; stay well under
DEFAULT_LIMIT = 4 * SMALL_READ_LIMIT  # every read is bounded, also "whole file" reads
_ABSENT = ("No such file or directory", "Not a directory")


class GuestAgentTarget(ExecMetadata):
    kind = "guest-agent"
    role = "guest"
    can_run = True
    writable = False

    def __init__(self, domain: str, *, uri: str | None = None, timeout: int = 5, agent: Any = None) -> None:
        self.domain = domain
        self.name = f"libvirt:{domain}"
        if agent is None:
            from autoglm_doctor.adapters.qemu_agent import QemuAgent

            agent = QemuAgent(domain, uri=uri, timeout=timeout)
        self._agent = agent
        self._down: str | None = None

    # -- agent plumbing ---------------------------------------------------------------------
    def _cmd(self, execute: str, arguments: dict[str, Any] | None = None) -> Any:
        from autoglm_doctor.adapters.qemu_agent import AgentError

        if self._down is not None:
            raise AgentError(self._down, unreachable=True)
        try:
            return self._agent.command(execute, arguments)
        except AgentError as exc:
            if exc.unreachable:
                self._down = f"{self.name}: {exc}"
                raise AgentError(self._down, unreachable=True) from exc
            raise

    @staticmethod
    def _garbage(execute: str, reply: Any) -> GarbageValue:
        return GarbageValue(f"the guest agent's reply to {execute} is malformed: {str(reply)[:120]!r}")

    # -- files ------------------------------------------------------------------------------
    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None:
        from autoglm_doctor.adapters.qemu_agent import AgentCommandError

        if not path.startswith("/"):
            raise ValueError(f"target paths are absolute, got {path!r}")
        cap = DEFAULT_LIMIT if limit is None else limit
        try:
            handle = self._cmd("guest-file-open", {"path": path, "mode": "r"})
        except AgentCommandError as exc:
            if any(text in str(exc) for text in _ABSENT):
                return None
            raise TargetError(f"{path}: {exc}") from exc
        if not isinstance(handle, int) or isinstance(handle, bool) or handle < 0:
            raise self._garbage("guest-file-open", handle)
        try:
            data = bytearray()
            while True:
                try:
                    reply = self._cmd("guest-file-read", {"handle": handle, "count": min(CHUNK, cap + 1 - len(data))})
                except AgentCommandError as exc:
                    raise TargetError(f"{path}: {exc}") from exc
                chunk, eof = self._decode_read(reply)
                data += chunk
                if len(data) > cap:
                    raise TooLarge(f"{path}: larger than the {cap}-byte cap")
                if eof or not chunk:
                    return bytes(data)
        finally:
            try:
                self._cmd("guest-file-close", {"handle": handle})
            except TargetError:
                pass

    def _decode_read(self, reply: Any) -> tuple[bytes, bool]:
        if not isinstance(reply, dict):
            raise self._garbage("guest-file-read", reply)
        count, buf, eof = reply.get("count"), reply.get("buf-b64"), reply.get("eof")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0 or not isinstance(buf, str) \
                or not isinstance(eof, bool):
            raise self._garbage("guest-file-read", reply)
        try:
            chunk = base64.b64decode(buf, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise self._garbage("guest-file-read", reply) from exc
        if len(chunk) != count:
            raise self._garbage("guest-file-read", reply)
        return chunk, eof

    # -- commands ---------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        from autoglm_doctor.adapters.qemu_agent import AgentCommandError

        argv = tuple(argv)
        if not argv:
            raise ValueError("empty argv")
        args = {"path": argv[0], "arg": list(argv[1:]), "capture-output": True,
                "env": [f"PATH={REMOTE_PATH}", "LC_ALL=C", "LANG=C"]}
        try:
            started = self._cmd("guest-exec", args)
        except AgentCommandError as exc:
            if "No such file" in str(exc) or "not found" in str(exc):
                return CommandResult(argv, 127, "", f"{argv[0]}: command not found", not_found=True)
            return CommandResult(argv, 126, "", f"{argv[0]}: {exc}")
        pid = started.get("pid") if isinstance(started, dict) else None
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise self._garbage("guest-exec", started)
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            status = self._cmd("guest-exec-status", {"pid": pid})
            if not isinstance(status, dict) or not isinstance(status.get("exited"), bool):
                raise self._garbage("guest-exec-status", status)
            if status["exited"]:
                return self._exec_result(argv, status)
            if time.monotonic() >= deadline:
                return CommandResult(argv, -9, "", f"timed out after {timeout:g}s (still running in the guest)",
                                     timed_out=True)
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _exec_result(self, argv: tuple[str, ...], status: dict[str, Any]) -> CommandResult:
        code = status.get("exitcode", -status.get("signal", 1) if isinstance(status.get("signal"), int) else 1)
        if not isinstance(code, int) or isinstance(code, bool):
            raise self._garbage("guest-exec-status", status)
        streams = []
        for key in ("out-data", "err-data"):
            raw = status.get(key, "")
            try:
                streams.append(base64.b64decode(raw, validate=True).decode("utf-8", "replace") if raw else "")
            except (binascii.Error, ValueError, TypeError) as exc:
                raise self._garbage("guest-exec-status", status) from exc
        return CommandResult(argv, code, streams[0], streams[1])

    # -- the rest of the protocol -----------------------------------------------------------
    def adapter(self, kind: str) -> Any:
        raise AdapterUnavailable(f"the {kind} API of a guest is not reachable through the guest agent "
                                 f"(use --target ssh://… to the guest for {kind} checks)", reason="unsupported")

    def now(self) -> float:
        try:
            ns = self._cmd("guest-get-time")
        except TargetError:
            return time.time()
        return ns / 1e9 if isinstance(ns, int) and not isinstance(ns, bool) else time.time()

    def mutator(self) -> Any:
        raise ReadOnlyTarget(f"{self.name} is read through the guest agent, which this tool never writes with; "
                             "use --target ssh://… to apply fixes in the guest")

    def close(self) -> None:
        self._agent.close()
