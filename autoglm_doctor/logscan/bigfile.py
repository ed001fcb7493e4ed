"""Reading big local log files fast and safely.

The Target protocol reads whole files (``read_bytes``), which is right for snapshots and small files
but not for multi-GB logs. When the target declares that its files are on this machine
(``Target.host_path``: a local or sysroot target), the parallel scanner's workers open them by path:
``mmap`` for substring search, chunk windows split at newlines (read with ``pread``) for the parallel
summary. Any other target falls back to ``read_bytes``.

Safety: a file truncated while mapped (copytruncate rotation) raises SIGBUS on access, so the
mapped substring search runs in worker processes (a dead worker is detected and the file re-read
with ``pread``); the summary's windows are read with ``pread``, which cannot fault; and every scan
reads at most the size seen when it started.
"""

from __future__ import annotations

import mmap
import os
import re
import signal
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target

# bytes per parallel task: larger windows send fewer results back (each trace id crosses once per
# window it appears in) but a worker holds one (its peak: ~35 MB at 8 MB, ~46 at 12, ~54 at 16; the
# 1 GB corpus takes 5.1, 4.9 and 4.8 CPU-seconds); the native scanner reads a window in one pass
CHUNK = 12 << 20
PARALLEL_MIN = 8 << 20  # smaller files are scanned in-process


@dataclass(frozen=True)
class FileIdentity:
    size: int
    inode: int
    device: int
    mtime_ns: int


def local_path(target: Target, path: str) -> str | None:
    """The host path of ``path`` when ``target`` declares its files are on this machine, else None."""
    from autoglm_doctor.targets.base import host_path

    return host_path(target, path) if path.startswith("/") else None


def identity(host_path: str) -> FileIdentity | None:
    try:
        st = os.stat(host_path)
    except OSError:
        return None
    return FileIdentity(st.st_size, st.st_ino, st.st_dev, st.st_mtime_ns)


def rotation_note(before: FileIdentity | None, after: FileIdentity | None, name: str) -> str | None:
    """Describe a rotation that happened while ``name`` was scanned, or None."""
    if before is None:
        return None
    if after is None:
        return f"{name} was removed or renamed during the scan (rotated); the lines read before that are used"
    if (after.inode, after.device) != (before.inode, before.device):
        return f"{name} was replaced during the scan (rotated); lines written to the new file are not in this scan"
    if after.size < before.size:
        return (f"{name} shrank from {before.size} to {after.size} bytes during the scan (copytruncate "
                f"rotation); lines past the truncation point may be incomplete")
    return None


# A line a window must not start with, raw or as a Docker json-file record: it may belong to the record
# before it (``extract.CONTINUATION``: indented frames, ``Traceback (``, the chained-exception headers; the
# final ``SomeError: ...`` line while a traceback runs; a blank line between chained tracebacks). Erring on
# the side of "continued" only moves the cut a line further.
CONTINUED = re.compile(rb'(?:\{"log":")?(?:[ \t\r\n]|\\[tn]|Traceback \(|During handling|The above exception'
                       rb"|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:Error|Exception|Exit|Interrupt|Warning)(?![\w.]))")


def split_points(host_path: str, size: int, chunk: int = CHUNK) -> list[tuple[int, int]]:
    """[start, end) windows of about ``chunk`` bytes, each ending just after a newline (the last
    window ends at ``size`` even without one) and never just before a traceback's line, so that a
    traceback stays in the window of the record it belongs to."""
    if size <= 0:
        return []
    bounds = [0]
    with open(host_path, "rb") as fh:
        pos = chunk
        while pos < size:
            cut = _next_line(fh, pos)
            while cut is not None and cut < size and cut - pos < (1 << 20):
                fh.seek(cut)
                if not CONTINUED.match(fh.read(256)):
                    break
                cut = _next_line(fh, cut)
            if cut is None or cut >= size:
                break
            bounds.append(cut)
            pos = cut + chunk
    bounds.append(size)
    return list(zip(bounds, bounds[1:]))


def _next_line(fh: Any, pos: int) -> int | None:
    """The offset just after the first newline at or after ``pos`` (None: no newline)."""
    fh.seek(pos)
    extra = 0
    probe = fh.read(1 << 16)
    while probe:
        found = probe.find(b"\n")
        if found != -1:
            return pos + extra + found + 1
        extra += len(probe)
        probe = fh.read(1 << 16)  # a very long line: keep looking
    return None


def read_window(host_path: str, start: int, end: int) -> bytes:
    """Bytes [start, end) by ``pread``: at most what the file still holds (a file truncated under
    us gives a shorter block, never a fault), into a buffer the worker's heap reuses."""
    fd = os.open(host_path, os.O_RDONLY)
    try:
        return os.pread(fd, max(0, end - start), start)
    finally:
        os.close(fd)


