"""Where a snapshot's bytes live: a directory on disk, or an archive read in place.

Snapshots are passed between people and the doctor runs as root, so a snapshot is hostile input:
- an archive is never extracted. It is decompressed once, with a cap on the expanded size, into an
  anonymous temporary file (``O_TMPFILE``: it has no name, so nothing is left behind even when the run
  is killed) and its members are served from there. No member can become a host file, so hard links to
  ``/etc/shadow``, device nodes or setuid bits cannot touch the machine; they are refused anyway, with
  the member named, because no recorder writes them;
- a directory is read with ``lstat`` first and ``O_NOFOLLOW | O_NONBLOCK`` opens: a FIFO (which would
  block a reader forever), a character device (``/dev/zero`` reads until memory runs out) or a socket is
  refused with its path named, never opened;
- every read has a size cap.

Paths given to a tree are *physical* and relative to its root (``proc/cpuinfo``): the snapshot target
resolves symbolic links itself (targets/paths.py), so the operating system never follows one.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat as stat_mod
import threading
from typing import Any, BinaryIO

from autoglm_doctor.targets.base import SnapshotError, StatResult, TargetError, TooLarge

# Caps. Environment variables override them for a snapshot that really is that large.
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024  # expanded size of an archive
MAX_ARCHIVE_MEMBERS = 100_000
MAX_FILE_BYTES = 64 * 1024 * 1024  # one file read without its own cap (logs are read in ranges)
_CHUNK = 1024 * 1024


def cap(name: str, default: int) -> int:
    raw = os.environ.get(f"AUTOGLM_DOCTOR_{name}", "")
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if value > 0 else default


_KINDS = (
    (stat_mod.S_ISREG, "file"), (stat_mod.S_ISDIR, "dir"), (stat_mod.S_ISLNK, "link"),
    (stat_mod.S_ISCHR, "character device"), (stat_mod.S_ISBLK, "block device"),
    (stat_mod.S_ISFIFO, "FIFO"), (stat_mod.S_ISSOCK, "socket"),
)


def kind_of_mode(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "special file")


def _read_capped(fh: Any, shown: str, limit: int) -> bytes:
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{shown}: larger than the {limit}-byte cap")
    return bytes(data)


class DirTree:
    """A snapshot that is a directory."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def _host(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def kind(self, rel: str) -> str | None:
        try:
            return kind_of_mode(os.lstat(self._host(rel)).st_mode)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise TargetError(f"/{rel}: {exc.strerror}") from exc

    def readlink(self, rel: str) -> str:
        return os.readlink(self._host(rel))

    def read(self, rel: str, limit: int) -> bytes:
        shown = f"/{rel}"
        kind = self.kind(rel)
        if kind != "file":
            raise TargetError(f"{shown}: is a {kind} in the snapshot, not a regular file: refused")
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self._host(rel), flags)
        except OSError as exc:
            raise TargetError(f"{shown}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as fh:
            if not stat_mod.S_ISREG(os.fstat(fd).st_mode):  # swapped after the lstat
                raise TargetError(f"{shown}: not a regular file: refused")
            try:
                return _read_capped(fh, shown, limit)
            except OSError as exc:
                raise TargetError(f"{shown}: {exc.strerror}") from exc

    def listdir(self, rel: str) -> list[str]:
        return sorted(os.listdir(self._host(rel)))

    def lstat(self, rel: str) -> StatResult:
        st = os.lstat(self._host(rel))
        rdev = st.st_rdev
        return StatResult(mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, size=st.st_size,
                          rdev_major=os.major(rdev) if rdev else 0, rdev_minor=os.minor(rdev) if rdev else 0)

    def getxattr(self, rel: str, name: str) -> bytes | None:
        try:
            return os.getxattr(self._host(rel), name, follow_symlinks=False)
        except OSError:
            return None

    def close(self) -> None:
        pass


def _normalise(name: str, archive: str) -> str:
    """A member name as a relative path; refuse names that leave the tree."""
    if name.startswith("/"):
        raise SnapshotError(f"{archive}: member {name!r} has an absolute name: refused")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SnapshotError(f"{archive}: member {name!r} leaves the snapshot: refused")
    return "/".join(parts)


def _decompressed(fh: BinaryIO) -> Any:
    magic = fh.read(6)
    fh.seek(0)
    if magic[:2] == b"\x1f\x8b":
        import gzip

        return gzip.GzipFile(fileobj=fh, mode="rb")
    if magic[:3] == b"BZh":
        import bz2

        return bz2.BZ2File(fh)
    if magic == b"\xfd7zXZ\x00":
        import lzma

        return lzma.LZMAFile(fh)
    return fh


class ArchiveTree:
    """A snapshot that is a tar archive (plain, gzip, bzip2 or xz), read in place."""

    def __init__(self, path: str, fh: BinaryIO) -> None:
        import tarfile
        import tempfile
        import zlib

        self.path = path
        max_bytes = cap("SNAPSHOT_MAX_BYTES", MAX_ARCHIVE_BYTES)
        max_members = cap("SNAPSHOT_MAX_MEMBERS", MAX_ARCHIVE_MEMBERS)
        self._spool = tempfile.TemporaryFile(prefix="autoglm-doctor-snap-")  # anonymous: nothing to clean
        self._sparse_lock = threading.Lock()
        try:
            source = _decompressed(fh)
            total = 0
            while True:
                chunk = source.read(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise SnapshotError(f"{path}: archive expands beyond the {max_bytes}-byte cap "
                                        "(a decompression bomb?): refused")
                self._spool.write(chunk)
            if total == 0:
                raise SnapshotError(f"{path}: empty archive")
            self._spool.seek(0)
            self._tar = tarfile.open(fileobj=self._spool, mode="r:")
            members: dict[str, Any] = {}
            count = 0
            for info in self._tar:
                count += 1
                if count > max_members:
                    raise SnapshotError(f"{path}: more than {max_members} archive members: refused")
                rel = _normalise(info.name, path)
                if info.ischr() or info.isblk() or info.isfifo():
                    kind = "device node" if info.isdev() and not info.isfifo() else "FIFO"
                    raise SnapshotError(f"{path}: member {info.name!r} is a {kind}: refused")
                if info.islnk():
                    target = _normalise(info.linkname, path) if not info.linkname.startswith("/") else None
                    linked = members.get(target) if target is not None else None
                    if linked is None or not linked.isfile():
                        raise SnapshotError(f"{path}: member {info.name!r} is a hard link to "
                                            f"{info.linkname!r}, outside the archive: refused")
                    info = linked
                elif info.issym():
                    self._check_symlink(rel, info)
                elif not (info.isfile() or info.isdir()):
                    raise SnapshotError(f"{path}: member {info.name!r} is of an unsupported type: refused")
                if rel:
                    members[rel] = info
        except SnapshotError:
            self.close()
            raise
        except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error) as exc:
            self.close()
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise SnapshotError(f"{path}: not a readable snapshot archive ({detail})") from exc
        except Exception as exc:  # noqa: BLE001 - bz2/lzma raise their own; still one line
            self.close()
            raise SnapshotError(f"{path}: not a readable snapshot archive ({type(exc).__name__}: {exc})") from exc
        self._members = members
        self._children: dict[str, set[str]] = {}
        for rel in members:
            parent, _, leaf = rel.rpartition("/")
            while True:
                self._children.setdefault(parent, set()).add(leaf)
                if not parent:
                    break
                parent, _, leaf = parent.rpartition("/")

    def _check_symlink(self, rel: str, info: Any) -> None:
        """A relative link that climbs above the archive's root leaves the tree. (An absolute link
        is kept: the snapshot resolves it inside itself, as the side of the source it was on.)"""
        text = info.linkname
        if text.startswith("/") or "\x00" in text:
            return
        depth = rel.count("/")
        for part in text.split("/"):
            if part == "..":
                depth -= 1
                if depth < 0:
                    raise SnapshotError(f"{self.path}: member {info.name!r} is a link to {text!r}, "
                                        "outside the snapshot: refused")
            elif part not in ("", "."):
                depth += 1

    def top_level(self) -> list[str]:
        return sorted(self._children.get("", ()))

    def kind(self, rel: str) -> str | None:
        info = self._members.get(rel)
        if info is None:
            return "dir" if rel in self._children or not rel else None
        if info.issym():
            return "link"
        return "dir" if info.isdir() else "file"

    def readlink(self, rel: str) -> str:
        return str(self._members[rel].linkname)

    def read(self, rel: str, limit: int) -> bytes:
        shown = f"/{rel}"
        info = self._members.get(rel)
        if info is None or not info.isfile():
            raise TargetError(f"{shown}: not a regular file in the snapshot")
        # checks read in parallel, and a tarfile member shares the spool's file position: read by offset
        # (pread), never seek-then-read, or one thread's seek hands another a neighbour's bytes
        if not info.issparse():
            if info.size > limit:
                raise TooLarge(f"{shown}: larger than the {limit}-byte cap")
            try:
                data = os.pread(self._spool.fileno(), info.size, info.offset_data)
            except OSError as exc:
                raise TargetError(f"{shown}: unreadable archive member ({exc})") from exc
            if len(data) != info.size:
                raise TargetError(f"{shown}: truncated archive member")
            return data
        with self._sparse_lock:
            fh = self._tar.extractfile(info)
            if fh is None:
                raise TargetError(f"{shown}: not a regular file in the snapshot")
            try:
                return _read_capped(fh, shown, limit)
            except (OSError, EOFError) as exc:
                raise TargetError(f"{shown}: truncated archive member ({exc})") from exc

    def listdir(self, rel: str) -> list[str]:
        return sorted(self._children.get(rel, ()))

    def lstat(self, rel: str) -> StatResult:
        info = self._members.get(rel)
        if info is None:
            return StatResult(mode=stat_mod.S_IFDIR | 0o755, uid=0, gid=0, size=0)
        kind = stat_mod.S_IFLNK if info.issym() else stat_mod.S_IFDIR if info.isdir() else stat_mod.S_IFREG
        return StatResult(mode=kind | (info.mode & 0o7777), uid=int(info.uid), gid=int(info.gid),
                          size=int(info.size) if info.isfile() else 0)

    def getxattr(self, rel: str, name: str) -> bytes | None:
        info = self._members.get(rel)
        value = None if info is None else info.pax_headers.get(f"SCHILY.xattr.{name}")
        return None if value is None else value.encode("utf-8", "surrogateescape")

    def close(self) -> None:
        tar = getattr(self, "_tar", None)
        if tar is not None:
            tar.close()
        self._spool.close()


def open_tree(path: str) -> DirTree | ArchiveTree:
    """The tree behind ``snapshot:PATH``. PATH must be a directory or a regular file (an archive):
    a FIFO, a device or a socket is refused before it is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise SnapshotError(f"{path}: no such snapshot") from exc
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot: {exc.strerror}") from exc
    if stat_mod.S_ISDIR(st.st_mode):
        return DirTree(path)
    if not stat_mod.S_ISREG(st.st_mode):
        raise SnapshotError(f"{path}: is a {kind_of_mode(st.st_mode)}, not a snapshot directory or archive: refused")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
            raise SnapshotError(f"{path}: not a regular file: refused")
        return ArchiveTree(path, fh)


def sub_path(prefix: str, rel: str) -> str:
    return posixpath.join(prefix, rel) if prefix and rel else (prefix or rel)
