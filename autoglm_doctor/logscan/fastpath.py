"""The fast path for blocks of JSON lines: one compiled bytes regex per block layout, one match per
line, tuples counted in C; every line it cannot vouch for is parsed exactly.

The regex is a JSON grammar, not a shape test: a line is counted by the fast path only when it is a
well-formed flat JSON object (scalar values; strings without raw control bytes and with valid escapes;
nothing after the closing brace) in one of the block's learned layouts, so that the exact parser would
read the same service, level, first id and time from it. The layout is learned from the block's first
lines: the keys up to the service, level and time fields (the prefix) and the runs of keys seen after
them (the tails, as a trie) are spelled out literally. A line goes to the exact parser (the BAD
alternative) when anything could change what the exact parser reads:

- the level is not one the fast path fully understands (it must start with info/notice/warn/debug/
  trace: an error, a padded ``" error"``, an escape or an unknown ``verbose`` - after which another
  level field may say error - all go to the exact parser);
- the time is not a strict RFC 3339 string (numbers, odd formats, impossible hours);
- the service or the id holds an escape (the exact parser decodes it), or is empty;
- a key holds an escape, repeats a prefix key (a repeated key overrides the first in ``json.loads``),
  or is a journald key (``__CURSOR``: a journal entry);
- its keys are not a learned tail: a nested value, a second id (an alias, recorded by the exact path),
  an id that is not a non-empty string (the exact parser then takes the next id);
- a status field holds a 5xx (an error line);
- a service or time field appears anywhere when the layout has none (it would name the service or
  date the line).

Whole blocks go to the exact path when they hold invalid UTF-8 or may hold a line over 1 MiB (both
are per-line problems the exact parser reports), or when a time window cuts the block.
"""

from __future__ import annotations

import json
import operator
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.logscan.extract import MAX_LINE, TRACEPARENT
from autoglm_doctor.logscan.timeparse import parse_timestamp

if TYPE_CHECKING:
    from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner

SAMPLE_LINES = 64
MAX_TAILS = 16
CONTROL = bytes(range(0x20))  # newline included
JOURNAL_KEYS = ("__CURSOR", "__REALTIME_TIMESTAMP")
CHARS = rb'[^"\\\x00-\x1f]'  # a string byte that needs no decoding
STR_TAIL = CHARS + rb'*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})' + CHARS + rb'*)*"'
STR = b'"' + STR_TAIL
NUM = rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
LIT = rb"(?:true|false|null)"
NOT_5XX = rb'(?!"?5[0-9][0-9][",}])'  # extract._status: an int or a 3-digit string
# Only real dates (February 29 goes to the exact parser, which knows leap years), so every string
# that matches is one ``parse_timestamp`` reads.
DATE = rb"[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
TIME = (rb'"(?P<t>' + DATE + rb"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
        rb'(?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))"')
SEGMENT = MAX_LINE // 2  # a line over MAX_LINE covers a whole aligned segment of this size


@dataclass(frozen=True)
class Layout:
    prefix: tuple[tuple[str, str, str], ...]  # (key, value kind, role: s/l/t/"")
    spaced: bool  # ", " and ": " separators (json.dumps default) instead of "," and ":"
    has_service: bool
    has_time: bool
    tails: tuple[tuple[tuple[str, str], ...], ...]  # the (key, kind) runs seen after the prefix, commonest first
    time_form: tuple[int, str] | None = None  # (fraction digits, zone) of the sampled times, when one form


def _kind(value: object) -> str | None:
    if isinstance(value, str):
        return "str"
    if isinstance(value, bool) or value is None:
        return "lit"
    if isinstance(value, (int, float)):
        return "num"
    return None


def _plain_key(key: str) -> bool:
    return key.isascii() and key.isprintable() and '"' not in key and "\\" not in key


