"""Clock skew between services, from the requests they share.

Host, guest and container clocks disagree in real deployments (a VM whose clock drifted, a container
host without NTP). For a request seen by an upstream service U (first and last line at u1, u4 by U's
clock) and a downstream service D (d1, d4 by D's clock), D's work nests inside U's, so the offset of
D's clock from U's lies between ``d4 - u4`` and ``d1 - u1`` (as in NTP, the round trip bounds it).
Over the requests of a hop the bounds narrow (a robust 2 % quantile of each, so that a few odd
requests do not decide); the hop's offset is the value in that range closest to 0: clocks are
corrected only as much as causality demands, and never when 0 fits. Offsets add up along the hops,
so every service gets one relative to the first service of its chain. An upstream that logs a
request once is taken to log it at its end (an access line): that bounds the offset from below only.
A time in whole seconds (SGLang, vLLM) stands for any moment of its second, which widens the bounds.
"""

from __future__ import annotations

from typing import Iterable

QUANTILE = 0.02
INF = float("inf")


def _resolution(ts: float) -> float:
    """A whole second is a time written without fraction (SGLang's, vLLM's): it may be up to 1 s late."""
    return 1.0 if ts == int(ts) else 0.0


def hop_offset(bounds: list[tuple[float, float]]) -> float:
    """The offset from (lower, upper) bounds, one pair per request."""
    lows = sorted(b[0] for b in bounds)
    highs = sorted(b[1] for b in bounds)
    cut = int(QUANTILE * (len(bounds) - 1))
    lo, hi = lows[len(lows) - 1 - cut], highs[cut]
    if lo > hi:  # the requests disagree (one odd request, retries, reused ids): no estimate
        return 0.0
    return min(max(0.0, lo), hi)


def estimate_offsets(spans: dict[bytes, dict[str, list[float]]],
                     hops: Iterable[tuple[str, str]]) -> dict[str, dict]:
    """service -> {"offset_s": its clock minus the reference's, "reference": the chain's first
    service, "pairs": requests the estimate rests on} for every service reached through a hop
    with shared requests."""
    per_hop: dict[tuple[str, str], list[tuple[float, float]]] = {}
    hops = list(hops)
    for by_service in spans.values():
        for up, down in hops:
            u, d = by_service.get(up), by_service.get(down)
            if u is not None and d is not None:  # one line only: an access line, written at the end
                lower = d[1] - u[1] - _resolution(u[1])
                upper = d[0] + _resolution(d[0]) - u[0] if u[0] < u[1] else INF
                per_hop.setdefault((up, down), []).append((lower, upper))
    offsets: dict[str, dict] = {}
    downstream = {down for _up, down in hops}
    roots = [up for up, _down in hops if up not in downstream]
    known = {root: (0.0, root, 0) for root in roots}
    for _ in range(len(hops)):  # relax along the chain (hops may be listed in any order)
        for (up, down), values in per_hop.items():
            if up in known and down not in known:
                base, ref, _n = known[up]
                known[down] = (base + hop_offset(values), ref, len(values))
    for svc, (offset, ref, pairs) in known.items():
        if pairs:
            offsets[svc] = {"offset_s": round(offset, 3), "reference": ref, "pairs": pairs}
    return offsets
