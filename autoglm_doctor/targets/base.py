"""The Target protocol: the only way a check reads a system.

Conventions every implementation keeps:
- ``None`` means *absent* (the path does not exist, the attribute is not set).
- ``TargetError`` means the thing exists but could not be read (permission, I/O error).
- ``NotCaptured`` (a ``TargetError``) means a snapshot does not know: the data was never recorded.
  Checks turn it into ``skip`` with the reason "not captured", never into a pass.
"""

from __future__ import annotations

import stat as stat_mod
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable


class TargetError(Exception):
    """A path or command exists but could not be read."""


class GarbageValue(TargetError):
    """A file exists but its content cannot be what the kernel or the tool writes there."""


class NotCaptured(TargetError):
    """A snapshot holds no data for this read."""


class AdapterUnavailable(TargetError):
    """A typed adapter (docker, libvirt, udev) cannot be used on this target. ``reason`` tells why:
    "missing" (the client library is not installed), "unreachable" (daemon down, socket refused,
    permission denied) or "unsupported" (not possible on this kind of target)."""

    def __init__(self, message: str, hint: str = "", reason: str = "unreachable") -> None:
        super().__init__(message)
        self.hint = hint
        self.reason = reason


class DeadlineExceeded(TargetError):
    """The caller's deadline (a check's budget or the whole run's) passed: the read was not made."""


class TooLarge(TargetError):
    """A read would exceed its size cap (hostile or runaway input): nothing was returned."""


class SnapshotError(Exception):
    """The snapshot itself cannot be opened (missing, corrupt, wrong format)."""


class ReadOnlyTarget(TypeError):
    """Raised when something tries to change a target that cannot be changed (a snapshot)."""


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    not_found: bool = False
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.not_found and not self.timed_out

    def to_dict(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv),
            "returncode": self.returncode,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "not_found": self.not_found,
            "timed_out": self.timed_out,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CommandResult":
        return cls(
            argv=tuple(data["argv"]),
            returncode=int(data["returncode"]),
            stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""),
            not_found=bool(data.get("not_found", False)),
            timed_out=bool(data.get("timed_out", False)),
        )


@dataclass(frozen=True)
class StatResult:
    mode: int  # full st_mode (type bits + permission bits)
    uid: int
    gid: int
    size: int = 0
    rdev_major: int = 0
    rdev_minor: int = 0

    @property
    def kind(self) -> str:
        m = self.mode
        for test, name in (
            (stat_mod.S_ISREG, "file"),
            (stat_mod.S_ISDIR, "dir"),
            (stat_mod.S_ISLNK, "link"),
            (stat_mod.S_ISCHR, "char"),
            (stat_mod.S_ISBLK, "block"),
            (stat_mod.S_ISFIFO, "fifo"),
            (stat_mod.S_ISSOCK, "socket"),
        ):
            if test(m):
                return name
        return "unknown"

    @property
    def perms(self) -> int:
        return stat_mod.S_IMODE(self.mode)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "uid": self.uid,
            "gid": self.gid,
            "size": self.size,
            "rdev": [self.rdev_major, self.rdev_minor],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StatResult":
        rdev = data.get("rdev", [0, 0])
        return cls(
            mode=int(data["mode"]),
            uid=int(data["uid"]),
            gid=int(data["gid"]),
            size=int(data.get("size", 0)),
            rdev_major=int(rdev[0]),
            rdev_minor=int(rdev[1]),
        )


@dataclass(frozen=True)
class DiskUsage:
    total: int
    free: int  # bytes available to unprivileged users

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "free": self.free}


# What a target *is* (``Target.kind``) and what the system behind it is (``Target.role``).
TARGET_KINDS = ("local", "sysroot", "snapshot", "recorder", "ssh", "guest-agent", "docker")
TARGET_ROLES = ("host", "guest", "container")

# Default read caps: sysfs/procfs/config files are small; logs are read through ranges, not whole.
SMALL_READ_LIMIT = 4 * 1024 * 1024