def _prefix(obj: dict, s) -> tuple[tuple[str, str, str], ...] | None:
    """The keys up to the service, level and time fields, with their roles, as extract reads them."""
    wants_svc = any(k in s.service_fields and isinstance(v, str) and v for k, v in obj.items())
    wants_time = any(k in s.time_fields for k in obj)
    prefix = []
    svc = lvl = tim = False
    for key, value in obj.items():
        kind = _kind(value)
        if key in s.trace_fields or kind is None or not _plain_key(key):
            return None  # an id, a nested value or an odd key before them: not this layout
        role = ""
        if not svc and key in s.service_fields and kind == "str":
            svc, role = True, "s"
        elif not lvl and key in s.level_fields:
            if kind != "str" or key.lower() == "priority":
                return None
            lvl, role = True, "l"
        elif not tim and key in s.time_fields:
            if kind != "str":
                return None
            tim, role = True, "t"
        prefix.append((key, kind, role))
        if lvl and (svc or not wants_svc) and (tim or not wants_time):
            return tuple(prefix)
    return None


def _tail(obj: dict, skip: int, s, has_service: bool, has_time: bool) -> tuple[tuple[str, str], ...] | None:
    """The keys after the prefix, when the exact parser would read nothing else from them than the
    fast path: scalars, at most one id (a non-empty string), no service or time field the layout
    lacks. Lines with other tails go to the exact parser."""
    tail = []
    ids = 0
    for key, value in list(obj.items())[skip:]:
        kind = _kind(value)
        if kind is None or not _plain_key(key):
            return None
        if (not has_service and key in s.service_fields) or (not has_time and key in s.time_fields):
            return None
        if key in s.trace_fields:
            ids += 1
            if ids > 1 or kind != "str":
                return None  # an alias (recorded by the exact path) or an id that is not a string
        tail.append((key, kind))
    return tuple(tail)


def learn_layout(scanner: "ChunkScanner", data: bytes) -> Layout | None:
    """The most common prefix of the block's first lines and the tails seen after it (odd sampled
    lines are skipped: they will not match and go to the exact parser)."""
    s = scanner.s
    seen: Counter = Counter()
    objs = []
    sample = data[: 1 << 16].split(b"\n")[:SAMPLE_LINES]
    sample = sample[:-1] if len(sample) > 1 else sample
    for line in sample:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict) or any(k in obj for k in JOURNAL_KEYS):
            continue
        prefix = _prefix(obj, s)
        if prefix is not None:
            key = (prefix, line.startswith(b'{"' + prefix[0][0].encode() + b'": '))
            seen[key] += 1
            objs.append((key, obj))
    if not seen:
        return None
    (prefix, spaced), n = seen.most_common(1)[0]
    if n * 2 < len(sample):
        return None
    has_service = any(r == "s" for _k, _kind, r in prefix)
    has_time = any(r == "t" for _k, _kind, r in prefix)
    tails: Counter = Counter()
    for key, obj in objs:
        if key == (prefix, spaced):
            tail = _tail(obj, len(prefix), s, has_service, has_time)
            if tail is not None:
                tails[tail] += 1
    if not tails:
        return None
    forms = {_time_form(obj, prefix) for key, obj in objs if key == (prefix, spaced)} if has_time else {None}
    return Layout(prefix, spaced, has_service, has_time, tuple(t for t, _n in tails.most_common(MAX_TAILS)),
                  forms.pop() if len(forms) == 1 else None)


def _time_form(obj: dict, prefix: tuple) -> tuple[int, str] | None:
    """(fraction digits, zone) of a strict RFC 3339 time: one form makes the regex fixed-width, and
    strings of one width and zone sort like the times they name (min/max in C)."""
    value = obj[next(k for k, _kind, role in prefix if role == "t")]
    if not re.fullmatch(TIME[1:-1].replace(b"(?P<t>", b"(?:").decode(), value):
        return None
    body, zone = (value[:-1], "Z") if value.endswith("Z") else (value[:-6], value[-6:])
    return (len(body) - body.index(".") - 1 if "." in body else 0), zone


