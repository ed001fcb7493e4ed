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

    def _regex(self, svc: str, lvl: str, order: tuple, spaced: bool,
               adjacent: bool = False) -> tuple[re.Pattern, dict[str, int]]:
        """One match per line: (level, service, first id, last byte of the line), keys in the learned
        order. Values are ``[^"\\]*``: an escaped quote makes the line not match (or its id not be
        taken), which the checks in ``_fast`` catch, sending the block to the exact path."""
        key = (svc, lvl, order, spaced, adjacent)
        if key not in self._regexes:
            colon = b'": "' if spaced else b'":"'
            value = rb'[^"\\]*)"'
            pieces = {
                "s": b'"' + re.escape(svc.encode()) + colon + b"(?P<s>" + value,
                "l": b'"' + re.escape(lvl.encode()) + colon + b"(?P<l>" + value,
            }
            ids = b'"(?:' + self._id_alt + b")" + colon + b"(?P<v>" + value
            # between two fields: any text (lazy), or exactly the item separator when the sample
            # showed the fields next to each other (faster; a line that differs makes the block retry)
            gap = (b", " if spaced else b",") if adjacent else rb"[^\n]*?"
            body = b""
            for i, name in enumerate(order):
                if name == "id":
                    body += (b"(?:" + ids + gap + b")?") if i == 0 else (b"(?:" + gap + ids + b")?")
                    continue
                if body and not (i == 1 and order[0] == "id"):  # the id-first group ends with its gap
                    body += gap
                body += pieces[name]
            rx = re.compile(body + rb"[^\n]*(?P<e>[^\n])\n")
            self._regexes[key] = (rx, {n: rx.groupindex[n] - 1 for n in rx.groupindex})
        return self._regexes[key]

    def _fast(self, data: bytes, res: ChunkResult, service: str) -> bool:
        layout = self._layout(data)
        if layout is None:
            return False
        svc_key, lvl_key, time_key, order, spaced, id_keys, _status_keys = layout
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
        id_count = sum(data.count(b'"' + k.encode() + b'":') for k in id_keys)
        matches: list = []
        for adjacent in (True, False) if self._adjacent(data, svc_key, lvl_key, order, spaced) else (False,):
            rx, idx = self._regex(svc_key, lvl_key, order, spaced, adjacent)
            matches = rx.findall(data)
            # every line matched once, and every id field was taken (none elsewhere on a line)
            if len(matches) == n and n - operator.countOf(map(operator.itemgetter(idx["v"]), matches), b"") == id_count:
                break
        else:
            return False
        if set(map(operator.itemgetter(idx["e"]), matches)) != {b"}"}:
            return False  # a line that does not end like a JSON object
        found: dict[bytes, int] = {}
        get = found.get
        bit_of: dict[bytes, int] = {}
        untraced_of: dict[bytes, int] = {}
        for svc, value in map(operator.itemgetter(idx["s"], idx["v"]), matches):
            if value:
                bit = bit_of.get(svc)
                if bit is None:
                    bit = bit_of[svc] = res.bit(svc.decode("utf-8", "replace"))
                found[value] = get(value, 0) | bit
            else:
                untraced_of[svc] = untraced_of.get(svc, 0) + 1
        lines_of = Counter(map(operator.itemgetter(idx["s"]), matches))
        levels = set(map(operator.itemgetter(idx["l"]), matches))
        error_needles = [b'"' + lvl_key.encode() + colon + lvl + b'"' for lvl in levels
                         if normalise_level(lvl.decode("utf-8", "replace")) == "error"]
        res.bytes_fast += len(data)
        if outside:
            res.outside += n
            return True
        if "traceparent" in id_keys:
            for value in [v for v in found if len(v) == 55 and v.startswith(b"00-")]:
                m = TRACEPARENT.match(value.decode("ascii", "replace"))
                if m:
                    found[m.group(1).encode()] = found.get(m.group(1).encode(), 0) | found.pop(value)
        if not res.traces:
            res.traces = found
        else:
            traces = res.traces
            for value, mask in found.items():
                traces[value] = traces.get(value, 0) | mask
        for raw, lines in lines_of.items():
            stats = res.services.setdefault(raw.decode("utf-8", "replace"), [0, 0])
            stats[0] += lines
            stats[1] += lines - untraced_of.get(raw, 0)
        for start in self._error_starts(data, error_needles):
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

    def _adjacent(self, data: bytes, svc: str, lvl: str, order: tuple, spaced: bool) -> bool:
        """Do the sample lines hold the fields side by side (``"level":"x","service":"y",...``)?"""
        rx, _idx = self._regex(svc, lvl, order, spaced, True)
        sample = data[: 1 << 16].split(b"\n")[:SAMPLE_LINES]
        lines = sample[:-1] if len(sample) > 1 else sample
        return all(rx.search(line + b"\n") for line in lines)

    def _error_starts(self, data: bytes, level_needles: list[bytes]) -> list[int]:
        """Offsets of the lines that may be errors, to be parsed exactly: the error levels seen in the
        block (``"level":"error"``, by substring search) and a 5xx after any status field (a regex
        with a literal prefix; hits are checked against the full field names)."""
        starts = set()
        for needle in level_needles:
            pos = data.find(needle)
            while pos != -1:
                starts.add(data.rfind(b"\n", 0, pos) + 1)
                pos = data.find(needle, pos + len(needle))
        for rx in self._status_rxs:
            for m in rx.finditer(data):
                key_start = data.rfind(b'"', 0, m.start()) + 1
                key_end = data.find(b'"', m.start())
                if data[key_start:key_end] in self._status_fields:
                    starts.add(data.rfind(b"\n", 0, m.start()) + 1)
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
