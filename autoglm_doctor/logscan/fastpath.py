"""The fast path for blocks of JSON lines: one compiled bytes regex per block layout, one match per
line, tuples counted in C; only error lines are parsed exactly.

The layout is learned from the block's first lines: the keys from the start of the object up to the
service and level fields must be the same on every sampled line (names and value kinds), and no id
field may sit among them. The regex then spells that prefix out literally (so no id can hide before
the service field), captures service and level, and takes the first id field after them with a lazy
scan (so a line without a captured id has no id field at all). The block goes to the exact path
unless every line matched exactly once, ends like an object, and each id field name seen in the
sample occurs exactly as often as ids were taken (a second id on a line, an alias, is left to the
exact path). Only an alias spelled with an id field name that the sample never showed escapes this
path: such a line still counts under its first id.
"""

from __future__ import annotations

import json
import operator
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.logscan.extract import TRACEPARENT
from autoglm_doctor.logscan.timeparse import parse_timestamp

if TYPE_CHECKING:
    from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner

SAMPLE_LINES = 32
ERROR_LEVELS = rb"(?i:err|fatal|crit|panic|emerg|alert)"  # the prefixes extract.normalise_level calls errors
# ``[^"]`` (one excluded byte) runs as a tight loop in sre, ``[^"\\]`` as a per-byte set test (~2x slower).
# An escaped quote inside a value stops the run early: for a value that is only skipped, the literal
# after it then fails (the line goes to BAD); a captured value ends in a backslash, which
# ``scan_fast`` checks.
VALUE = {"str": rb'"[^"]*"', "num": rb"-?[0-9][0-9.eE+-]*", "lit": rb"(?:true|false|null)"}


@dataclass(frozen=True)
class Layout:
    prefix: tuple[tuple[str, str, str], ...]  # (key, value kind, role: s/l/t/"")
    spaced: bool  # ", " and ": " separators (json.dumps default) instead of "," and ":"
    id_keys: frozenset[str]
    has_service: bool
    time_key: str | None
    dated: bool  # every sampled line has a time field


def _kind(value: object) -> str | None:
    if isinstance(value, str):
        return "str"
    if isinstance(value, bool) or value is None:
        return "lit"
    if isinstance(value, (int, float)):
        return "num"
    return None


def learn_layout(scanner: "ChunkScanner", data: bytes) -> Layout | None:
    s = scanner.s
    prefixes = set()
    spacing = set()
    dated = True
    id_keys: set[str] = set()
    sample = data[: 1 << 16].split(b"\n")[:SAMPLE_LINES]
    for line in sample[:-1] if len(sample) > 1 else sample:
        try:
            obj = json.loads(line)
        except ValueError:
            return None
        if not isinstance(obj, dict) or "__REALTIME_TIMESTAMP" in obj:
            return None
        spacing.add(b'": ' in line or b'", "' in line)
        _collect_ids(obj, s.trace_fields, id_keys)
        dated = dated and any(k in s.time_fields for k in obj)
        prefix = []
        svc = lvl = tkey = None
        wants_svc = any(k in s.service_fields and isinstance(v, str) for k, v in obj.items())
        for key, value in obj.items():
            if key in s.trace_fields:
                return None  # an id before the service/level fields: not this layout
            kind = _kind(value)
            if kind is None:
                return None  # a nested object or array before them
            role = ""
            if svc is None and key in s.service_fields and kind == "str":
                svc = role = "s"
            elif lvl is None and key in s.level_fields:
                if kind != "str" or key.lower() == "priority":
                    return None
                lvl = role = "l"
            elif tkey is None and key in s.time_fields:
                tkey, role = key, "t"
            prefix.append((key, kind, role))
            if lvl and (svc or not wants_svc):
                break
        if lvl is None:
            return None
        prefixes.add(tuple(prefix))
    if len(prefixes) != 1 or len(spacing) != 1:
        return None
    prefix_t = prefixes.pop()
    time_key = next((k for k, kind, role in prefix_t if role == "t" and kind == "str"), None)
    return Layout(prefix_t, spacing.pop(), frozenset(id_keys), any(r == "s" for _k, _kind, r in prefix_t),
                  time_key, dated)


