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


class DeadlineExceeded(Exception):
    """The caller's deadline (a check's budget or the whole run's) passed: the read was not made.

    Deliberately not a ``TargetError``: a check that tolerates an unreadable file (``except TargetError``)
    must not mistake a spent budget for one and finish with a quietly degraded verdict; the runner reports
    the check as stopped instead."""


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
    docker exec all implement exactly this (``TargetDefaults`` derives the optional reads).

    Capabilities are declared, never probed by ``isinstance``:
    - ``kind``: one of TARGET_KINDS (how the system is reached);
    - ``role``: one of TARGET_ROLES (what the system is: a host, a guest VM, a container), matched
      against ``CheckMeta.runs_on``;
    - ``can_run``: commands run on the system itself (False for a sysroot: its commands would run on
      the machine reading it; a snapshot replays recorded commands, so it is True there);
    - ``writable``: ``mutator()`` returns a Mutator (False: it raises ReadOnlyTarget);
    - ``adapters``: the typed adapters (ADAPTER_KINDS) ``adapter(kind)`` can give; any other kind
      raises ``AdapterUnavailable`` (reason "unsupported"), which a check reports as a skip;
    - ``has_clock``: False for a hand-made snapshot that records no capture time.
    """

    name: str
    kind: str
    role: str
    can_run: bool
    writable: bool
    adapters: frozenset[str]
    has_clock: bool

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None: ...

    def read_text(self, path: str) -> str | None: ...

    def read_many(self, paths: Sequence[str], *, limit: int | None = None) -> dict[str, bytes | None | TargetError]:
        ...  # one round trip where the transport allows it (ssh)

    def read_range(self, path: str, offset: int, length: int) -> bytes | None: ...

    def host_path(self, path: str) -> str | None: ...  # where the file is on this machine, if it is

    def listdir(self, path: str) -> list[str] | None: ...

    def readlink(self, path: str) -> str | None: ...

    def stat(self, path: str, *, follow: bool = True) -> StatResult | None: ...

    def getxattr(self, path: str, name: str) -> bytes | None: ...

    def disk_usage(self, path: str) -> DiskUsage | None: ...

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult: ...

    def adapter(self, kind: str) -> Any: ...

    def hostname(self) -> str: ...  # the machine's host name, "" when it cannot tell

    def now(self) -> float: ...  # the target's "now" (epoch seconds): the capture time for a snapshot

    def remaining(self) -> float | None: ...  # seconds left in the caller's deadline (None: no deadline)

    def ready(self) -> None: ...  # wait for a remote session; TargetError when it cannot be had

    def close(self) -> None: ...


ADAPTER_KINDS = frozenset({"docker", "libvirt", "udev", "proc", "http"})


def adapter_family(kind: str) -> str:
    """``libvirt@qemu:///system`` -> ``libvirt``: a named connection is one of the family's adapters."""
    return kind.partition("@")[0]


def offers(target: Target, kind: str) -> bool:
    return adapter_family(kind) in target.adapters


class TargetDefaults:
    """The reads every target derives from ``read_bytes`` the same way, and the defaults of the
    declared capabilities. A target overrides what its transport does better (ssh batches
    ``read_many``; the local host ``pread``s a range and has its files on this machine)."""

    adapters: frozenset[str] = frozenset()
    has_clock = True

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None:
        raise NotImplementedError

    def read_text(self, path: str) -> str | None:
        data = self.read_bytes(path)
        return None if data is None else data.decode("utf-8", errors="replace")

    def read_many(self, paths: Sequence[str], *, limit: int | None = None) -> dict[str, bytes | None | TargetError]:
        """Each value: the bytes, None (absent) or the error."""
        out: dict[str, bytes | None | TargetError] = {}
        for path in paths:
            try:
                out[path] = self.read_bytes(path, limit=limit)
            except TargetError as exc:
                out[path] = exc
        return out

    def read_range(self, path: str, offset: int, length: int) -> bytes | None:
        data = self.read_bytes(path, limit=SMALL_READ_LIMIT)
        return None if data is None else data[max(0, offset):max(0, offset) + max(0, length)]

    def host_path(self, path: str) -> str | None:
        return None

    def hostname(self) -> str:
        return uts_hostname(self)  # type: ignore[arg-type]

    def remaining(self) -> float | None:
        return None

    def ready(self) -> None:
        return None


MAX_HOSTNAME = 255  # HOST_NAME_MAX is 64; anything longer than a DNS name is not a host name


def clean_hostname(text: Any) -> str:
    """The first line of ``text`` when it can be a host name, else ""."""
    if not isinstance(text, str):
        return ""
    name = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not name or len(name) > MAX_HOSTNAME or any(c.isspace() or not c.isprintable() for c in name):
        return ""
    return name


def uts_hostname(target: Target) -> str:
    """The kernel's UTS name (/proc/sys/kernel/hostname, what ``hostname`` prints), else /etc/hostname
    (a sysroot of a machine that is not running); "" when neither tells."""
    for path in ("/proc/sys/kernel/hostname", "/etc/hostname"):
        try:
            data = target.read_bytes(path, limit=4096)
        except (TargetError, OSError, ValueError):  # NotCaptured included: the name is simply unknown
            continue
        if data:
            name = clean_hostname(data.decode("utf-8", "replace"))
            if name:
                return name
    return ""


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


@runtime_checkable
class WritableTarget(Target, Protocol):
    """A Target whose ``writable`` is True: the local host and a sysroot under it. Its Mutator is the
    only way the fix engine changes it."""

    def mutator(self) -> Mutator: ...


def mutator_of(target: Target) -> Mutator:
    """The target's Mutator; ReadOnlyTarget when it has none (a snapshot, a recorder)."""
    if not isinstance(target, WritableTarget):
        raise ReadOnlyTarget(f"{target.name} cannot be changed (a snapshot is read-only)")
    return target.mutator()


def read_many(target: Target, paths: Sequence[str], *, limit: int | None = None) -> dict[str, bytes | None | TargetError]:
    """Batched reads (one round trip for ssh). Each value is the bytes, None (absent) or the error."""
    return dict(target.read_many(paths, limit=limit))


def read_range(target: Target, path: str, offset: int, length: int) -> bytes | None:
    """Bytes [offset, offset+length) of a file: a large log is never loaded whole where the target
    can read a range (elsewhere a slice of a capped ``read_bytes``)."""
    return target.read_range(path, offset, length)


def host_path(target: Target, path: str) -> str | None:
    """Where ``path`` of ``target`` is on this machine, when the target declares it (a local or
    sysroot target); None for every other target. Only the parallel log scanner uses it, to let its
    worker processes read by path; everything else reads through the protocol."""
    return target.host_path(path)


def call_key(adapter: str, method: str, args: Sequence[Any]) -> str:
    import json

    return f"{adapter}.{method}({json.dumps(list(args), sort_keys=True)})"