def compile_layout(scanner: "ChunkScanner", layout: Layout, clean: bool) -> tuple[re.Pattern, dict[str, int]]:
    """``LINE|BAD``: LINE spells out the prefix and the learned tails (as a trie, commonest branch
    first) with a grammar for each value, and captures the service, the time and the id; any other
    line is taken whole by BAD. ``clean``: the block has no backslash (no escapes anywhere), so a
    string is ``"[^"]*"`` (a tight loop in sre; the caller checks for control bytes and lines)."""
    key = (layout, clean)
    cached = scanner._regexes.get(key)
    if cached:
        return cached
    s = scanner.s
    sep, colon = (b", ", b'": ') if layout.spaced else (b",", b'":')
    chars = rb'[^"]' if clean else CHARS
    string = b'"' + chars + b'*"' if clean else STR
    value = {"str": string, "num": NUM, "lit": LIT}
    parts = [rb"\{"]
    for i, (name, kind, role) in enumerate(layout.prefix):
        if i:
            parts.append(sep)
        parts.append(b'"' + re.escape(name.encode()) + colon)
        if role == "l":
            parts.append(b'"(?i:info|notice|warn|debug|trace)' + (chars + b'*"' if clean else STR_TAIL))
        elif role == "s":
            parts.append(b'"(?P<s>' + chars + b'+)"')
        elif role == "t":
            parts.append(_fixed_time(layout.time_form) if layout.time_form else TIME)
        else:
            parts.append((NOT_5XX if name in s.status_fields else b"") + value[kind])
    trie: dict = {}
    for tail in layout.tails:
        node = trie
        for member in tail:
            node = node.setdefault(member, {})
        node[None] = {}
    names = iter(range(len(layout.tails)))

    def emit(node: dict) -> bytes:
        alts = []
        for member, child in node.items():
            if member is None:
                alts.append(rb"\}\n")
                continue
            name, kind = member
            head = sep + b'"' + re.escape(name.encode()) + colon
            if name in s.trace_fields:
                head += b'"(?P<v' + str(next(names)).encode() + b">" + chars + b'+)"'
            else:
                head += (NOT_5XX if name in s.status_fields else b"") + value[kind]
            alts.append(head + emit(child))
        return alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"

    parts.append(emit(trie) + rb"|(?P<bad>[^\n]*\n)")
    rx = re.compile(b"".join(parts))
    compiled = (rx, {n: rx.groupindex[n] - 1 for n in rx.groupindex})
    scanner._regexes[key] = compiled
    return compiled


def plain_block(data: bytes) -> bool:
    """No invalid UTF-8 and no line that may be over MAX_LINE: the per-line problems of the exact
    parser cannot occur in a line the grammar accepts."""
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    for start in range(0, len(data) - SEGMENT + 1, SEGMENT):
        if data.find(b"\n", start, start + SEGMENT) < 0:
            return False
    return True


def _fixed_time(form: tuple[int, str]) -> bytes:
    digits, zone = form
    return TIME.replace(rb"(?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])",
                        (rb"\.[0-9]{%d}" % digits if digits else b"") + re.escape(zone.encode()))


def time_span(times: list[bytes], uniform: bool = False) -> tuple[float, float] | None:
    """(earliest, latest) of strict RFC 3339 strings (TIME); None if the parser disagrees. Strings of one length and one zone sort like the times they name, so min/max stay in C."""
    if uniform or len(set(map(len, times))) == 1 and (set(map(operator.itemgetter(-1), times)) == {ord("Z")} or len(
            set(map(operator.itemgetter(slice(-6, None)), times))) == 1):
        groups = [times]
    else:
        by_form: dict[tuple, list[bytes]] = {}
        for t in times:
            by_form.setdefault((len(t), b"Z" if t[-1] == 90 else t[-6:]), []).append(t)
        groups = list(by_form.values())
    lo = hi = None
    for group in groups:
        first, last = min(group), max(group)
        a, b = parse_timestamp(first.decode()), parse_timestamp(last.decode())
        if a is None or b is None:
            return None
        lo = a if lo is None else min(lo, a)
        hi = b if hi is None else max(hi, b)
    return (lo, hi) if lo is not None and hi is not None else None


