"""One id model for ``trace`` and ``logs``: the forms one request's id takes in the logs resolve to
one canonical id.

- vLLM's OpenAI server names a request ``chatcmpl-<X>`` (``cmpl-<X>`` for completions), where X is
  the caller's ``X-Request-Id`` or a random hex; the caller logs X or the full name.
- A W3C ``traceparent`` (``00-<trace-id>-<parent-id>-<flags>``) carries the trace id.
- Ids are compared without case (``4BF9…`` and ``4bf9…`` are one trace).
"""

from __future__ import annotations

import re

PREFIXES = ("chatcmpl-", "cmpl-")
TRACEPARENT = re.compile(r"^00-([0-9a-fA-F]{32})-[0-9a-fA-F]{16}-[0-9a-fA-F]{2}$")


def canonical(raw: str) -> str:
    """The canonical form of an id as logged; "" for nothing."""
    ident = raw.strip()
    if len(ident) == 55 and ident[:3] == "00-":
        m = TRACEPARENT.match(ident)
        if m:
            return m.group(1).lower()
    if "mpl-" in ident[:9]:
        for prefix in PREFIXES:
            if ident.startswith(prefix) and len(ident) > len(prefix):
                return ident[len(prefix):].lower()
    return ident.lower()


def needles(ident: str) -> list[bytes]:
    """Byte strings one of which a line must hold to carry ``ident`` in any of its forms: every form
    contains the canonical id; an id typed with capitals is also looked for as typed. (Each needle
    is one more pass over the logs, so upper case is not guessed.)"""
    text = canonical(ident)
    typed = ident.strip()
    start = typed.lower().find(text)  # the canonical id's place in what was typed: that piece as typed
    typed = typed[start:start + len(text)] if start != -1 else typed
    return sorted({f.encode("utf-8", "surrogatepass") for f in (text, typed) if f})
