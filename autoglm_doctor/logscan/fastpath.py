"""The fast path for blocks of JSON lines: one compiled bytes regex per block layout (``fastgrammar``),
one ``findall`` per block, its groups transposed into columns and reduced in C (``fastcount``);
every line it cannot vouch for is parsed exactly.

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
- the time is not a strict RFC 3339 string (numbers, odd formats, impossible hours); a time of the
  sample's one form is captured loosely and its column checked against exactly that pattern - a
  block where the check fails is matched again with the strict pattern;
- the service or the id holds an escape (the exact parser decodes it), or is empty; the sample's
  services are spelled out, so a service the sample did not show goes to the exact parser unless
  the sample showed more services than are spelled out;
- a key holds an escape, repeats a prefix key (a repeated key overrides the first in ``json.loads``),
  or is a journald key (``__CURSOR``: a journal entry);
- its keys are not a learned tail: a nested value, a second id (an alias, recorded by the exact path),
  an id that is not a non-empty string (the exact parser then takes the next id);
- a status field holds a 5xx (an error line);
- a service or time field appears anywhere when the layout has none (it would name the service or
  date the line).

Whole blocks go to the exact path when they hold invalid UTF-8 or may hold a line over 1 MiB (both
are per-line problems the exact parser reports), or when a time window cuts the block. A block with
no backslash uses the ``clean`` grammar (strings as ``[^"]*``); its control bytes are then checked
to be exactly one newline per match.

The layout is learned once per stream (its first 64 KiB) and handed to each block as a hint; a
block that mostly does not fit it learns its own. Any layout gives the same counts.
"""

from __future__ import annotations

import json
import operator
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.logscan import fastcount
from autoglm_doctor.logscan.extract import MAX_LINE
from autoglm_doctor.logscan.fastgrammar import TIME_BODY, Grammar, compile_layout
from autoglm_doctor.logscan.timeparse import parse_timestamp

if TYPE_CHECKING:
    from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner

SAMPLE_LINES = 64
MAX_TAILS = 16
MAX_SERVICES = 4  # spelled out in the regex, each with its own copy of the rest of the line
# Deleting every other byte keeps a block's control bytes (newlines included): a short result, so
# the check writes almost nothing (deleting the control bytes instead would copy the whole block).
NOT_CONTROL = bytes(range(0x20, 0x100))
JOURNAL_KEYS = ("__CURSOR", "__REALTIME_TIMESTAMP")
SEGMENT = MAX_LINE // 2  # a line over MAX_LINE covers a whole aligned segment of this size


@dataclass(frozen=True)
class Layout:
    prefix: tuple[tuple[str, str, str], ...]  # (key, value kind, role: s/l/t/"")
    spaced: bool  # ", " and ": " separators (json.dumps default) instead of "," and ":"
    has_service: bool
    has_time: bool
    tails: tuple[tuple[tuple[str, str], ...], ...]  # the (key, kind) runs seen after the prefix, commonest first
    time_form: tuple[int, str] | None = None  # (fraction digits, zone) of the sampled times, when one form
    services: tuple[str, ...] = ()  # the commonest plain service names of the sample, spelled out in the regex
    other_services: bool = True  # the sample had services not spelled out: the regex has a generic branch


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
    mine = [obj for key, obj in objs if key == (prefix, spaced)]
    forms = {_time_form(obj, prefix) for obj in mine} if has_time else {None}
    services: Counter = Counter()
    if has_service:
        field = next(k for k, _kind, role in prefix if role == "s")
        services.update(obj[field] for obj in mine if isinstance(obj[field], str) and obj[field] and _plain_key(obj[field]))
    known = tuple(sorted(svc for svc, _n in services.most_common(MAX_SERVICES)))
    others = has_service and any(not (isinstance(obj[field], str) and obj[field] in known) for obj in mine)
    return Layout(prefix, spaced, has_service, has_time, tuple(t for t, _n in tails.most_common(MAX_TAILS)),
                  forms.pop() if len(forms) == 1 else None, known, others)


def _time_form(obj: dict, prefix: tuple) -> tuple[int, str] | None:
    """(fraction digits, zone) of a strict RFC 3339 time: one form makes the regex fixed-width, and
    strings of one width and zone sort like the times they name (min/max in C)."""
    value = obj[next(k for k, _kind, role in prefix if role == "t")]
    if not re.fullmatch(TIME_BODY.decode(), value):
        return None
    body, zone = (value[:-1], "Z") if value.endswith("Z") else (value[:-6], value[-6:])
    return (len(body) - body.index(".") - 1 if "." in body else 0), zone