def _collect_ids(obj: dict, fields: tuple[str, ...], out: set[str]) -> None:
    for key, value in obj.items():
        if isinstance(value, dict):
            _collect_ids(value, fields, out)
        elif key in fields and isinstance(value, str):
            out.add(key)


def compile_layout(scanner: "ChunkScanner", layout: Layout, windowed: bool) -> tuple[re.Pattern, dict[str, int]]:
    """``LINE|BAD``: LINE spells the learned prefix out, with a level that is not an error, and takes
    the service, the first id after it (and the time when windowed) from a line ending in ``}``;
    any other line (error lines included) is taken whole by BAD and parsed exactly."""
    key = (layout.prefix, layout.spaced, windowed)
    cached = scanner._regexes.get(key)
    if cached:
        return cached
    item_sep, colon = (b", ", b'": ') if layout.spaced else (b",", b'":')
    parts = [rb"\{"]
    for i, (name, kind, role) in enumerate(layout.prefix):
        if i:
            parts.append(item_sep)
        parts.append(b'"' + re.escape(name.encode()) + colon)
        if role == "l":
            parts.append(b'"(?!' + ERROR_LEVELS + rb')[^"]*"')
        elif role == "s" or (role == "t" and windowed and kind == "str"):
            parts.append(b'"(?P<' + role.encode() + (rb'>[^"]+)"' if role == "s" else rb'>[^"]*)"'))
        else:
            parts.append(VALUE[kind])
    ids = b"|".join(re.escape(f.encode()) for f in scanner.s.trace_fields)
    # ``(?:X|)`` rather than ``(?:X)?``: the same match, but a BRANCH is cheaper in sre than a
    # REPEAT (~15% of the whole findall).
    parts.append(rb'(?:[^\n]*?"(?:' + ids + b")" + colon + rb'"(?P<v>[^"]*)"|)[^\n]*\}\n|(?P<bad>[^\n]*\n)')
    rx = re.compile(b"".join(parts))
    compiled = (rx, {n: rx.groupindex[n] - 1 for n in rx.groupindex})
    scanner._regexes[key] = compiled
    return compiled


def window_verdict(scanner: "ChunkScanner", values: list[bytes]) -> str | None:
    """'inside' / 'outside' when all of a block's timestamps are on one side of the window, else None."""
    if not values or len(set(map(len, values))) != 1:
        return None
    if set(map(operator.itemgetter(-1), values)) != {ord("Z")} and len(
            set(map(operator.itemgetter(slice(-6, None)), values))) != 1:
        return None  # mixed zones: lexical order is not time order
    lo, hi = parse_timestamp(min(values).decode()), parse_timestamp(max(values).decode())
    if lo is None or hi is None:
        return None
    s = scanner.s
    if (s.since is None or lo >= s.since) and (s.until is None or hi <= s.until):
        return "inside"
    if (s.since is not None and hi < s.since) or (s.until is not None and lo > s.until):
        return "outside"
    return None


