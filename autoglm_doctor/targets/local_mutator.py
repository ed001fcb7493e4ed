"""The write side of the local machine (and of a sysroot under it): the Mutator the remediation
engine applies changes through.

- ``write_bytes`` is atomic: a temp file in the same directory gets the old file's owner, every
  extended attribute (POSIX ACLs, the SELinux label) and mode, is fsynced, renamed over the old one,
  and the directory is fsynced, so a crash leaves the old or the new file, never half of one.
- sysfs/procfs attributes cannot be renamed over: ``write_in_place`` writes them the way the kernel
  takes them.
- On a sysroot every path is re-rooted, symlinks are never followed out of the tree, and
  ``run_change`` never runs anything: the argv is recorded (with the sysroot) and reported as such.
- Commands run with a timeout in their own process group; a hanging tool is killed with its children.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
from typing import IO, TYPE_CHECKING, Any, Sequence

from autoglm_doctor.targets.base import CommandResult, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.adapters.libvirt_write import LibvirtWriter
    from autoglm_doctor.targets.local import LocalTarget

# removing an attribute that is not there, or of a namespace this filesystem does not have, is done
_NO_XATTR = {errno.ENODATA, getattr(errno, "ENOATTR", errno.ENODATA), errno.EOPNOTSUPP}


def _fail(path: str, exc: OSError) -> TargetError:
    return TargetError(f"{path}: {exc.strerror or exc}")


class LocalMutator:
    def __init__(self, target: LocalTarget) -> None:
        self.target = target
        self.root = target.root
        self.name = target.name
        self.sysroot = self.root != "/"
        self.recorded: list[dict[str, Any]] = []

    def _p(self, path: str) -> str:
        return str(self.target._p(path))

    # -- files --------------------------------------------------------------------------------
    def write_bytes(self, path: str, data: bytes, *, mode: int | None = None,
                    uid: int | None = None, gid: int | None = None) -> None:
        real = self._p(path)
        directory, base = os.path.split(real)
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise _fail(path, exc) from exc
        if st is not None and not (st.st_mode & 0o170000 == 0o100000):
            raise TargetError(f"{path}: not a regular file: refusing to replace it")
        xattrs: dict[str, bytes] = {}
        if st is not None:
            try:
                for name in os.listxattr(real, follow_symlinks=False):
                    xattrs[name] = os.getxattr(real, name, follow_symlinks=False)
            except OSError as exc:
                if exc.errno != errno.ENOTSUP:
                    raise _fail(path, exc) from exc
        tmp = os.path.join(directory, f".{base}.autoglm-doctor-{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise _fail(path, exc) from exc
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                want_uid = uid if uid is not None else (st.st_uid if st is not None else -1)
                want_gid = gid if gid is not None else (st.st_gid if st is not None else -1)
                if (want_uid, want_gid) != (-1, -1):
                    os.fchown(fd, want_uid, want_gid)
                for name, value in xattrs.items():
                    os.setxattr(fd, name, value)
                os.fchmod(fd, mode if mode is not None else (st.st_mode & 0o7777 if st is not None else 0o644))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, real)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise _fail(path, exc) from exc
        self._fsync_dir(directory)

    @staticmethod
    def _fsync_dir(directory: str) -> None:
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    def write_in_place(self, path: str, data: bytes) -> None:
        """sysfs/procfs: one write(2) of the value; the kernel parses it and may refuse it."""
        real = self._p(path)
        try:
            fd = os.open(real, os.O_WRONLY | os.O_CLOEXEC | (os.O_TRUNC if self.sysroot else 0))
        except OSError as exc:
            raise _fail(path, exc) from exc
        try:
            os.write(fd, data)
        except OSError as exc:
            raise _fail(path, exc) from exc
        finally:
            os.close(fd)

    def remove(self, path: str) -> None:
        real = self._p(path)
        try:
            if os.path.isdir(real) and not os.path.islink(real):
                os.rmdir(real)
            else:
                os.unlink(real)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _fail(path, exc) from exc

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        try:
            os.makedirs(self._p(path), mode=mode, exist_ok=True)
        except OSError as exc:
            raise _fail(path, exc) from exc

    def chmod(self, path: str, mode: int) -> None:
        try:
            os.chmod(self._p(path), mode, follow_symlinks=False)
        except NotImplementedError:
            raise TargetError(f"{path}: is a symlink; links have no mode") from None
        except OSError as exc:
            raise _fail(path, exc) from exc

    def chown(self, path: str, uid: int, gid: int) -> None:
        try:
            os.chown(self._p(path), uid, gid, follow_symlinks=False)
        except OSError as exc:
            raise _fail(path, exc) from exc

    def setxattr(self, path: str, name: str, value: bytes) -> None:
        try:
            os.setxattr(self._p(path), name, value, follow_symlinks=False)
        except OSError as exc:
            raise _fail(path, exc) from exc

    def removexattr(self, path: str, name: str) -> None:
        try:
            os.removexattr(self._p(path), name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in _NO_XATTR:
                return
            raise _fail(path, exc) from exc

    # -- commands and APIs ---------------------------------------------------------------------
    def run_change(self, argv: Sequence[str], *, timeout: float = 60.0) -> CommandResult:
        argv = tuple(argv)
        if not argv:
            raise ValueError("empty argv")
        if self.sysroot:
            self.recorded.append({"argv": list(argv), "sysroot": self.root})
            return CommandResult(argv, 0, "", f"recorded, not run: {self.root} is a sysroot")
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv list, never a shell
                list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={**os.environ, "LC_ALL": "C", "LANG": "C"}, start_new_session=True)
        except FileNotFoundError:
            return CommandResult(argv, 127, "", f"{argv[0]}: command not found", not_found=True)
        except PermissionError as exc:
            return CommandResult(argv, 126, "", f"{argv[0]}: {exc.strerror}")
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            out, err = proc.communicate()
            return CommandResult(argv, -9, out.decode("utf-8", "replace"),
                                 f"timed out after {timeout:g}s", timed_out=True)
        return CommandResult(argv, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def libvirt(self, uri: str) -> LibvirtWriter:
        if self.sysroot:
            raise TargetError(f"{self.root} is a sysroot: it has no libvirt to redefine domains in")
        from autoglm_doctor.adapters.libvirt_write import LibvirtWriter

        return LibvirtWriter.connect(uri)

    def lock(self, path: str) -> IO[str]:
        """An exclusive, non-blocking lock file: returns the open handle (released when closed or
        when the process dies), or raises BlockingIOError with the holder's text readable."""
        real = self._p(path)
        try:
            os.makedirs(os.path.dirname(real), exist_ok=True)
            fh = open(real, "a+", encoding="utf-8")  # noqa: SIM115 - the lock lives as long as the handle
        except OSError as exc:
            raise _fail(path, exc) from exc
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read(4096)
            fh.close()
            raise BlockingIOError(holder) from None
        return fh
