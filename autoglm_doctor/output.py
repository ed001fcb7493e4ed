"""Writing a report to ``--output PATH`` without replacing what is at PATH by accident.

The doctor runs as root, so ``--output`` must behave like a shell redirection, not like ``mv``:
- ``-``, ``/dev/stdout`` (and ``/dev/fd/1``, ``/proc/self/fd/1``) are standard output; ``/dev/stderr`` is
  standard error. Replacing the ``/dev/stdout`` symlink with a JSON file broke every later program.
- a character device (``/dev/null``, ``/dev/full``, a terminal) or a FIFO is written *through*: the node stays,
  and a write error (``/dev/full``: no space) is a one-line error;
- a directory, a block device or a socket is refused;
- a regular file is replaced atomically (a new file in the same directory, fsync, rename), keeping the old
  file's mode and owner, so a reader never sees half a report and a failed write leaves the old one;
- a symbolic link is never replaced: the rules apply to what it points at (a link to a report file updates
  that file; a dangling link is refused).
"""

from __future__ import annotations

import os
import stat as stat_mod
import sys

from autoglm_doctor.errors import UsageError

_STDOUT = ("-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")
_STDERR = ("/dev/stderr", "/dev/fd/2", "/proc/self/fd/2")


def _kind(mode: int) -> str:
    for test, name in ((stat_mod.S_ISDIR, "a directory"), (stat_mod.S_ISBLK, "a block device"),
                       (stat_mod.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _write_through(path: str, data: bytes) -> None:
    """Open an existing character device or FIFO for writing (no O_CREAT, no O_TRUNC) and write."""
    fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        if not (stat_mod.S_ISCHR(os.fstat(fd).st_mode) or stat_mod.S_ISFIFO(os.fstat(fd).st_mode)):
            raise UsageError(f"cannot write {path}: it changed while being opened: refused")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


def _write_atomic(path: str, data: bytes, old: os.stat_result | None) -> None:
    directory = os.path.dirname(path) or "."
    base = os.path.basename(path)
    tmp = ""
    for attempt in range(100):
        candidate = os.path.join(directory, f".{base}.tmp-{os.getpid()}-{attempt}")
        try:
            # 0o666 filtered by the umask for a new report, like a shell redirection would create it
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                         0o666)
        except FileExistsError:
            continue
        tmp = candidate
        break
    else:
        raise UsageError(f"cannot write {path}: no free temporary name next to it")
    try:
        try:
            if old is not None:  # the report file keeps its mode and, where allowed, its owner
                os.fchmod(fd, stat_mod.S_IMODE(old.st_mode))
                if (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                    try:
                        os.fchown(fd, old.st_uid, old.st_gid)
                    except PermissionError:
                        pass
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = ""
    finally:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def write_report(text: str, output: str | None) -> None:
    """Write ``text`` to ``output`` by the rules above; every failure is a one-line UsageError."""
    if not output or output in _STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    if output in _STDERR:
        sys.stderr.write(text)
        sys.stderr.flush()
        return
    data = text.encode("utf-8")
    try:
        try:
            st = os.stat(output)  # follows a link: the rules apply to what it points at
        except FileNotFoundError:
            if os.path.islink(output):
                raise UsageError(f"cannot write {output}: a symbolic link to a missing file: refused") from None
            _write_atomic(output, data, None)
            return
        if stat_mod.S_ISCHR(st.st_mode) or stat_mod.S_ISFIFO(st.st_mode):
            _write_through(output, data)
        elif stat_mod.S_ISREG(st.st_mode):
            _write_atomic(os.path.realpath(output), data, st)
        else:
            raise UsageError(f"cannot write {output}: it is {_kind(st.st_mode)}: refused")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from exc
