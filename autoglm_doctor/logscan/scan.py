"""Scanning a block of log lines into a bounded ``ChunkResult``: per-trace service bitmasks, per-service
record counts, first errors, top error messages, problems, and a sample of per-trace time spans for
the clock-skew estimate.

Every line picks its own format (``extract``), so a block that mixes JSON, vLLM's text, uvicorn's
access lines and tracebacks pays for each line only once. A record is accounted when the next one
starts (its traceback lines may follow it) or when the stream or window ends (``finish``). Three
readers give the same result: the native scanner (``native/``, compiled, when built), the per-line
parser with orjson when installed, and the exact reference (the per-line parser with json).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from autoglm_doctor.logscan.extract import LineParser, Record, normalise_message
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.timeparse import parse_timestamp

MAX_MESSAGES = 5000  # distinct error messages kept per block (the rest are counted as "other")
SPAN_SAMPLE = 2000  # traces per block whose per-service time spans are kept (clock skew)
DOCKER_TS = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ")


@dataclass
class ChunkResult:
    source: str
    lines: int = 0
    outside: int = 0
    undated: int = 0
    bytes_fast: int = 0
    bytes_exact: int = 0
    service_order: list[str] = field(default_factory=list)
    services: dict[str, list[int]] = field(default_factory=dict)  # service -> [records, records with an id]
    traces: dict[bytes, int] = field(default_factory=dict)  # id -> bitmask over service_order
    first_errors: dict[bytes, dict[str, tuple[float, str]]] = field(default_factory=dict)  # id -> service -> (ts, msg)
    untraced_errors: dict[str, int] = field(default_factory=dict)
    error_lines: int = 0
    messages: Counter = field(default_factory=Counter)  # (service, normalised message) -> count
    problems: Counter = field(default_factory=Counter)
    aliases: dict[bytes, bytes] = field(default_factory=dict)  # other id on a line -> the line's id
    spans: dict[bytes, dict[str, list[float]]] = field(default_factory=dict)  # id -> service -> [first, last]
    first_ts: float | None = None
    last_ts: float | None = None
    pending: Record | None = None  # the last record, waiting for its traceback lines
    packed: bytes | None = None  # ``traces`` as one string while a result travels from a worker

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with ``traces`` packed into one string when the native module is there (a worker
        sends thousands of ids per window; one string is ~10x cheaper to send and merge)."""
        state = dict(self.__dict__)
        native = native_module()
        if state["traces"] and native is not None:
            packed = native.pack_traces(state["traces"])
            if packed is not None:
                state["traces"], state["packed"] = {}, packed
        return state

    def trace_masks(self) -> dict[bytes, int]:
        """``traces``, unpacked if it travelled packed."""
        if self.packed is not None:
            native = native_module()
            assert native is not None, "a result packed by the native module is read where it is built"
            self.traces, self.packed = native.unpack_traces(self.packed), None
        return self.traces

    def bit(self, service: str) -> int:
        try:
            return 1 << self.service_order.index(service)
        except ValueError:
            self.service_order.append(service)
            return 1 << (len(self.service_order) - 1)

    def seen_time(self, ts: float | None) -> None:
        if ts is None:
            return
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def add_error(self, rec: Record, trace: bytes) -> None:
        self.error_lines += 1
        key = (rec.service, normalise_message(rec.message))
        if key in self.messages or len(self.messages) < MAX_MESSAGES:
            self.messages[key] += 1
        else:
            self.messages[(rec.service, "(other messages)")] += 1
        if not trace:
            self.untraced_errors[rec.service] = self.untraced_errors.get(rec.service, 0) + 1
            return
        ts = rec.ts if rec.ts is not None else float("inf")
        by_service = self.first_errors.setdefault(trace, {})
        old = by_service.get(rec.service)
        if old is None or ts < old[0]:
            by_service[rec.service] = (ts, rec.message[:500])


@functools.lru_cache(maxsize=1)
def native_module() -> ModuleType | None:
    """The native scanner (``_native``, built from C when the install had a compiler), or None."""
    try:
        from autoglm_doctor.logscan import _native
    except ImportError:
        return None
    return _native


def native_available() -> bool:
    return native_module() is not None


class ChunkScanner:
    """``fast``: the native scanner for files, docker and journald sources (unless ``native`` is False)
    and orjson for the per-line parser's JSON lines; otherwise the exact reference parser reads every
    line."""

    def __init__(self, settings: ScanSettings, fast: bool = True, native: bool = True) -> None:
        self.s = settings
        self.parser = LineParser(settings, fast=fast)
        self.native: Any = None
        module = native_module() if fast and native else None
        if module is not None:
            self.native = module.Scanner(self)

    def begin(self, ref: float | None) -> None:
        """A stream or window starts (``ref``: the reference time for yearless times)."""
        self.parser.begin(ref)

    def scan(self, data: bytes, res: ChunkResult, service: str, kind: str = "file") -> None:
        if self.native is not None and kind in ("file", "docker", "journald"):
            self.native.scan(data, res, service, kind)  # counts the bytes as read by the fast path
            return
        if self.parser.fast_loads is not None:
            res.bytes_fast += len(data)
        else:
            res.bytes_exact += len(data)
        parse = self.parser.parse
        problems = res.problems
        pending = res.pending
        for raw in data.split(b"\n"):
            ts_default = None
            if kind == "docker":
                m = DOCKER_TS.match(raw)
                if m:
                    ts_default = parse_timestamp(m.group(1).decode())
                    raw = raw[m.end():]
            rec, problem = parse(raw, service, kind, ts_default)
            if problem:
                problems[problem] += 1
            if rec is None:
                continue
            if rec.cont and pending is not None:
                if rec.cont == 2:
                    pending.traceback = True
                continue
            if pending is not None:
                self.account(pending, res)
            pending = rec
        res.pending = pending

    def finish(self, res: ChunkResult) -> None:
        if res.pending is not None:
            self.account(res.pending, res)
            res.pending = None

    def account(self, rec: Record, res: ChunkResult) -> None:
        ts = rec.ts
        if ts is not None and not self.s.in_window(ts):
            res.outside += 1
            return
        if ts is None:
            res.undated += 1
        else:
            res.seen_time(ts)
        res.lines += 1
        counts = res.services.get(rec.service)
        if counts is None:
            counts = res.services[rec.service] = [0, 0]
        counts[0] += 1
        ids = rec.ids
        trace = ids[0].encode("utf-8", "surrogatepass") if ids else b""  # a JSON "\ud800" id must not crash
        if trace:
            counts[1] += 1
            res.traces[trace] = res.traces.get(trace, 0) | res.bit(rec.service)
            for alias in ids[1:]:
                res.aliases.setdefault(alias.encode("utf-8", "surrogatepass"), trace)
            if ts is not None:
                spans = res.spans.get(trace)
                if spans is None and len(res.spans) < SPAN_SAMPLE:
                    spans = res.spans[trace] = {}
                if spans is not None:
                    span = spans.get(rec.service)
                    if span is None:
                        spans[rec.service] = [ts, ts]
                    elif ts < span[0]:
                        span[0] = ts
                    elif ts > span[1]:
                        span[1] = ts
        if rec.error:
            res.add_error(rec, trace)
