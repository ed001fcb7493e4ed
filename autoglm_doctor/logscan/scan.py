"""Scanning a block of log lines into a bounded ``ChunkResult``: per-trace service bitmasks, per-service
line counts, first errors, top error messages and problems. Two paths give the same result:

- exact: every line through ``LineParser`` (any format; ~1 us per short line).
- fast: for clean JSON-lines blocks. The key layout is learned from the block's first lines and one
  compiled bytes regex per block captures (level, service, first id, last byte) for every line; a
  ``Counter`` of those tuples is built in C. Only error lines are parsed exactly. The block falls
  back to the exact path unless every check holds: one match per line, every line ends with ``}``,
  and each id field seen occurs exactly as often as it was captured (so no line carries two ids or
  an id the regex skipped). With a time window, every line's timestamp must be in the same ISO shape
  and the whole block inside or outside the window.
"""

from __future__ import annotations

import json
import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from autoglm_doctor.logscan.extract import (
    TRACEPARENT,
    LineParser,
    Record,
    _walk,
    normalise_level,
    normalise_message,
)
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.timeparse import parse_timestamp

SAMPLE_LINES = 64
MAX_MESSAGES = 5000  # distinct error messages kept per block (the rest are counted as "other")
ERROR_VALUES = rb"(?i:err|fatal|crit|panic|emerg|alert)"
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
        ids = b"|".join(re.escape(f.encode()) for f in settings.trace_fields)
        self._id_alt = ids
        self._status_fields = frozenset(f.encode() for f in settings.status_fields)
        self._status_rxs = _status_regexes(settings.status_fields)

    # -- exact path ------------------------------------------------------------------------
    def exact(self, data: bytes, res: ChunkResult, service: str, kind: str = "file") -> None:
        res.bytes_exact += len(data)
        parse = self.parser.parse
        s = self.s
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
        trace = rec.trace_id.encode()
        if trace:
            counts[1] += 1
            res.traces[trace] = res.traces.get(trace, 0) | res.bit(rec.service)
            for alias in rec.ids[1:]:
                res.aliases.setdefault(alias.encode(), trace)
        if rec.error:
            res.add_error(rec, trace)

    # -- fast path -------------------------------------------------------------------------
    def scan(self, data: bytes, res: ChunkResult, service: str, kind: str = "file") -> None:
        """Fast path when the block qualifies, else exact."""
        if kind == "file" and data[:1] == b"{" and data.endswith(b"\n") and self._fast(data, res, service):
            return
        self.exact(data, res, service, kind)

    def _layout(self, data: bytes) -> tuple | None:
        """(service key, level key, time key, key order, spaced separator, id keys seen), learned
        from the block's first lines; None when they disagree or are not plain JSON objects."""
        s = self.s
        shapes = set()
        orders = set()
        id_keys: set[str] = set()
        status_keys: set[str] = set()
        sample = data[: 1 << 16].split(b"\n")[:SAMPLE_LINES]
        for line in sample[:-1] if len(sample) > 1 else sample:
            try:
                obj = json.loads(line)
            except ValueError:
                return None
            if not isinstance(obj, dict) or "__REALTIME_TIMESTAMP" in obj:
                return None
            svc = lvl = tkey = None
            order: list[str] = []
            for key, value in _walk(obj):
                if key in s.trace_fields and isinstance(value, str):
                    id_keys.add(key)
                    if "id" not in order:
                        order.append("id")
                elif key in s.service_fields and svc is None and isinstance(value, str):
                    svc = key
                    order.append("s")
                elif key in s.level_fields and lvl is None:
                    if not isinstance(value, str) or key.lower() == "priority":
                        return None
                    lvl = key
                    order.append("l")
                elif key in s.time_fields and tkey is None:
                    tkey = key
                if key in s.status_fields:
                    status_keys.add(key)
            if lvl is None:
                return None
            shapes.add((svc, lvl, tkey, b'": "' in line))
            orders.add(tuple(order))
        with_id = {o for o in orders if "id" in o}
        without = {o for o in orders if "id" not in o}
        if len(shapes) != 1 or len(with_id) > 1 or len(without) > 1:
            return None
        if with_id:
            base = with_id.pop()
            if without and without.pop() != tuple(x for x in base if x != "id"):
                return None
        elif without:
            base = without.pop() + ("id",)
        else:
            return None
        svc, lvl, tkey, spaced = shapes.pop()
        return svc, lvl, tkey, base, spaced, frozenset(id_keys), frozenset(status_keys)

    def _regex(self, svc: str, order: tuple, spaced: bool) -> tuple[re.Pattern, dict[str, int]]:
        """One match per line: (service, first id, last byte of the line), keys in learned order.
        Values are ``[^"]*``: a value with an escaped quote ends in a backslash and sends the block
        to the exact path."""
        key = (svc, order, spaced)
        if key not in self._regexes:
            colon = b'": "' if spaced else b'":"'
            ids = b"".join([b'"(?:', self._id_alt, b")", colon, b'(?P<v>[^"]*)"'])
            if order.index("id") < order.index("s"):
                body = b"(?:" + ids + rb"[^\n]*?)?" + b'"' + re.escape(svc.encode()) + colon + b'(?P<s>[^"]*)"'
            else:
                body = b'"' + re.escape(svc.encode()) + colon + b'(?P<s>[^"]*)"' + rb"(?:[^\n]*?" + ids + b")?"
            rx = re.compile(body + rb"[^\n]*(?P<e>[^\n])\n")
            self._regexes[key] = (rx, {n: rx.groupindex[n] - 1 for n in rx.groupindex})
        return self._regexes[key]

    def _fast(self, data: bytes, res: ChunkResult, service: str) -> bool:
        layout = self._layout(data)
        if layout is None:
            return False
        svc_key, lvl_key, time_key, order, spaced, id_keys, status_keys = layout
        if svc_key is None:
            return False  # no service field: the exact path (blocks of one-service files are small)
        colon = b'": "' if spaced else b'":"'
        n = data.count(b"\n")
        outside = False
        if self.s.windowed:
            verdict = self._window_verdict(data, time_key, colon, n)
            if verdict is None:
                return False
            outside = verdict == "outside"
        rx, idx = self._regex(svc_key, order, spaced)
        matches = rx.findall(data)
        if len(matches) != n:
            return False
        counted = Counter(matches)
        i_s, i_v, i_e = idx["s"], idx["v"], idx["e"]
        if set(map(operator.itemgetter(i_e), counted)) != {b"}"}:
            return False  # a line that does not end like a JSON object
        values = set(map(operator.itemgetter(i_v), counted))
        services = set(map(operator.itemgetter(i_s), counted))
        if any(v.endswith(b"\\") for v in services) or any(v.endswith(b"\\") for v in values):
            return False  # an escaped quote inside a value
        untraced = {k[i_s]: c for k, c in counted.items() if not k[i_v]}
        captured = n - sum(untraced.values())
        if sum(data.count(b'"' + k.encode() + b'":') for k in id_keys) != captured:
            return False  # an id the regex did not take (two ids on a line, or an unusual order)
        if data.count(b'"' + lvl_key.encode() + b'":') != n:
            return False
        errors = self._error_starts(data, lvl_key, colon, status_keys)
        if errors is None:
            return False
        res.bytes_fast += len(data)
        if outside:
            res.outside += n
            return True
        per_service = Counter(map(operator.itemgetter(i_s), matches))
        bit_of = {}
        for raw, lines in per_service.items():
            name = raw.decode("utf-8", "replace")
            bit_of[raw] = res.bit(name)
            stats = res.services.setdefault(name, [0, 0])
            stats[0] += lines
            stats[1] += lines - untraced.get(raw, 0)
        traces = res.traces
        get = traces.get
        normalise = "traceparent" in id_keys
        for key in counted:
            value = key[i_v]
            if value:
                if normalise and len(value) == 55:
                    m = TRACEPARENT.match(value.decode("ascii", "replace"))
                    value = m.group(1).encode() if m else value
                traces[value] = get(value, 0) | bit_of[key[i_s]]
        for start in errors:
            end = data.find(b"\n", start)
            rec, _problem = self.parser.parse(data[start:end], service)
            if rec is not None and rec.error:
                res.add_error(rec, rec.trace_id.encode())
        res.lines += n
        for line in (data[: data.find(b"\n")], data[data.rfind(b"\n", 0, len(data) - 1) + 1:]):
            rec, _problem = self.parser.parse(line, service)
            if rec is not None:
                res.seen_time(rec.ts)
        if time_key is None:
            res.undated += n
        return True

    def _error_starts(self, data: bytes, lvl_key: str, colon: bytes, status_keys: frozenset) -> list[int] | None:
        """Offsets of the lines that may be errors, to be parsed exactly: an error level in the learned
        level field (literal-prefix regex), or a value starting with 5 right after any status field
        (found by its value, ``":5`` / ``":"5``, so no status field name can be missed)."""
        starts = set()
        level_rx = re.compile(b'"' + re.escape(lvl_key.encode()) + colon + ERROR_VALUES)
        for m in level_rx.finditer(data):
            starts.add(data.rfind(b"\n", 0, m.start()) + 1)
        for rx in self._status_rxs:
            for m in rx.finditer(data):
                key_start = data.rfind(b'"', 0, m.start()) + 1
                key_end = data.find(b'"', m.start())
                if data[key_start:key_end] in self._status_fields:
                    starts.add(data.rfind(b"\n", 0, m.start()) + 1)
        del status_keys
        return sorted(starts)

    def _window_verdict(self, data: bytes, time_key: str | None, colon: bytes, n: int) -> str | None:
        """'inside' / 'outside' when the whole block is on one side of the window, else None."""
        if time_key is None:
            return None
        values = re.findall(b'"' + re.escape(time_key.encode()) + colon + rb'([^"\n]*)"', data)
        if len(values) != n or len(set(map(len, values))) != 1:
            return None
        if set(map(operator.itemgetter(-1), values)) != {ord("Z")} and len(
                set(map(operator.itemgetter(slice(-6, None)), values))) != 1:
            return None  # mixed zones: lexical order is not time order
        lo, hi = parse_timestamp(min(values).decode()), parse_timestamp(max(values).decode())
        if lo is None or hi is None:
            return None
        s = self.s
        if (s.since is None or lo >= s.since) and (s.until is None or hi <= s.until):
            return "inside"
        if (s.since is not None and hi < s.since) or (s.until is not None and lo > s.until):
            return "outside"
        return None


def level_of(value: Any) -> str:
    return normalise_level(value)


def _common_part(names: tuple[str, ...]) -> str:
    first = min(names, key=len)
    for size in range(len(first), 2, -1):
        for i in range(len(first) - size + 1):
            part = first[i:i + size]
            if all(part in n for n in names):
                return part
    return ""


def _status_regexes(fields: tuple[str, ...]) -> list[re.Pattern]:
    """Regexes with a literal prefix that find a 5xx value after any status field: one for the part
    all field names share ("status"), else one per field. Hits are checked against the full names."""
    if not fields:
        return []
    tail = rb'[^"\n]{0,32}": ?"?5\d\d(?:[",}\s]|$)'
    common = _common_part(tuple(fields))
    if common:
        return [re.compile(re.escape(common.encode()) + tail)]
    return [re.compile(b'"' + re.escape(f.encode()) + rb'": ?"?5\d\d(?:[",}\s]|$)') for f in fields]