def find_offsets(host_path: str, needles: list[bytes], start: int, end: int) -> list[tuple[int, bytes]]:
    """Every (offset, needle) with a needle at an offset in [start, end), over the mapped window (no
    copy; the kernel's page cache is the only buffer): by StringZilla's SIMD search when the
    ``[fast]`` extra is installed (~10 GB/s a core), else ``mmap.find`` (~3 GB/s)."""
    hits: list[tuple[int, bytes]] = []
    fd = os.open(host_path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        end = min(end, size)
        if end <= start:
            return hits
        longest = max(len(n) for n in needles)
        stop = min(size, end + longest)  # a needle may straddle the window end
        base = start - start % mmap.ALLOCATIONGRANULARITY
        with mmap.mmap(fd, stop - base, access=mmap.ACCESS_READ, offset=base) as mm:
            view = memoryview(mm)
            try:
                hay: Any = _simd_text(view) or mm
                for needle in needles:
                    pos = hay.find(needle, start - base, stop - base)
                    while pos != -1 and pos + base < end:
                        hits.append((pos + base, needle))
                        pos = hay.find(needle, pos + 1, stop - base)
                del hay
            finally:
                view.release()
    finally:
        os.close(fd)
    return hits


def _simd_text(view: memoryview) -> Any:
    try:
        from stringzilla import Str
    except ImportError:  # the optional [fast] extra
        return None
    return Str(view)


@dataclass
class PendingSearch:
    """A ``search`` running in forked children (``start_search``), collected by ``finish``."""

    host_path: str
    needles: list[bytes]
    size: int
    children: list[tuple[int, int, int, int]]  # pid, the pipe's read end, [start, end)

    def finish(self) -> tuple[list[tuple[int, bytes]], str | None]:
        """(hits, note). A range whose child died is searched again with ``pread`` here."""
        hits: list[tuple[int, bytes]] = []
        note = None
        for pid, rfd, start, end in self.children:
            with os.fdopen(rfd, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                note = f"{self.host_path}: a search worker died (the file changed under it?); searched again by reading"
                hits += find_offsets_read(self.host_path, self.needles, start, end)
                continue
            values = array("q")
            values.frombytes(data)
            hits += [(values[i], self.needles[values[i + 1]]) for i in range(0, len(values), 2)]
        self.children = []
        return hits, note

    def cancel(self) -> None:
        for pid, rfd, _start, _end in self.children:
            os.close(rfd)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        self.children = []


def start_search(host_path: str, needles: list[bytes], size: int, jobs: int) -> PendingSearch:
    """``find_offsets`` over the first ``size`` bytes, in ``jobs`` forked children: a file truncated
    under the map raises SIGBUS, which kills a child, never the caller. The children are light (a
    fork of this process); ``trace`` starts them before it loads its configuration."""
    ranges = [(size * i // jobs, size * (i + 1) // jobs) for i in range(max(1, jobs))]
    children = []
    for start, end in ranges:
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: search, send (offset, needle index) pairs, exit without cleanup
            code = 1
            try:
                os.close(rfd)
                found = find_offsets(host_path, needles, start, end)
                out = array("q", [v for off, needle in found for v in (off, needles.index(needle))]).tobytes()
                with os.fdopen(wfd, "wb") as pipe:
                    pipe.write(out)
                code = 0
            finally:
                os._exit(code)
        os.close(wfd)
        children.append((pid, rfd, start, end))
    return PendingSearch(host_path, list(needles), size, children)


def search(host_path: str, needles: list[bytes], size: int, jobs: int) -> tuple[list[tuple[int, bytes]], str | None]:
    return start_search(host_path, needles, size, jobs).finish()


def find_offsets_read(host_path: str, needles: list[bytes], start: int, end: int,
                      block: int = 16 << 20) -> list[tuple[int, bytes]]:
    """``find_offsets`` by ``pread`` (cannot fault; a copy of every byte)."""
    hits: list[tuple[int, bytes]] = []
    longest = max(len(n) for n in needles)
    for at in range(start, end, block):
        data = read_window(host_path, at, min(end, at + block) + longest - 1)
        for needle in needles:
            pos = data.find(needle)
            while pos != -1 and at + pos < min(end, at + block):
                hits.append((at + pos, needle))
                pos = data.find(needle, pos + 1)
    return hits


def line_at(host_path: str, offset: int, limit: int = 1 << 20) -> tuple[int, bytes]:
    """The whole line around ``offset``: (line start, line bytes without the newline), at most
    ``limit`` bytes each side."""
    fd = os.open(host_path, os.O_RDONLY)
    try:
        lo = max(0, offset - limit)
        before = os.pread(fd, offset - lo, lo)
        cut = before.rfind(b"\n")
        start = lo + cut + 1 if cut != -1 else lo
        after = os.pread(fd, limit, offset)
        nl = after.find(b"\n")
        line = before[cut + 1:] if cut != -1 else before
        return start, line + (after[:nl] if nl != -1 else after)
    finally:
        os.close(fd)


def iter_local_blocks(host_path: str, limit: int | None = None, block: int = 4 << 20,
                      max_line: int = 1 << 20) -> Iterator[bytes]:
    """Sequential blocks ending at line boundaries (streaming, for in-process scans). A line longer
    than ``max_line`` is passed on as its first ``max_line + 1`` bytes (so it is counted once as
    over-long) and the rest of it is skipped: memory stays bounded whatever the file holds."""
    with open(host_path, "rb") as fh:
        carry = b""
        skipping = False
        remaining = limit
        while True:
            want = block if remaining is None else min(block, remaining)
            data = fh.read(want) if want > 0 else b""
            if remaining is not None:
                remaining -= len(data)
            if not data:
                if carry and not skipping:
                    yield carry
                return
            if skipping:
                nl = data.find(b"\n")
                if nl == -1:
                    continue
                skipping = False
                data = data[nl + 1:]
            data = carry + data
            cut = data.rfind(b"\n")
            if cut == -1:
                if len(data) > max_line:
                    yield data[:max_line + 1] + b"\n"
                    carry, skipping = b"", True
                else:
                    carry = data
                continue
            carry = data[cut + 1:]
            if len(carry) > max_line:
                yield data[:cut + 1] + carry[:max_line + 1] + b"\n"
                carry, skipping = b"", True
                continue
            yield data[:cut + 1]
