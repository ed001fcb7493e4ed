"""Metadata reads for targets that can only read files and run commands on the far side (the QEMU guest
agent, ``docker exec``): directory listings, stat, readlink and free space come from ``find``, ``stat``
and ``readlink`` in the guest or container. Their busybox and GNU coreutils forms accept the same
options used here, so a minimal initramfs or a busybox image answers as well as a full distribution.

Every answer is parsed strictly: output that cannot come from these tools is a ``GarbageValue``, not a
guess. Failures keep the Target conventions: absent (ENOENT/ENOTDIR) is None, anything else a
``TargetError``."""

from __future__ import annotations

from typing import Any, Sequence

from autoglm_doctor.targets.base import (
    AdapterUnavailable,
    CommandResult,
    DiskUsage,
    GarbageValue,
    StatResult,
    TargetDefaults,
    TargetError,
)

_ABSENT = ("No such file or directory", "Not a directory")
REMOTE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _absent(result: CommandResult) -> bool:
    return any(text in result.stderr for text in _ABSENT)


def _failed(path: str, result: CommandResult) -> TargetError:
    if result.timed_out:
        return TargetError(f"{path}: {result.argv[0]} timed out on the target")
    if result.not_found:
        return AdapterUnavailable(f"{result.argv[0]} is not installed on the target, so {path} cannot be inspected",
                                  reason="unsupported")
    detail = " ".join(result.stderr.split())[:200] or f"exit status {result.returncode}"
    return TargetError(f"{path}: {detail}")


class ExecMetadata(TargetDefaults):
    """Mixin: needs ``run(argv, timeout=...)`` and ``name``."""

    name: str

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def listdir(self, path: str) -> list[str] | None:
        base = path.rstrip("/") + "/"
        result = self.run(["find", base, "-mindepth", "1", "-maxdepth", "1", "-print0"])
        if not result.ok:
            if _absent(result):
                return None
            raise _failed(path, result)
        names = []
        for entry in result.stdout.split("\0"):
            if not entry:
                continue
            if not entry.startswith(base):
                raise GarbageValue(f"{path}: find printed {entry[:80]!r}, which is not inside the directory")
            names.append(entry[len(base):])
        return sorted(names)

    def stat(self, path: str, *, follow: bool = True) -> StatResult | None:
        argv = ["stat", *(["-L"] if follow else []), "-c", "%f %u %g %s %t %T", "--", path]
        result = self.run(argv)
        if not result.ok:
            if _absent(result):
                return None
            raise _failed(path, result)
        fields = result.stdout.split()
        try:
            mode, uid, gid, size, major, minor = fields
            return StatResult(mode=int(mode, 16), uid=int(uid), gid=int(gid), size=int(size),
                              rdev_major=int(major, 16), rdev_minor=int(minor, 16))
        except ValueError as exc:
            raise GarbageValue(f"{path}: stat printed {result.stdout[:80]!r}") from exc

    def readlink(self, path: str) -> str | None:
        st = self.stat(path, follow=False)
        if st is None or st.kind != "link":
            return None
        result = self.run(["readlink", "--", path])
        if not result.ok:
            if _absent(result):
                return None
            raise _failed(path, result)
        return result.stdout[:-1] if result.stdout.endswith("\n") else result.stdout

    def disk_usage(self, path: str) -> DiskUsage | None:
        result = self.run(["stat", "-f", "-c", "%S %b %a", "--", path])
        if not result.ok:
            if _absent(result):
                return None
            raise _failed(path, result)
        try:
            frsize, blocks, avail = (int(v) for v in result.stdout.split())
        except ValueError as exc:
            raise GarbageValue(f"{path}: stat -f printed {result.stdout[:80]!r}") from exc
        return DiskUsage(total=blocks * frsize, free=avail * frsize)

    def getxattr(self, path: str, name: str) -> Any:
        raise AdapterUnavailable(f"{self.name}: extended attributes cannot be read through this target "
                                 "(no getfattr protocol)", reason="unsupported")
