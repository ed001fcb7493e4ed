"""Listening TCP sockets of the host's network namespace (/proc/net/tcp, /proc/net/tcp6) and, on
demand, the process that owns one (/proc/PID/fd/* -> socket:[INODE])."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.targets.base import TargetError

LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    inode: int
    uid: int

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


def listeners(ctx) -> list[Listener]:
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


def listening_on(ctx, port: int) -> list[Listener]:
    return [lst for lst in ctx.fact(listeners) if lst.port == port]


def socket_owner(target, inode: int) -> str | None:
    """'PID (comm)' of the process holding socket ``inode``; None when not found (other user's /proc
    unreadable, or the socket is held by the kernel)."""
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
