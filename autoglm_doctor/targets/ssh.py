"""A machine reached over ssh: ``--target ssh://[user@]host[:port]``.

The system OpenSSH client is used, so ~/.ssh/config, agents, ProxyJump and known_hosts behave as users
expect; ``--identity`` and ``--ssh-config`` pass ``-i``/``-F`` for CI runners that keep keys elsewhere.
Host key checking is forced on (``StrictHostKeyChecking=yes``): an unknown or changed host key is
refused, never accepted. ``BatchMode=yes``: no password or passphrase prompt can hang a run.

ONE ssh session per run: it starts ``python3`` on the far side with the stdlib-only helper
(targets/ssh_helper.py, sent as source) and speaks length-prefixed JSON with it. Requests are pipelined:
each carries an id, a reader thread hands answers to their callers, so checks running in parallel share
the session without waiting for each other. ``read_many`` reads a batch in one round trip.

Failures are one line: refused, unknown host key, auth failed, no python3 on the far side (at connect:
``TargetError``, which the CLI turns into an error or, for a --guest, an error finding), a dropped
connection or a helper that stops answering (mid-run: the target fails every later call at once with
the same reason, so the checks left become error findings quickly).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Sequence

from autoglm_doctor.targets.base import (
    SMALL_READ_LIMIT,
    AdapterUnavailable,
    CommandResult,
    DiskUsage,
    StatResult,
    TargetDefaults,
    TargetError,
    TooLarge,
)

CONNECT_TIMEOUT = 15.0
REQUEST_MARGIN = 30.0  # on top of a command's own timeout before the session counts as hung
DEFAULT_LIMIT = 4 * SMALL_READ_LIMIT


@dataclass(frozen=True)
class SshSpec:
    host: str
    user: str | None = None
    port: int | None = None

    @property
    def display(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user + '@' if self.user else ''}{host}{f':{self.port}' if self.port else ''}"


def parse_ssh_spec(spec: str) -> SshSpec:
    from autoglm_doctor.targets import TargetSpecError

    parts = urllib.parse.urlsplit(spec)
    try:
        port = parts.port
    except ValueError as exc:
        raise TargetSpecError(f"{spec}: the port must be a number from 1 to 65535") from exc
    if parts.scheme != "ssh" or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.password:
        raise TargetSpecError(f"{spec}: expected ssh://[user@]host[:port]")
    if parts.hostname.startswith("-") or (parts.username or "").startswith("-"):
        raise TargetSpecError(f"{spec}: a host or user cannot start with '-'")
    return SshSpec(host=parts.hostname, user=urllib.parse.unquote(parts.username) if parts.username else None,
                   port=port)


def _classify_ssh_failure(spec: SshSpec, stderr: str, rc: int | None) -> str:
    text = " ".join(stderr.split())
    low = text.lower()
    where = spec.display
    if "remote host identification has changed" in low:
        return (f"{where}: the host key CHANGED since it was recorded in known_hosts; refused (verify the new key, "
                "then ssh-keygen -R the old one)")
    if "host key verification failed" in low or "no matching host key" in low or "is not in the trusted hosts" in low \
            or ("host key" in low and "known" in low):
        return (f"{where}: the host key is not in known_hosts; refused (verify its fingerprint, then add it: "
                f"ssh-keyscan -p {spec.port or 22} {spec.host} >> ~/.ssh/known_hosts)")
    if "permission denied" in low:
        return f"{where}: authentication failed ({text[-160:]}); pass the right key with --identity KEY"
    if "connection refused" in low:
        return f"{where}: connection refused (no sshd listening on port {spec.port or 22})"
    if "could not resolve hostname" in low or "name or service not known" in low:
        return f"{where}: the host name does not resolve"
    if "timed out" in low:
        return f"{where}: connection timed out"
    if "python3" in low and ("not found" in low or "no such file" in low):
        return f"{where}: python3 is not installed on the far side (the ssh target runs a stdlib-only helper there)"
    detail = text[-200:] or f"ssh exited with status {rc}"
    return f"{where}: ssh failed: {detail}"


class _Pending:
    __slots__ = ("event", "reply")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: dict[str, Any] | None = None


class SshTarget(TargetDefaults):
    kind = "ssh"
    role = "host"
    can_run = True
    writable = True

    def __init__(self, spec: SshSpec, *, identity: str | None = None, ssh_config: str | None = None,
                 role: str = "host", connect_timeout: float = CONNECT_TIMEOUT, wait: bool = True) -> None:
        self.spec = spec
        self.name = spec.display
        self.role = role
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._next = 0
        self._down: str | None = None
        self._stderr: list[str] = []
        self._proc = self._spawn(identity, ssh_config, connect_timeout)
        threading.Thread(target=self._read_stderr, daemon=True, name="ssh-stderr").start()
        threading.Thread(target=self._read_replies, daemon=True, name="ssh-replies").start()
        self._connect_timeout = connect_timeout
        self._ready = threading.Lock()
        self.hello: dict[str, Any] | None = None
        if wait:
            self.ready()

    def ready(self) -> None:
        """Wait until the far side's helper has answered (the handshake and the helper start run in the
        background from construction on, so the caller can load its checks meanwhile). Raises
        ``TargetError`` with the one-line reason when the session cannot be had."""
        with self._ready:
            if self.hello is None:
                self.hello = self._call("hello", timeout=self._connect_timeout + 10, _handshake=True)

    # -- the session ------------------------------------------------------------------------
    def argv(self, identity: str | None, ssh_config: str | None, connect_timeout: float) -> list[str]:
        from autoglm_doctor.targets import ssh_helper

        with open(ssh_helper.__file__, "rb") as fh:
            source = base64.b64encode(fh.read()).decode()
        # -I: the far side's PYTHON* variables and user site do not apply; -S: no site import (faster start)
        remote = f"exec python3 -I -S -c 'import base64;exec(base64.b64decode(\"{source}\"))'"
        argv = ["ssh", "-T", "-x", "-a",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"ConnectTimeout={max(1, int(connect_timeout))}",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "LogLevel=ERROR"]
        if ssh_config:
            argv += ["-F", ssh_config]
        if identity:
            argv += ["-i", identity]
        if self.spec.port:
            argv += ["-p", str(self.spec.port)]
        if self.spec.user:
            argv += ["-l", self.spec.user]
        return argv + [self.spec.host, remote]

    def _spawn(self, identity: str | None, ssh_config: str | None, connect_timeout: float) -> Any:
        for path, what in ((identity, "--identity"), (ssh_config, "--ssh-config")):
            if path and not os.path.isfile(path):
                raise TargetError(f"{what} {path}: no such file")
        if shutil.which("ssh") is None:
            raise TargetError("ssh targets need the OpenSSH client (apt-get install openssh-client)")
        return subprocess.Popen(self.argv(identity, ssh_config, connect_timeout), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def _read_stderr(self) -> None:
        for raw in iter(self._proc.stderr.readline, b""):
            if len(self._stderr) < 50:
                self._stderr.append(raw.decode("utf-8", "replace"))

    def _read_replies(self) -> None:
        out = self._proc.stdout
        try:
            while True:
                head = out.read(4)
                if len(head) < 4:
                    break
                (size,) = struct.unpack(">I", head)
                body = out.read(size)
                if len(body) < size:
                    break
                reply = json.loads(body)
                with self._lock:
                    waiter = self._pending.pop(reply.get("id"), None)
                if waiter is not None:
                    waiter.reply = reply
                    waiter.event.set()
        except (OSError, ValueError):
            pass
        self._fail_all(self._gone_reason())

    def _gone_reason(self) -> str:
        try:
            rc = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            rc = None
        time.sleep(0.05)  # let the stderr reader catch the last line
        if self.hello_seen:
            tail = " ".join("".join(self._stderr).split())[-160:]
            return f"{self.name}: the ssh connection dropped mid-run{f' ({tail})' if tail else ''}"
        return _classify_ssh_failure(self.spec, "".join(self._stderr), rc)

    hello_seen = False

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            if self._down is None:
                self._down = reason
            waiters = list(self._pending.values())
            self._pending.clear()
        for waiter in waiters:
            waiter.event.set()

    def _call(self, op: str, *, timeout: float = REQUEST_MARGIN, _handshake: bool = False, **args: Any) -> Any:
        if not _handshake and self.hello is None:
            self.ready()
        with self._lock:
            if self._down is not None:
                raise TargetError(self._down)
            self._next += 1
            rid = self._next
            waiter = self._pending[rid] = _Pending()
            data = json.dumps({"id": rid, "op": op, **args}).encode()
            try:
                self._proc.stdin.write(struct.pack(">I", len(data)) + data)
                self._proc.stdin.flush()
            except (OSError, ValueError):
                self._pending.pop(rid, None)
                broken = True
            else:
                broken = False
        if broken:
            waiter.event.wait(5)  # the reader thread is about to say why
            raise TargetError(self._down or f"{self.name}: the ssh connection dropped mid-run")
        if not waiter.event.wait(timeout):
            with self._lock:
                self._pending.pop(rid, None)
            reason = f"{self.name}: the far side did not answer {op} within {timeout:g}s; the session is abandoned"
            self._fail_all(reason)
            self._kill()
            raise TargetError(reason)
        reply = waiter.reply
        if reply is None:
            raise TargetError(self._down or f"{self.name}: the ssh connection dropped mid-run")
        if op == "hello":
            self.hello_seen = True
        if "err" in reply:
            kind, msg = reply["err"], reply.get("msg", "")
            if kind == "absent":
                raise _Absent(msg)
            if kind == "toolarge":
                raise TooLarge(msg)
            raise TargetError(msg)
        return reply.get("ok")

    # -- Target protocol --------------------------------------------------------------------
    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None:
        _absolute(path)
        try:
            return base64.b64decode(self._call("read", path=path, limit=DEFAULT_LIMIT if limit is None else limit))
        except _Absent:
            return None

    def read_many(self, paths: Sequence[str], *, limit: int | None = None) -> dict[str, bytes | None | TargetError]:
        for path in paths:
            _absolute(path)
        answers = self._call("read_many", paths=list(paths), limit=DEFAULT_LIMIT if limit is None else limit)
        out: dict[str, bytes | None | TargetError] = {}
        for path, answer in zip(paths, answers):
            if "ok" in answer:
                out[path] = base64.b64decode(answer["ok"])
            elif answer.get("err") == "absent":
                out[path] = None
            elif answer.get("err") == "toolarge":
                out[path] = TooLarge(answer.get("msg", path))
            else:
                out[path] = TargetError(answer.get("msg", path))
        return out

    def listdir(self, path: str) -> list[str] | None:
        names = self._maybe("listdir", path=_absolute(path))
        return None if names is None else [str(n) for n in names]

    def readlink(self, path: str) -> str | None:
        text = self._maybe("readlink", path=_absolute(path))
        return None if text is None else str(text)

    def stat(self, path: str, *, follow: bool = True) -> StatResult | None:
        st = self._maybe("stat", path=_absolute(path), follow=follow)
        if st is None:
            return None
        mode, uid, gid, size, major, minor = st
        return StatResult(mode=mode, uid=uid, gid=gid, size=size, rdev_major=major, rdev_minor=minor)

    def getxattr(self, path: str, name: str) -> bytes | None:
        value = self._maybe("getxattr", path=_absolute(path), name=name)
        return None if value is None else base64.b64decode(value)

    def disk_usage(self, path: str) -> DiskUsage | None:
        usage = self._maybe("disk_usage", path=_absolute(path))
        return None if usage is None else DiskUsage(total=usage[0], free=usage[1])

    def _maybe(self, op: str, **args: Any) -> Any:
        try:
            return self._call(op, **args)
        except _Absent:
            return None

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        argv = tuple(argv)
        if not argv:
            raise ValueError("empty argv")
        res = self._call("run", timeout=timeout + REQUEST_MARGIN, argv=list(argv), cmd_timeout=timeout)
        return CommandResult(argv, int(res["rc"]), res.get("out", ""), res.get("err", ""),
                             not_found=bool(res.get("not_found")), timed_out=bool(res.get("timed_out")))

    def adapter(self, kind: str) -> Any:
        raise AdapterUnavailable(f"the {kind} API of {self.name} is not reachable through the ssh target yet "
                                 "(run the doctor on that machine for these checks)", reason="unsupported")

    def now(self) -> float:
        """The far side's clock; this machine's when the session is gone (the checks then report why)."""
        try:
            return float(self._call("now"))
        except (TargetError, TypeError, ValueError):
            return time.time()

    def mutator(self) -> "SshMutator":
        return SshMutator(self)

    def _kill(self) -> None:
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, 9)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            if self._down is None:
                self._down = f"{self.name}: closed"
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
            self._proc.wait()


class _Absent(TargetError):
    pass


def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"target paths are absolute, got {path!r}")
    return path


class SshMutator:
    """The write side over the same session (the fix engine's Mutator protocol)."""

    def __init__(self, target: SshTarget) -> None:
        self._t = target
        self.name = target.name

    def write_bytes(self, path: str, data: bytes, *, mode: int | None = None,
                    uid: int | None = None, gid: int | None = None) -> None:
        self._t._call("write", path=_absolute(path), data=base64.b64encode(data).decode(), mode=mode, uid=uid, gid=gid)

    def remove(self, path: str) -> None:
        self._t._call("remove", path=_absolute(path))

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._t._call("mkdir", path=_absolute(path), mode=mode)

    def chmod(self, path: str, mode: int) -> None:
        self._t._call("chmod", path=_absolute(path), mode=mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._t._call("chown", path=_absolute(path), uid=uid, gid=gid)

    def setxattr(self, path: str, name: str, value: bytes) -> None:
        self._t._call("setxattr", path=_absolute(path), name=name, value=base64.b64encode(value).decode())

    def removexattr(self, path: str, name: str) -> None:
        self._t._call("removexattr", path=_absolute(path), name=name)

    def run_change(self, argv: Sequence[str], *, timeout: float = 60.0) -> CommandResult:
        return self._t.run(argv, timeout=timeout)