def scan_fast(scanner: "ChunkScanner", data: bytes, res: "ChunkResult", service: str) -> bool:
    """Scan ``data`` (ending in a newline) into ``res`` and return True, or return False with ``res``
    untouched (then the caller parses the block exactly).

    Per-line work stays in C: one ``findall`` over the block, then a ``Counter`` of the distinct
    (service, id, bad line) tuples (a trace logs ~3 lines per service, so Python only walks the
    distinct ones)."""
    if not plain_block(data):
        return False
    layout = learn_layout(scanner, data)
    if layout is None:
        return False
    s = scanner.s
    if s.windowed and not layout.has_time:
        return False
    clean = b"\\" not in data
    rx, idx = compile_layout(scanner, layout, clean)
    matches = rx.findall(data)
    if clean and len(data) - len(data.translate(None, CONTROL)) != len(matches):
        # a control byte somewhere, or a string run over a line end: the strict grammar decides
        rx, idx = compile_layout(scanner, layout, False)
        matches = rx.findall(data)
    keys = (("s",) if layout.has_service else ()) + tuple(sorted(k for k in idx if k[0] == "v")) + ("bad",)
    if sorted(idx, key=idx.__getitem__) == list(keys):  # the groups are exactly these, in this order
        counts = Counter(matches)
    elif len(keys) == 1:
        counts = Counter((b"", bad) for bad in map(operator.itemgetter(idx["bad"]), matches))
        keys = ("v", "bad")
    else:
        counts = Counter(map(operator.itemgetter(*(idx[k] for k in keys)), matches))
    bad = list(filter(None, map(operator.itemgetter(idx["bad"]), matches)))
    good = len(matches) - len(bad)
    span = None
    if good and layout.has_time:
        span = time_span(list(filter(None, map(operator.itemgetter(idx["t"]), matches))), layout.time_form is not None)
        if span is None:
            return False
    outside = False
    if s.windowed and span is not None:
        lo, hi = span
        if (s.since is not None and hi < s.since) or (s.until is not None and lo > s.until):
            outside = True
        elif not ((s.since is None or lo >= s.since) and (s.until is None or hi <= s.until)):
            return False  # the window cuts the block: line by line
    bad_text = b"".join(bad)
    res.bytes_fast += len(data) - len(bad_text)
    if bad_text:
        scanner.exact(bad_text, res, service)
    if outside:
        res.outside += good
        return True
    if good:
        _account(res, service, counts, layout.has_service, len(keys) - 1 - layout.has_service)
        res.lines += good
        if span is None:
            res.undated += good
        else:
            res.seen_time(span[0])
            res.seen_time(span[1])
    return True


def _account(res: "ChunkResult", service: str, counts: Counter, has_service: bool, n_ids: int) -> None:
    """Counts keyed (service?, id group..., bad line): one Python step per distinct key."""
    found: dict[bytes, int] = {}
    get = found.get
    lines: Counter = Counter()  # service -> lines
    untraced: Counter = Counter()  # service -> lines without an id
    bits: dict[bytes, int] = {}
    raw_default = service.encode()
    if has_service and n_ids == 1:
        items = counts.items()
    elif n_ids == 1:
        items = (((raw_default, v, b), n) for (v, b), n in counts.items())
    else:  # several id groups (one per tail branch, at most one set) or none
        skip = 1 if has_service else 0
        items = (((key[0] if has_service else raw_default, b"".join(key[skip:-1]), key[-1]), n)
                 for key, n in counts.items())
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
    for value in [v for v in found if len(v) == 55 and v.startswith(b"00-")]:  # a traceparent names its trace
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
