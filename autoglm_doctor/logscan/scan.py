"""Scanning a block of log lines into a bounded ``ChunkResult``: per-trace service bitmasks, per-service
line counts, first errors, top error messages and problems. Two paths give the same result:

- exact: every line through ``LineParser`` (any format).
- fast (``fastpath``): clean JSON-lines blocks, one compiled regex per block layout; lines it cannot
  vouch for (errors, odd lines) are handed back to the exact path.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from autoglm_doctor.logscan.extract import LineParser, Record, normalise_message
from autoglm_doctor.logscan.fastpath import Layout, learn_layout, scan_fast
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.timeparse import parse_timestamp

MAX_MESSAGES = 5000  # distinct error messages kept per block (the rest are counted as "other")
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
    services: dict[str, list[int]] = field(default_factory=dict)  # service -> [lines, lines with an id]
    traces: dict[bytes, int] = field(default_factory=dict)  # id -> bitmask over service_order
    first_errors: dict[bytes, tuple[float, str, str]] = field(default_factory=dict)  # id -> (ts, service, msg)
    untraced_errors: dict[str, int] = field(default_factory=dict)
    error_lines: int = 0
    messages: Counter = field(default_factory=Counter)  # (service, normalised message) -> count
    problems: Counter = field(default_factory=Counter)
    aliases: dict[bytes, bytes] = field(default_factory=dict)  # other id on a line -> the line's id
    first_ts: float | None = None
    last_ts: float | None = None

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
        old = self.first_errors.get(trace)
        if old is None or ts < old[0]:
            self.first_errors[trace] = (ts, rec.service, rec.message[:500])


class ChunkScanner:
    def __init__(self, settings: ScanSettings) -> None:
        self.s = settings
        self.parser = LineParser(settings)
        self._regexes: dict[tuple, tuple[re.Pattern, dict[str, int]]] = {}

    # -- exact path ------------------------------------------------------------------------
    def exact(self, data: bytes, res: ChunkResult, service: str, kind: str = "file") -> None:
        res.bytes_exact += len(data)
        parse = self.parser.parse
        for raw in data.split(b"\n"):
            ts_default = None
            if kind == "docker":
                m = DOCKER_TS.match(raw)
                if m:
                    ts_default = parse_timestamp(m.group(1).decode())
                    raw = raw[m.end():]
            rec, problem = parse(raw, service, kind, ts_default)
            if problem:
                res.problems[problem] += 1
            if rec is not None:
                self.account(rec, res)

    def account(self, rec: Record, res: ChunkResult) -> None:
        if rec.ts is not None and not self.s.in_window(rec.ts):
            res.outside += 1
            return
        if rec.ts is None:
            res.undated += 1
        res.seen_time(rec.ts)
        res.lines += 1
        counts = res.services.get(rec.service)
        if counts is None:
            counts = res.services[rec.service] = [0, 0]
        counts[0] += 1
        trace = rec.trace_id.encode("utf-8", "surrogatepass")  # a JSON "\ud800" id must not crash the scan
        if trace:
            counts[1] += 1
            res.traces[trace] = res.traces.get(trace, 0) | res.bit(rec.service)
            for alias in rec.ids[1:]:
                res.aliases.setdefault(alias.encode("utf-8", "surrogatepass"), trace)
        if rec.error:
            res.add_error(rec, trace)

    # -- fast path -------------------------------------------------------------------------
    def scan(self, data: bytes, res: ChunkResult, service: str, kind: str = "file",
             hint: Layout | None = None) -> Layout | None:
        """Fast path when the block qualifies, else exact. Returns the layout the fast path used
        (a hint for the stream's next block), or None."""
        if kind == "file" and data[:1] == b"{" and data.endswith(b"\n"):
            layout = scan_fast(self, data, res, service, hint)
            if layout is not None:
                return layout
        self.exact(data, res, service, kind)
        return None

    def layout_hint(self, data: bytes) -> Layout | None:
        """A stream's layout, learned from its first bytes (``data`` is cut at its last newline)."""
        data = data[: data.rfind(b"\n") + 1]
        return learn_layout(self, data) if data[:1] == b"{" else None
