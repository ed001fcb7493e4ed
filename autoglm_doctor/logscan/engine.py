"""Running scans: big local files in parallel forked worker processes over newline-split windows (one
per core), everything else in-process, results merged in window order with a bounded number in flight.

The engine reading the lines of files (``choose_engine``): the native scanner (``logscan/_native``, a
compiled pass over a block that leaves to the exact parser every line it cannot read exactly) when it
is built, else the per-line parser with orjson, else with json (the exact reference).

Windows are read with ``pread`` (a file truncated under the scan gives short windows, never a
fault). A worker that dies anyway breaks the pool; the remaining windows of that scan are then
read in-process, and a note says why.
"""

from __future__ import annotations

import gc
import itertools
import os
from typing import TYPE_CHECKING, Any, Iterator

from autoglm_doctor.logscan import bigfile
from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner, native_available
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.progress import Progress
from autoglm_doctor.logscan.sources import Stream, reference_time, skip_old
from autoglm_doctor.logscan.summary import Summary

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target

_worker_scanner: ChunkScanner | None = None


def _init_worker(settings: ScanSettings, fast: bool = True, native: bool = True) -> None:
    global _worker_scanner
    _worker_scanner = ChunkScanner(settings, fast, native)
    # A scan allocates ~1 tuple and 2 small bytes per line and keeps them until the window is done:
    # the cyclic GC would walk them again and again for nothing (they hold no cycles).
    gc.disable()
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """Each window allocates and frees a few blocks of megabytes. glibc would hand them back to the
    kernel and fault them in again for the next window (hundreds of page faults per window, dear in
    a VM); fixed thresholds keep them in the worker's heap instead. Workers only, glibc only."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD: blocks under 64 MB come from the heap
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD: keep up to 256 MB of free heap
    except (OSError, AttributeError):
        pass


def _scan_window(task: tuple[str, int, int, str, str, Any]) -> ChunkResult:
    """A worker's task."""
    assert _worker_scanner is not None
    return scan_window(_worker_scanner, task)


def scan_window(scanner: ChunkScanner, task: tuple[str, int, int, str, str, Any]) -> ChunkResult:
    """One window of a big file (its bytes read with ``pread``) scanned into a new result."""
    host_path, start, end, name, service, ref = task
    try:
        data = bigfile.read_window(host_path, start, end)
    except OSError:  # the file vanished
        data = b""
    res = ChunkResult(name)
    scanner.begin(ref)
    scanner.scan(data, res, service)
    scanner.finish(res)
    return res


def pool(jobs: int, settings: ScanSettings, fast: bool = True, native: bool = True) -> Any:
    """Forked worker processes (imported only when needed)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"),
                               initializer=_init_worker, initargs=(settings, fast, native))


def choose_engine(fast: bool, engine: str = "auto") -> str:
    """"native" (the compiled scanner, when built), "orjson" or "json" (the per-line parser; json is
    the exact reference). ``engine``: auto, or line (the per-line parser even where the native
    scanner is built)."""
    from autoglm_doctor.logscan.extract import orjson_loads

    if fast and engine == "auto" and native_available():
        return "native"
    return "orjson" if fast and orjson_loads is not None else "json"


def summarize(target: Target, streams: list[Stream], settings: ScanSettings, *, jobs: int = 0,
              progress: Progress | None = None, notes: list[str] | None = None, fast: bool = True,
              chunk: int = bigfile.CHUNK, parallel_min: int = bigfile.PARALLEL_MIN, engine: str = "auto") -> Summary:
    """Scan every stream into one Summary. ``jobs`` 0 = one worker per CPU; ``fast`` False uses the
    exact reference parser throughout; local files of ``parallel_min`` bytes or more are scanned in
    windows of about ``chunk`` bytes in worker processes. ``engine`` "line" keeps files on the
    per-line parser where the native scanner is built (``choose_engine``)."""
    summary = Summary(settings)
    if notes:
        summary.notes.extend(notes)
    summary.engine = choose_engine(fast, engine)
    native = summary.engine == "native"
    scanner = ChunkScanner(settings, fast, native)
    jobs = jobs or os.cpu_count() or 1
    total = sum(s.size for s in streams)
    done = 0
    tasks: list[tuple[tuple[str, int, int, str, str, Any], Stream]] = []
    identities: dict[str, Any] = {}
    local: list[tuple[Stream, Any]] = []
    for stream in streams:
        summary.source(stream.name, stream.service, stream.kind)
        if skip_old(stream, settings):
            summary.notes.append(f"{stream.name}: last written before the window; not read")
            done += stream.size
            continue
        ref = reference_time(target, stream, settings)
        if stream.parallel(parallel_min) and jobs > 1:
            identities[stream.name] = bigfile.identity(stream.host_path or "")
            for start, end in bigfile.split_points(stream.host_path or "", stream.size, chunk):
                tasks.append(((stream.host_path or "", start, end, stream.name, stream.service, ref), stream))
            continue
        local.append((stream, ref))
    # the workers start on the big files while this process reads the small ones (merged first, as before)
    results = _run_parallel(tasks, scanner, jobs, summary.notes, native) if tasks else iter(())
    first = next(results, None)  # submits the first windows (None; a result only if the pool broke at once)
    for stream, ref in local:
        stats = summary.sources[stream.name]
        if stream.host_path is not None:
            identities[stream.name] = bigfile.identity(stream.host_path)
        res = ChunkResult(stream.name)
        scanner.begin(ref)
        for block in stream.blocks(target, settings.since, summary.notes):
            scanner.scan(block, res, stream.service, stream.kind)
            done += len(block)
            if progress:
                progress(done, total)
        scanner.finish(res)
        summary.merge(res, stats)
    for item in itertools.chain([first], results):
        if item is None:
            continue
        res, size = item
        summary.merge(res, summary.sources[res.source])
        done += size
        if progress:
            progress(done, total)
    for stream in streams:
        if stream.name in identities and stream.host_path:
            note = bigfile.rotation_note(identities[stream.name], bigfile.identity(stream.host_path), stream.name)
            if note:
                summary.notes.append(note)
    return summary


def _run_parallel(tasks: list, scanner: ChunkScanner, jobs: int, notes: list[str],
                  native: bool) -> Iterator[tuple[ChunkResult, int] | None]:
    """Results in window order (whatever order the workers finish in), so that merging - and with
    it every list and tie in the report - is the same from run to run. The first item is None, once
    the first windows are submitted (the caller goes on with other work meanwhile)."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    executor = pool(jobs, scanner.s, scanner.parser.fast_loads is not None, native)
    in_flight: dict[Any, int] = {}
    done: dict[int, ChunkResult] = {}
    submitted = yielded = 0
    started = False
    try:
        while yielded < len(tasks):
            while submitted < len(tasks) and len(in_flight) + len(done) < jobs * 2:
                in_flight[executor.submit(_scan_window, tasks[submitted][0])] = submitted
                submitted += 1
            if not started:
                started = True
                yield None
            if yielded not in done:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    done[in_flight.pop(future)] = future.result()
            while yielded in done:
                task = tasks[yielded][0]
                yield done.pop(yielded), task[2] - task[1]
                yielded += 1
    except BrokenProcessPool:
        notes.append(f"a scan worker died; {len(tasks) - yielded - len(done)} "
                     "windows scanned in-process")
        executor.shutdown(wait=False, cancel_futures=True)
        for index in range(yielded, len(tasks)):
            task = tasks[index][0]
            res = done.pop(index, None) or scan_window(scanner, task)
            yield res, task[2] - task[1]
        return
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
