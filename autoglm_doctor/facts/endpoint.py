"""The model endpoint as the doctor probes it: its port, a probe timeout that fits the check's budget,
and whether a local endpoint listens on every address (reachable by anyone who reaches the host)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from autoglm_doctor.facts.listeners import listening_on
from autoglm_doctor.targets.base import DeadlineExceeded, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

PROBE_TIMEOUT = 5.0
PROBE_MARGIN = 1.0  # of the check's budget, kept for judging the answer


def port_of(base: str) -> int:
    parts = urlsplit(base)
    return parts.port or (443 if parts.scheme == "https" else 80)


def probe_timeout(ctx: Context) -> float:
    """The HTTP timeout, inside the check's own budget: a probe that outlives the budget would be cut off
    as a bare error with no resource, instead of the timeout verdict it deserves."""
    try:
        left = ctx.target.remaining()
    except (TargetError, DeadlineExceeded):  # spent: the next read reports it
        return PROBE_TIMEOUT
    if left is None:  # no deadline
        return PROBE_TIMEOUT
    if left >= PROBE_TIMEOUT + PROBE_MARGIN:
        return PROBE_TIMEOUT
    return round(max(0.1, (left - PROBE_MARGIN * 0.5) * 0.8), 1)


def open_to_all(ctx: Context, base: str) -> str:
    """How a local endpoint is reachable from everywhere ("it listens on 0.0.0.0:8000"), or ""."""
    host = (urlsplit(base).hostname or "").lower()
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return ""
    try:
        listeners = listening_on(ctx, port_of(base))
    except TargetError:  # not recorded in an older snapshot: say nothing rather than guess
        return ""
    found = [s for s in listeners if str(getattr(s, "address", "")) in ("0.0.0.0", "::")]
    return f"it listens on {found[0]}" if found else ""