def grammar(scanner: "ChunkScanner", layout: Layout, clean: bool, strict_time: bool = False) -> Grammar:
    """The layout's compiled grammar, cached per scanner."""
    key = (layout, clean, strict_time)
    cached = scanner._regexes.get(key)
    if cached is None:
        cached = scanner._regexes[key] = compile_layout(scanner.s, layout, clean, strict_time)
    return cached


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


def time_span(times: list[bytes], uniform: bool = False) -> tuple[float, float] | None:
    """(earliest, latest) of strict RFC 3339 strings (``fastgrammar.TIME_BODY``); None if the parser
    disagrees. Strings of one length and one zone sort like the times they name, so min/max stay in C."""
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


def scan_fast(scanner: "ChunkScanner", data: bytes, res: "ChunkResult", service: str,
              hint: Layout | None = None) -> Layout | None:
    """Scan ``data`` (ending in a newline) into ``res`` and return the layout used, or return None
    with ``res`` untouched (then the caller parses the block exactly).

    ``hint``: a layout learned before (the stream's first lines, or its previous block). It is
    used as is unless over a quarter of this block's lines do not fit it; then the block's own
    layout is learned. Any layout gives the same counts (lines it does not fit are parsed
    exactly); the hint only saves learning it again.

    Per-line work stays in C: one ``findall`` over the block, transposed into columns that
    ``fastcount`` reduces with C loops."""
    if not plain_block(data):
        return None
    s = scanner.s

    def usable(layout: Layout | None) -> bool:  # a time window needs the lines' times
        return layout is not None and (layout.has_time or not s.windowed)

    layout = hint if usable(hint) else learn_layout(scanner, data)
    if not usable(layout):
        return None
    found = _match(scanner, data, layout)
    if layout is hint and (found is None or len(found[2]) * 4 > len(found[1][0])):
        learned = learn_layout(scanner, data)
        if usable(learned) and learned != hint:
            layout, found = learned, _match(scanner, data, learned)
    if found is None:
        return None
    g, columns, bad, span = found
    good = len(columns[0]) - len(bad)
    outside = False
    if s.windowed and span is not None:
        lo, hi = span
        if (s.since is not None and hi < s.since) or (s.until is not None and lo > s.until):
            outside = True
        elif not ((s.since is None or lo >= s.since) and (s.until is None or hi <= s.until)):
            return None  # the window cuts the block: line by line
    bad_text = b"".join(bad)
    res.bytes_fast += len(data) - len(bad_text)
    if outside:
        res.outside += good
    elif good:  # first: the known services take their bits in one order in every block (no remapping)
        fastcount.account(res, service, columns, g.branches, good)
        res.lines += good
        if span is None:
            res.undated += good
        else:
            res.seen_time(span[0])
            res.seen_time(span[1])
    if bad_text:
        scanner.exact(bad_text, res, service)
    return layout


def _match(scanner: "ChunkScanner", data: bytes, layout: Layout) -> tuple | None:
    """(grammar, columns, bad lines, time span) of ``data`` under ``layout``, or None when the
    block must be parsed exactly (times the parser reads differently)."""
    clean = b"\\" not in data
    strict_time = False
    while True:
        g = grammar(scanner, layout, clean, strict_time)
        matches = g.rx.findall(data)
        if clean and data.translate(None, NOT_CONTROL) != b"\n" * len(matches):
            # a control byte somewhere, or a string run over a line end: the strict grammar decides
            clean = False
            continue
        if not matches:  # an empty block: nothing to count
            return None
        columns = list(zip(*matches)) if g.groups > 1 else [tuple(matches)]
        bad = list(filter(None, columns[g.bad]))
        span = None
        if len(bad) < len(matches) and layout.has_time:
            times = columns[g.times[0]] if len(g.times) == 1 else list(map(b"".join, zip(*(columns[i] for i in g.times))))
            times = list(filter(None, times)) if bad or len(g.times) > 1 else times
            if layout.time_form is not None and not strict_time:
                span = fastcount.fixed_form_span(times, layout.time_form)
                if span is None:  # a time of another form or out of range: the strict pattern decides
                    strict_time = True
                    continue
            else:
                span = time_span(times, layout.time_form is not None)
                if span is None:
                    return None
        return g, columns, bad, span