@runtime_checkable
class Target(Protocol):
    """What every target offers. Local host, sysroot, snapshot, recorder, ssh, guest agent and
    docker exec all implement exactly this.

    Capabilities are declared, never probed by ``isinstance``:
    - ``kind``: one of TARGET_KINDS (how the system is reached);
    - ``role``: one of TARGET_ROLES (what the system is: a host, a guest VM, a container), matched
      against ``CheckMeta.runs_on``;
    - ``can_run``: commands run on the system itself (False for a sysroot: its commands would run on
      the machine reading it; a snapshot replays recorded commands, so it is True there);
    - ``writable``: ``mutator()`` returns a Mutator (False: it raises ReadOnlyTarget).
    """

    name: str
    kind: str
    role: str
    can_run: bool
    writable: bool
    # has_clock (optional, default True): False for a hand-made snapshot that records no capture time

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None: ...

    def read_text(self, path: str) -> str | None: ...

    def listdir(self, path: str) -> list[str] | None: ...

    def readlink(self, path: str) -> str | None: ...

    def stat(self, path: str, *, follow: bool = True) -> StatResult | None: ...

    def getxattr(self, path: str, name: str) -> bytes | None: ...

    def disk_usage(self, path: str) -> DiskUsage | None: ...

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult: ...

    def adapter(self, kind: str) -> Any: ...

    def now(self) -> float: ...  # the target's "now" (epoch seconds): the capture time for a snapshot

    def close(self) -> None: ...


@runtime_checkable
class Mutator(Protocol):
    """The write side of a target, used only by the remediation engine (fixes only plan). Read-only
    targets (snapshots, recorders, the guest agent) have none, so writing them is impossible by type.

    Every method changes exactly the path it names, raises ``TargetError`` on failure and leaves the
    path as it was when it fails. ``write_bytes`` is atomic (temp file in the same directory, fsync,
    rename) and keeps the existing file's mode, owner and xattrs unless told otherwise."""

    name: str

    def write_bytes(self, path: str, data: bytes, *, mode: int | None = None,
                    uid: int | None = None, gid: int | None = None) -> None: ...

    def remove(self, path: str) -> None: ...  # a file or an empty directory; absent is fine

    def mkdir(self, path: str, mode: int = 0o755) -> None: ...  # parents too; existing is fine

    def chmod(self, path: str, mode: int) -> None: ...

    def chown(self, path: str, uid: int, gid: int) -> None: ...  # -1 keeps that id

    def setxattr(self, path: str, name: str, value: bytes) -> None: ...

    def removexattr(self, path: str, name: str) -> None: ...  # absent is fine

    def write_in_place(self, path: str, data: bytes) -> None: ...  # sysfs/procfs: one write, no rename

    def run_change(self, argv: Sequence[str], *, timeout: float = 60.0) -> CommandResult: ...
    # Optional, by the changes that need them: ``libvirt(uri)`` (a writable libvirt connection with
    # domain_xml(name) / define_xml(xml)) and ``lock(path)`` (an exclusive lock handle for the engine).


def read_many(target: Any, paths: Sequence[str], *, limit: int | None = None) -> dict[str, bytes | None | TargetError]:
    """Batched reads: ``target.read_many`` when the target has one (one round trip for ssh / the guest
    agent), else one ``read_bytes`` per path. Each value is the bytes, None (absent) or the error."""
    batched = getattr(target, "read_many", None)
    if callable(batched):
        return dict(batched(paths, limit=limit))
    out: dict[str, bytes | None | TargetError] = {}
    for path in paths:
        try:
            out[path] = target.read_bytes(path, limit=limit)
        except TargetError as exc:
            out[path] = exc
    return out


def read_range(target: Any, path: str, offset: int, length: int) -> bytes | None:
    """Bytes [offset, offset+length) of a file: ``target.read_range`` when the target has one (a
    large log is never loaded whole), else a slice of a capped ``read_bytes``."""
    ranged = getattr(target, "read_range", None)
    if callable(ranged):
        return ranged(path, offset, length)  # type: ignore[no-any-return]
    data = target.read_bytes(path, limit=SMALL_READ_LIMIT)
    return None if data is None else data[offset:offset + length]


def host_path(target: Any, path: str) -> str | None:
    """Where ``path`` of ``target`` is on this machine, when the target declares it (a local or
    sysroot target); None for every other target. Only the parallel log scanner uses it, to let its
    worker processes read by path; everything else reads through the protocol."""
    declared = getattr(target, "host_path", None)
    return declared(path) if callable(declared) else None


def call_key(adapter: str, method: str, args: Sequence[Any]) -> str:
    import json

    return f"{adapter}.{method}({json.dumps(list(args), sort_keys=True)})"
