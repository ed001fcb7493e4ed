"""Listening TCP sockets of the system's network namespace and the process that owns each one.

On the local host (and in a snapshot recorded there) the ``proc`` adapter answers both in one call
(psutil). Elsewhere (a remote system, a hand-made snapshot) /proc/net/tcp and /proc/net/tcp6 are read
through the Target, and an owner is looked up on demand: where the target runs commands, by one
``find /proc -lname socket:[INODE]`` (a remote target would pay a round trip per descriptor), else by
the /proc/PID/fd/* -> socket:[INODE] walk."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target

LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    inode: int
    uid: int
    owner: str | None = None  # 'PID N (name)' when the proc adapter knew it

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def _address(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, struct.pack("<I", struct.unpack(">I", raw)[0]))
    words = struct.unpack("<4I", raw)
    return socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))


def parse_proc_net_tcp(text: str, where: str) -> list[Listener]:
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        if parts[3] != LISTEN:
            continue
        try:
            addr, port = parts[1].rsplit(":", 1)
            out.append(Listener(_address(addr), int(port, 16), int(parts[9]), int(parts[7])))
        except (ValueError, OSError) as exc:
            raise GarbageValue(f"{where}: unparsable socket line {line.strip()[:80]!r}") from exc
    return out


def _from_adapter(ctx: Context) -> list[Listener] | None:
    try:
        rows = ctx.target.adapter("proc").listeners()
    except (AdapterUnavailable, NotCaptured):
        return None  # no process table here: read /proc through the Target
    if not isinstance(rows, list):
        raise GarbageValue(f"proc.listeners answered {type(rows).__name__}, not a list")
    out = []
    for row in rows:
        try:
            pid, name = row.get("pid"), row.get("name")
            owner = f"PID {int(pid)} ({name or '?'})" if pid is not None else None
            out.append(Listener(str(row["address"]), int(row["port"]), 0, -1, owner))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise GarbageValue(f"proc.listeners: unexpected entry {row!r:.80}") from exc
    return out


def listeners(ctx: Context) -> list[Listener]:
    from_adapter = _from_adapter(ctx)
    if from_adapter is not None:
        return from_adapter
    out: list[Listener] = []
    seen = False
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        text = ctx.target.read_text(path)
        if text is not None:
            seen = True
            out.extend(parse_proc_net_tcp(text, path))
    if not seen:
        raise TargetError("/proc/net/tcp is absent: is /proc mounted?")
    return out


def listening_on(ctx: Context, port: int) -> list[Listener]:
    return [lst for lst in ctx.fact(listeners) if lst.port == port]


def listener_owner(ctx: Context, listener: Listener) -> str | None:
    """'PID N (comm)' of the process holding ``listener``, or None when not visible."""
    return listener.owner or (socket_owner(ctx.target, listener.inode) if listener.inode else None)


def _owner_by_find(target: Target, inode: int) -> str | None | bool:
    """One command instead of one read per descriptor (a remote target pays a round trip per read):
    ``find`` lists the /proc/PID/fd links that point at the socket. False when the target cannot
    answer that way (no commands, not recorded, a find without -lname): walk /proc instead."""
    if not target.can_run:
        return False
    argv = ["find", "/proc", "-mindepth", "3", "-maxdepth", "3", "-path", "/proc/[0-9]*/fd/*",
            "-lname", f"socket:\\[{inode}\\]"]
    try:
        result = target.run(argv, timeout=10)
    except (AdapterUnavailable, NotCaptured):
        return False
    for line in result.stdout.splitlines():
        parts = line.strip().split("/")  # "", "proc", PID, "fd", FD
        if len(parts) == 5 and parts[2].isdigit() and parts[3] == "fd":
            comm = (target.read_text(f"/proc/{parts[2]}/comm") or "?").strip()
            return f"PID {parts[2]} ({comm})"
    if result.not_found or result.timed_out or (result.returncode != 0 and "ermission denied" not in result.stderr):
        return False  # find missing or refusing the expression: it said nothing about the socket
    return None  # searched: no process this user may inspect holds it


def socket_owner(target: Target, inode: int) -> str | None:
    """'PID (comm)' of the process holding socket ``inode``; None when not found (other user's /proc
    unreadable, or the socket is held by the kernel)."""
    found = _owner_by_find(target, inode)
    if found is not False:
        return found if isinstance(found, str) else None
    wanted = f"socket:[{inode}]"
    for pid in target.listdir("/proc") or []:
        if not pid.isdigit():
            continue
        try:
            fds = target.listdir(f"/proc/{pid}/fd") or []
            for fd in fds:
                if target.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                    comm = (target.read_text(f"/proc/{pid}/comm") or "?").strip()
                    return f"PID {pid} ({comm})"
        except TargetError:
            continue
    return None
