"""Turning the fast path's matches into counts without a Python step per line.

``findall`` gives one tuple of groups per line. Transposed (``zip(*matches)``) they are columns:
the services, the ids, the times and the bad lines. Everything the summary needs from them is
computed by C loops over whole columns - ``Counter``, ``compress``, ``set`` algebra, ``min``/``max``,
``translate`` over the joined times - so Python only steps once per service or per distinct mask.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from itertools import chain, compress, repeat
from typing import TYPE_CHECKING

from autoglm_doctor.logscan.extract import TRACEPARENT
from autoglm_doctor.logscan.timeparse import parse_timestamp

if TYPE_CHECKING:
    from autoglm_doctor.logscan.fastgrammar import Branch
    from autoglm_doctor.logscan.scan import ChunkResult

DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
# Only real dates (February 29 goes to the exact parser, which knows leap years), so every string
# that matches is one ``parse_timestamp`` reads.
DATE = rb"[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
DATE_HOUR = re.compile(DATE + rb"T(?:[01][0-9]|2[0-3])")
TRACEPARENT_BYTES = re.compile(TRACEPARENT.pattern.encode())  # the exact parser's pattern, for captured ids
TRACEPARENT_LENGTH = 55
SMALL_BITS = 15  # services whose bits sum to at most this are ORed by counting (bit 8 = 8 passes)


def fixed_form_span(times: list[bytes] | tuple[bytes, ...], form: tuple[int, str]) -> tuple[float, float] | None:
    """(earliest, latest) when every string is a strict RFC 3339 time of ``form`` (fraction
    digits, zone) - exactly what ``fastpath.TIME`` fixed to that form accepts - else None.

    Checked by columns: the joined strings, digits mapped to 0, must equal the form's template
    repeated; the tens of minutes and seconds must be 0-5; each distinct date-and-hour must be a
    real one. Strings of one shape sort like the times they name, so min/max are the span, and
    when the earliest and latest share their date-and-hour every string between them does too."""
    digits, zone = form
    zone_b = zone.encode()
    template = b"0000-00-00T00:00:00" + (b"." + b"0" * digits if digits else b"") + zone_b.translate(DIGITS_TO_ZERO)
    width, n = len(template), len(times)
    if not n:
        return None
    joined = b"".join(times)
    if len(joined) != width * n or joined.translate(DIGITS_TO_ZERO) != template * n:
        return None
    for col in (14, 17):  # tens of minutes and of seconds
        if joined[col::width].translate(None, b"012345"):
            return None
    for k, ch in enumerate(zone_b):  # "+08:00": the zone's digits too
        if 48 <= ch <= 57 and joined[width - len(zone_b) + k::width].strip(bytes((ch,))):
            return None
    lo, hi = min(times), max(times)
    hours = {lo[:13]} if lo[:13] == hi[:13] else set(map(operator.itemgetter(slice(0, 13)), times))
    if not all(map(DATE_HOUR.fullmatch, hours)):
        return None
    first, last = parse_timestamp(lo.decode()), parse_timestamp(hi.decode())
    if first is None or last is None:
        return None
    return first, last


def account(res: "ChunkResult", service: str, columns: list[tuple], branches: tuple["Branch", ...],
            good: int) -> None:
    """Add the ``good`` matched lines of ``columns`` (one per regex group; b"" where a group did
    not take part, as on the bad lines) to ``res``."""
    per_service: dict[bytes, list] = {}  # service -> [lines, lines without an id, id collections]
    known = 0
    for branch in branches:
        if branch.service is not None:  # a known service: its marker column counts its lines
            n = columns[branch.column].count(b'"')
            if n:
                known += n
                _add(per_service, branch.service, n, _id_column(columns, branch.ids))
        elif branch.column is not None:  # the generic branch: a service string per line
            if known == good:
                continue  # every line was a known service's
            ids = _id_column(columns, branch.ids)
            services = columns[branch.column]
            counts = Counter(services)
            counts.pop(b"", None)
            for raw, n in counts.items():
                mine = None if ids is None else list(compress(ids, map(raw.__eq__, services)))
                _add(per_service, raw, n, mine)
        elif good:  # no service field: every line is the source's
            _add(per_service, service.encode(), good, _id_column(columns, branch.ids))
    found = _masks(res, per_service)
    if found and TRACEPARENT_LENGTH in set(map(len, found)):
        for m in list(filter(None, map(TRACEPARENT_BYTES.fullmatch, found))):  # a traceparent names its trace
            found[m.group(1)] = found.get(m.group(1), 0) | found.pop(m.group(0))
    if not res.traces:
        res.traces = found
    elif found:
        or_masks(res.traces, found)
    for raw, (lines, untraced, _ids) in per_service.items():
        stats = res.services.setdefault(raw.decode("utf-8", "replace"), [0, 0])
        stats[0] += lines
        stats[1] += lines - untraced


def or_masks(into: dict[bytes, int], incoming: dict[bytes, int], common: set[bytes] | None = None) -> None:
    """OR ``incoming``'s service masks into ``into`` with C loops: one ``update``, then the ids both
    held (``common``, when the caller has it already) get their old bits back."""
    if common is None:
        common = incoming.keys() & into.keys()
    before = [(trace, into[trace]) for trace in common]
    into.update(incoming)
    for trace, mask in before:
        into[trace] |= mask


def _id_column(columns: list[tuple], groups: tuple[int, ...]) -> tuple | list | None:
    """The id of each line: one group per tail branch that holds an id (at most one is set)."""
    if not groups:
        return None
    if len(groups) == 1:
        return columns[groups[0]]
    return list(map(b"".join, zip(*(columns[i] for i in groups))))


def _add(per_service: dict[bytes, list], raw: bytes, lines: int, ids: tuple | list | None) -> None:
    """``ids``: a column holding this service's ids and b"" (on its lines without one and on
    lines that are not its own)."""
    with_id = 0 if ids is None else len(ids) - ids.count(b"")
    entry = per_service.setdefault(raw, [0, 0, []])
    entry[0] += lines
    entry[1] += lines - with_id
    if with_id:
        entry[2].append(ids)


def _masks(res: "ChunkResult", per_service: dict[bytes, list]) -> dict[bytes, int]:
    """id -> bitmask of the services that logged it. One service: ``dict.fromkeys``. A few with
    small bits: each service's distinct ids counted ``bit`` times, so an id's count is the sum -
    the OR - of its services' bits, all in ``Counter``'s C loop. Otherwise: ORed in by groups of
    equal old masks."""
    logged = [(res.bit(raw.decode("utf-8", "replace")), columns)
              for raw, (_lines, _untraced, columns) in per_service.items() if columns]
    if not logged:
        return {}
    if len(logged) == 1:
        bit, columns = logged[0]
        found = dict.fromkeys(columns[0], bit)
        for more in columns[1:]:
            found.update(dict.fromkeys(more, bit))
        found.pop(b"", None)
        return found
    distinct = []
    for bit, columns in logged:
        ids = set(columns[0]).union(*columns[1:])
        ids.discard(b"")
        distinct.append((bit, ids))
    if sum(bit for bit, _ids in distinct) <= SMALL_BITS:
        # a plain dict: a Counter's update adds, and the caller ORs by update
        return dict(Counter(chain.from_iterable(chain.from_iterable(repeat(ids, bit) for bit, ids in distinct))))
    found = {}
    for bit, mine in distinct:
        common = found.keys() & mine
        if common:
            mine = mine - common
            shared = list(common)
            olds = list(map(found.__getitem__, shared))
            for old in set(olds):
                found.update(dict.fromkeys(compress(shared, map(old.__eq__, olds)), old | bit))
        found.update(dict.fromkeys(mine, bit))
    return found
