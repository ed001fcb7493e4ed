"""The fast path's regex for one block layout: ``LINE|BAD``.

LINE spells out the learned prefix keys and tails (as a trie, commonest branch first) with a JSON
grammar for each value; BAD takes any other line whole, for the exact parser. What a line yields
is laid out for column work (``fastcount``):

- the services seen in the sample are spelled out literally, each followed by its own copy of
  the rest of the line, with a one-byte marker group (the closing quote: a cached object) and its
  own id groups. Lines of a known service then need no service string at all, and its ids come as
  a column of their own. Other services take the generic branch, which captures the service.
- a time of one learned form is captured loosely (``fastcount.fixed_form_span`` checks the
  column against exactly what the strict pattern accepts, at a fraction of its cost in sre),
  unless ``strict_time``.
- ``clean``: the block has no backslash (no escapes anywhere), so a string is ``"[^"]*"`` (a tight
  loop in sre; the caller checks for control bytes and strings running over a line end).
"""

from __future__ import annotations

import itertools
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.logscan.fastcount import DATE

if TYPE_CHECKING:
    from autoglm_doctor.logscan.fastpath import Layout
    from autoglm_doctor.logscan.settings import ScanSettings

# Possessive runs (Python 3.11+): a run of string bytes is always followed by the byte that ends
# it, so never giving any back changes nothing - and sre then matches it without a backtracking
# frame, about a tenth off the whole match.
POSSESSIVE = b"+" if sys.version_info >= (3, 11) else b""
ANY = b"*" + POSSESSIVE  # zero or more, possessive where supported
SOME = b"+" + POSSESSIVE  # one or more
CHARS = rb'[^"\\\x00-\x1f]'  # a string byte that needs no decoding
STR_TAIL = CHARS + ANY + rb'(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})' + CHARS + ANY + rb")" + ANY + b'"'
STR = b'"' + STR_TAIL
DIGITS = b"[0-9]"
NUM = (rb"-?(?:0|[1-9]" + DIGITS + ANY + rb")(?:\." + DIGITS + SOME + rb")?(?:[eE][+-]?" + DIGITS + SOME + b")?")
LIT = rb"(?:true|false|null)"
NOT_5XX = rb'(?!"?5[0-9][0-9][",}])'  # extract._status: an int or a 3-digit string
TIME_BODY = (DATE + rb"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
             rb"(?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
LEVELS = rb"(?i:info|notice|warn|debug|trace)"  # a level the fast path reads as not an error


@dataclass(frozen=True)
class Branch:
    service: bytes | None  # a known service, or None: the generic branch (or a layout without one)
    column: int | None  # its marker group (known), its service group (generic), or None
    ids: tuple[int, ...]  # the id groups of its tail branches (at most one is set per line)


@dataclass(frozen=True)
class Grammar:
    rx: re.Pattern
    groups: int
    times: tuple[int, ...]  # the time groups (one per service branch when the time comes after it)
    bad: int
    branches: tuple[Branch, ...]


def compile_layout(settings: "ScanSettings", layout: "Layout", clean: bool, strict_time: bool = False) -> Grammar:
    sep, colon = (b", ", b'": ') if layout.spaced else (b",", b'":')
    chars = rb'[^"]' if clean else CHARS
    value = {"str": b'"' + chars + ANY + b'"' if clean else STR, "num": NUM, "lit": LIT}
    loose_time = bool(layout.time_form) and not strict_time
    trie: dict = {}
    for tail in layout.tails:
        node = trie
        for member in tail:
            node = node.setdefault(member, {})
        node[None] = {}
    counter = itertools.count()  # id groups are numbered across all branches: names stay unique

    def scalar(name: str, kind: str) -> bytes:
        return (NOT_5XX if name in settings.status_fields else b"") + value[kind]

    def emit_tail(node: dict, tag: str) -> bytes:
        alts = []
        for member, child in node.items():
            if member is None:
                alts.append(rb"\}\n")
                continue
            name, kind = member
            head = sep + b'"' + re.escape(name.encode()) + colon
            if name in settings.trace_fields:
                head += b'"(?P<v%s_%d>' % (tag.encode(), next(counter)) + chars + SOME + b')"'
            else:
                head += scalar(name, kind)
            alts.append(head + emit_tail(child, tag))
        return alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"

    def emit_prefix(i: int, tag: str) -> bytes:
        parts = []
        for j in range(i, len(layout.prefix)):
            name, kind, role = layout.prefix[j]
            parts.append((sep if j else b"") + b'"' + re.escape(name.encode()) + colon)
            if role == "l":
                parts.append(b'"' + LEVELS + (chars + ANY + b'"' if clean else STR_TAIL))
            elif role == "t":
                group = b"t" + (b"_" + tag.encode() if tag else b"")
                body = chars + SOME if loose_time else _time_body(layout.time_form)
                parts.append(b'"(?P<' + group + b">" + body + b')"')
            elif role == "s":
                alts = [re.escape(svc.encode()) + b'(?P<k%d>")' % n + emit_prefix(j + 1, str(n))
                        for n, svc in enumerate(layout.services)]
                if layout.other_services or not layout.services:
                    alts.append(b"(?P<s>" + chars + SOME + b')"' + emit_prefix(j + 1, "g"))
                parts.append(b'"(?:' + b"|".join(alts) + b")")
                return b"".join(parts)
            else:
                parts.append(scalar(name, kind))
        return b"".join(parts) + emit_tail(trie, tag or "g")

    rx = re.compile(rb"\{" + emit_prefix(0, "") + rb"|(?P<bad>[^\n]" + ANY + rb"\n)")
    index = {name: number - 1 for name, number in rx.groupindex.items()}

    def ids(tag: str) -> tuple[int, ...]:
        return tuple(i for name, i in sorted(index.items(), key=lambda kv: kv[1]) if name.startswith(f"v{tag}_"))

    if layout.has_service:
        branches = [Branch(svc.encode(), index[f"k{n}"], ids(str(n))) for n, svc in enumerate(layout.services)]
        if "s" in index:
            branches.append(Branch(None, index["s"], ids("g")))
    else:
        branches = [Branch(None, None, ids("g"))]
    times = tuple(i for name, i in index.items() if name == "t" or name.startswith("t_"))
    return Grammar(rx, rx.groups, times, index["bad"], tuple(branches))


def _time_body(form: tuple[int, str] | None) -> bytes:
    if not form:
        return TIME_BODY
    digits, zone = form
    return TIME_BODY.replace(rb"(?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])",
                             (rb"\.[0-9]{%d}" % digits if digits else b"") + re.escape(zone.encode()))