def scan_fast(scanner: "ChunkScanner", data: bytes, res: "ChunkResult", service: str) -> bool:
    """Scan ``data`` (ending in a newline) into ``res`` and return True, or return False with ``res``
    untouched (then the caller parses the block exactly).

    Per-line work stays in C: one ``findall`` over the block, then a ``Counter`` of the distinct
    (service, id, bad line) tuples (a trace logs ~3 lines per service, so Python only walks the
    distinct ones), and byte counts for the checks."""
    layout = learn_layout(scanner, data)
    if layout is None:
        return False
    windowed = scanner.s.windowed
    if windowed and layout.time_key is None:
        return False
    rx, idx = compile_layout(scanner, layout, windowed)
    matches = rx.findall(data)
    i_bad = idx["bad"]
    keys = ("s", "v", "bad") if layout.has_service else ("v", "bad")
    if len(idx) == len(keys):  # the groups are exactly these, in this order
        counts = Counter(matches)
    else:
        counts = Counter(map(operator.itemgetter(*(idx[k] for k in keys)), matches))
    bad = list(filter(None, map(operator.itemgetter(i_bad), matches)))
    bad_text = b"".join(bad)
    j_v = keys.index("v")
    taken = len(matches) - sum(n for key, n in counts.items() if not key[j_v])
    needles = [b'"' + k.encode() + b'":' for k in layout.id_keys]
    if sum(map(data.count, needles)) != taken + sum(map(bad_text.count, needles)):
        return False  # a second id on some line (an alias): the exact path records it
    if _escaped(counts, keys, matches, idx):
        return False  # a captured value holds an escaped quote: the exact parser decodes it
    good = len(matches) - len(bad)
    outside = False
    if windowed and good:
        times = [t for t in map(operator.itemgetter(idx["t"]), matches) if t]
        verdict = window_verdict(scanner, times)
        if verdict is None:
            return False
        outside = verdict == "outside"
    res.bytes_fast += len(data) - len(bad_text)
    if bad_text:
        scanner.exact(bad_text, res, service)
    if outside:
        res.outside += good
        return True
    if good:
        _account(scanner, data, res, service, counts, layout, good, set(bad) if bad else set())
    return True


def _escaped(counts: Counter, keys: tuple[str, ...], matches: list, idx: dict[str, int]) -> bool:
    """Did a ``[^"]*`` capture run into an escaped quote (it then ends in a backslash) or past the end
    of a truncated line (it then holds a newline, and the match spans two lines)?"""
    for j, name in enumerate(keys):
        if name != "bad":
            joined = b"".join(map(operator.itemgetter(j), counts))
            if b"\n" in joined or b"\\" in joined:
                return True
    if "t" in idx:
        joined = b"".join(map(operator.itemgetter(idx["t"]), matches))
        if b"\n" in joined or b"\\" in joined:
            return True
    return False


def _account(scanner: "ChunkScanner", data: bytes, res: "ChunkResult", service: str, counts: Counter,
             layout: Layout, good: int, bad: set[bytes]) -> None:
    found: dict[bytes, int] = {}
    get = found.get
    lines: Counter = Counter()  # service -> lines
    untraced: Counter = Counter()  # service -> lines without an id
    bits: dict[bytes, int] = {}
    if layout.has_service:
        items = counts.items()
    else:
        raw_default = service.encode()
        items = (((raw_default, v, b), n) for (v, b), n in counts.items())
    for (svc, value, badline), n in items:
        if value:
            try:
                found[value] = get(value, 0) | bits[svc]
            except KeyError:
                bits[svc] = res.bit(svc.decode("utf-8", "replace"))
                found[value] = get(value, 0) | bits[svc]
            lines[svc] += n
        elif not badline:
            lines[svc] += n
            untraced[svc] += n
    if "traceparent" in layout.id_keys:
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
    for raw, count in lines.items():
        stats = res.services.setdefault(raw.decode("utf-8", "replace"), [0, 0])
        stats[0] += count
        stats[1] += count - untraced[raw]
    for start in scanner.status_starts(data):
        end = data.find(b"\n", start)
        line = data[start:end]
        if line + b"\n" in bad:
            continue  # parsed with the BAD lines already
        rec, _problem = scanner.parser.parse(line, service)
        if rec is not None and rec.error:
            res.add_error(rec, rec.trace_id.encode())
    res.lines += good
    for line in (data[: data.find(b"\n")], data[data.rfind(b"\n", 0, len(data) - 1) + 1:]):
        rec, _problem = scanner.parser.parse(line, service)
        if rec is not None:
            res.seen_time(rec.ts)
    if not layout.dated:
        res.undated += good
