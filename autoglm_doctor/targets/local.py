"""The local machine as a Target, optionally re-rooted under a sysroot (like sos report's)."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from typing import TYPE_CHECKING, Any, Sequence

from autoglm_doctor.targets.base import (
    ADAPTER_KINDS,
    AdapterUnavailable,
    CommandResult,
    DiskUsage,
    StatResult,
    TargetDefaults,
    TargetError,
    TooLarge,
    offers,
)

if TYPE_CHECKING:
    from autoglm_doctor.targets.local_mutator import LocalMutator

_ABSENT_ERRNOS = {errno.ENOENT, errno.ENOTDIR}
_NO_XATTR = {errno.ENODATA, getattr(errno, "ENOATTR", errno.ENODATA), errno.ENOTSUP}


def _absent_or_raise(path: str, exc: OSError) -> None:
    if exc.errno in _ABSENT_ERRNOS:
        return None
    raise TargetError(f"{path}: {exc.strerror or exc}") from exc


class LocalTarget(TargetDefaults):
    """Reads the machine the doctor runs on. ``root`` re-roots file paths (commands still run on
    the host), which tests and sysroot-style inspection of a mounted image use."""

    writable = True
    role = "host"

    def __init__(self, root: str = "/", name: str = "local", *, live: bool | None = None) -> None:
        self.root = os.path.abspath(root)
        self.name = name
        self.kind = "local" if self.root == "/" else "sysroot"
        # A sysroot (a mounted image, another machine's disk) is files only: commands and the docker,
        # libvirt, udev and HTTP adapters would answer for *this* machine and mix two systems in one
        # report. ``live=True`` asks for them anyway (tests that build a tree next to the live host).
        self.live = self.root == "/" if live is None else live
        self.can_run = self.live
        self.adapters: frozenset[str] = ADAPTER_KINDS if self.live else frozenset()
        self._adapters: dict[str, Any] = {}

    def _p(self, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"target paths are absolute, got {path!r}")
        if self.root == "/":
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None:
        try:
            with open(self._p(path), "rb") as fh:
                if limit is None:
                    return fh.read()
                data = fh.read(limit + 1)
                if len(data) > limit:
                    raise TooLarge(f"{path}: larger than the {limit}-byte cap")
                return data
        except IsADirectoryError as exc:
            raise TargetError(f"{path}: is a directory") from exc
        except OSError as exc:
            return _absent_or_raise(path, exc)

    def read_range(self, path: str, offset: int, length: int) -> bytes | None:
        """Bytes [offset, offset+length) by ``pread``: a truncated file gives fewer, never a fault."""
        try:
            fd = os.open(self._p(path), os.O_RDONLY)
        except OSError as exc:
            return _absent_or_raise(path, exc)
        try:
            return os.pread(fd, max(0, length), max(0, offset))
        except IsADirectoryError as exc:
            raise TargetError(f"{path}: is a directory") from exc
        except OSError as exc:
            raise TargetError(f"{path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)

    def host_path(self, path: str) -> str | None:
        """This target's files are on this machine: the path the parallel log scanner may open."""
        return self._p(path) if path.startswith("/") else None

    def listdir(self, path: str) -> list[str] | None:
        try:
            return sorted(os.listdir(self._p(path)))
        except OSError as exc:
            return _absent_or_raise(path, exc)

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self._p(path))
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # exists, but not a link
                return None
            return _absent_or_raise(path, exc)

    def stat(self, path: str, *, follow: bool = True) -> StatResult | None:
        try:
            st = os.stat(self._p(path), follow_symlinks=follow)
        except OSError as exc:
            return _absent_or_raise(path, exc)
        return StatResult(
            mode=st.st_mode,
            uid=st.st_uid,
            gid=st.st_gid,
            size=st.st_size,
            rdev_major=os.major(st.st_rdev) if st.st_rdev else 0,
            rdev_minor=os.minor(st.st_rdev) if st.st_rdev else 0,
        )

    def getxattr(self, path: str, name: str) -> bytes | None:
        try:
            return os.getxattr(self._p(path), name)
        except OSError as exc:
            if exc.errno in _NO_XATTR:
                return None
            return _absent_or_raise(path, exc)

    def listxattr(self, path: str) -> list[str] | None:
        try:
            return sorted(os.listxattr(self._p(path), follow_symlinks=False))
        except OSError as exc:
            if exc.errno == errno.ENOTSUP:
                return []
            return _absent_or_raise(path, exc)

    def mutator(self) -> LocalMutator:
        """The write side (the fix engine's only way to change this machine or sysroot)."""
        from autoglm_doctor.targets.local_mutator import LocalMutator

        return LocalMutator(self)

    def disk_usage(self, path: str) -> DiskUsage | None:
        try:
            sv = os.statvfs(self._p(path))
        except OSError as exc:
            return _absent_or_raise(path, exc)
        return DiskUsage(total=sv.f_blocks * sv.f_frsize, free=sv.f_bavail * sv.f_frsize)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        argv = tuple(argv)
        if not argv:
            raise ValueError("empty argv")
        if not self.live:
            raise AdapterUnavailable(f"{argv[0]}: not run on the sysroot {self.root} (it would run on this machine)",
                                     reason="unsupported")
        try:
            proc = subprocess.run(  # noqa: S603 - argv list, never a shell
                list(argv),
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            )
        except FileNotFoundError:
            return CommandResult(argv, 127, "", f"{argv[0]}: command not found", not_found=True)
        except PermissionError as exc:
            return CommandResult(argv, 126, "", f"{argv[0]}: {exc.strerror}")
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode("utf-8", "replace") if exc.stdout else ""
            return CommandResult(argv, -9, out, f"timed out after {timeout:g}s", timed_out=True)
        return CommandResult(
            argv,
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )

    def adapter(self, kind: str) -> Any:
        if not offers(self, kind):
            raise AdapterUnavailable(f"{kind}: a sysroot target ({self.root}) has no live {kind} adapter",
                                     reason="unsupported")
        if kind not in self._adapters:
            from autoglm_doctor.adapters import open_local_adapter

            self._adapters[kind] = open_local_adapter(kind, self)
        return self._adapters[kind]

    def now(self) -> float:
        return time.time()

    def close(self) -> None:
        for adapter in self._adapters.values():
            closer = getattr(adapter, "close", None)
            if closer:
                try:
                    closer()
                except Exception:  # noqa: BLE001 - closing must never mask a report
                    pass
        self._adapters.clear()


__all__ = ["LocalTarget", "AdapterUnavailable"]
