"""Merging chunk results into one bounded summary of a time window, and turning it into the
``logs`` report: traces seen, failing traces with their first error, lost hops, propagation per
service, top error messages, and what could not be read."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

from autoglm_doctor.logscan.scan import ChunkResult, native_module
from autoglm_doctor.logscan.skew import estimate_offsets
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.timeparse import iso

_native = native_module()  # the native merges: the same dicts, a C loop instead of a Python one

MAX_SPANS = 20_000  # traces whose per-service time spans are kept for the clock-skew estimate
EXAMPLES = 10
LISTED_FAILURES = 20


@dataclass
class SourceStats:
    name: str
    service: str
    kind: str
    lines: int = 0
    bytes: int = 0
    bytes_fast: int = 0
    outside: int = 0
    undated: int = 0
    problems: Counter = field(default_factory=Counter)
    first_ts: float | None = None
    last_ts: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "service": self.service, "kind": self.kind, "lines": self.lines,
            "bytes": self.bytes, "fast_path_share": round(self.bytes_fast / self.bytes, 3) if self.bytes else 0.0,
            "outside_window": self.outside, "undated": self.undated,
            "unparsable": sum(n for p, n in self.problems.items() if p != "invalid UTF-8"),
            "problems": dict(self.problems), "first": iso(self.first_ts), "last": iso(self.last_ts),
        }


class Summary:
    def __init__(self, settings: ScanSettings) -> None:
        self.s = settings
        self.order: list[str] = []
        self.traces: dict[bytes, int] = {}
        self.untracked = 0
        self.services: dict[str, list[int]] = {}
        self.first_errors: dict[bytes, dict[str, tuple[float, str]]] = {}  # id -> service -> (ts, message)
        self.untraced_errors: Counter = Counter()
        self.messages: Counter = Counter()
        self.error_lines = 0
        self.aliases: dict[bytes, bytes] = {}  # bounded like the traces (logs_max_traces)
        self.aliases_dropped = 0
        self.spans: dict[bytes, dict[str, list[float]]] = {}
        self.sources: dict[str, SourceStats] = {}
        self.notes: list[str] = []
        self.engine = ""  # which engine read the files (``engine.choose_engine``)

    def source(self, name: str, service: str, kind: str) -> SourceStats:
        if name not in self.sources:
            self.sources[name] = SourceStats(name, service, kind)
        return self.sources[name]

    def _global_bit(self, service: str) -> int:
        if service not in self.order:
            self.order.append(service)
        return 1 << self.order.index(service)

    def merge(self, res: ChunkResult, stats: SourceStats) -> None:
        stats.lines += res.lines
        stats.bytes += res.bytes_fast + res.bytes_exact
        stats.bytes_fast += res.bytes_fast
        stats.outside += res.outside
        stats.undated += res.undated
        stats.problems.update(res.problems)
        for ts in (res.first_ts, res.last_ts):
            if ts is not None:
                stats.first_ts = ts if stats.first_ts is None else min(stats.first_ts, ts)
                stats.last_ts = ts if stats.last_ts is None else max(stats.last_ts, ts)
        for svc, (lines, traced) in res.services.items():
            mine = self.services.setdefault(svc, [0, 0])
            mine[0] += lines
            mine[1] += traced
        self._merge_traces(res)
        for trace, by_service in res.first_errors.items():
            _earliest(self.first_errors.setdefault(trace, {}), by_service)
        self.untraced_errors.update(res.untraced_errors)
        self.messages.update(res.messages)
        self.error_lines += res.error_lines
        if _native is not None:
            self.aliases_dropped += _native.merge_aliases(self.aliases, res.aliases, self.s.max_traces)
            _native.merge_spans(self.spans, res.spans, MAX_SPANS)
            return
        room = self.s.max_traces - len(self.aliases)
        for alias, primary in res.aliases.items():
            if alias in self.aliases:
                continue
            if room <= 0:
                self.aliases_dropped += 1
                continue
            self.aliases[alias] = primary
            room -= 1
        for trace, spans in res.spans.items():
            have = self.spans.get(trace)
            if have is None:
                if len(self.spans) < MAX_SPANS:
                    self.spans[trace] = {svc: list(span) for svc, span in spans.items()}
                continue
            _widen(have, spans)

    def _merge_traces(self, res: ChunkResult) -> None:
        """OR a block's per-trace service masks into ours. The common case (room for every new id)
        stays in C: an intersection for the ids seen before, then one ``update``."""
        local = [self._global_bit(svc) for svc in res.service_order]
        if _native is not None:
            if res.packed is not None:
                untracked = _native.merge_packed(self.traces, res.packed, local, self.s.max_traces)
            else:
                untracked = _native.merge_traces(self.traces, res.traces, local, self.s.max_traces)
            if untracked is not None:
                self.untracked += untracked
                return
        incoming = res.trace_masks()
        if any(bit != 1 << i for i, bit in enumerate(local)):
            remap = {mask: sum(local[i] for i in range(len(local)) if mask >> i & 1) for mask in set(incoming.values())}
            incoming = dict(zip(incoming, map(remap.__getitem__, incoming.values())))
        traces = self.traces
        common = incoming.keys() & traces.keys()
        if len(traces) + len(incoming) - len(common) <= self.s.max_traces:
            before = [(trace, traces[trace]) for trace in common]  # one C update, then the old bits back
            traces.update(incoming)
            for trace, mask in before:
                traces[trace] |= mask
            return
        get = traces.get
        room = self.s.max_traces - len(traces)
        for trace, mask in incoming.items():
            old = get(trace)
            if old is None:
                if room <= 0:
                    self.untracked += 1
                    continue
                room -= 1
                traces[trace] = mask
            else:
                traces[trace] = old | mask

    # -- report ----------------------------------------------------------------------------
    def _fold_aliases(self) -> None:
        """A request id logged next to a trace id on some line is the same request: merge it."""
        if _native is not None:
            _native.fold_aliases(self.aliases, self.traces, self.spans, self.first_errors)
            return
        for alias in list(self.aliases):
            primary = self.aliases[alias]
            for _ in range(8):  # follow short chains a -> b -> c
                if primary in self.aliases and self.aliases[primary] != primary:
                    primary = self.aliases[primary]
                else:
                    break
            if alias == primary:
                continue
            spans = self.spans.pop(alias, None)
            if spans is not None:
                _widen(self.spans.setdefault(primary, {}), spans)
            if alias not in self.traces:
                continue
            self.traces[primary] = self.traces.get(primary, 0) | self.traces.pop(alias)
            errors = self.first_errors.pop(alias, None)
            if errors is not None:
                _earliest(self.first_errors.setdefault(primary, {}), errors)

    @staticmethod
    def _first_error(by_service: dict[str, tuple[float, str]], skew: dict[str, dict]) -> tuple[float, str, str]:
        """(time, service, message) of a trace's first error, the clocks of the services beyond
        ``logs_skew_seconds`` corrected (as ``trace`` orders them)."""
        def corrected(item: tuple[str, tuple[float, str]]) -> tuple[float, str]:
            return item[1][0] - skew.get(item[0], {}).get("offset_s", 0.0), item[0]

        svc, (ts, message) = min(by_service.items(), key=corrected)
        return ts, svc, message

    def report(self) -> dict[str, Any]:
        self._fold_aliases()
        s = self.s
        skew = estimate_offsets(self.spans, s.hop_pairs)
        corrections = {svc: e for svc, e in skew.items() if abs(e["offset_s"]) > s.skew_seconds}
        failing = sorted(((trace, self._first_error(by_service, corrections)) for trace, by_service in self.first_errors.items()),
                         key=lambda kv: (kv[1][0], kv[0]))
        failing_by_service = Counter(entry[1] for _t, entry in failing)
        hops = []
        by_mask = Counter(self.traces.values())  # a few distinct masks: the per-trace work stays in C
        for up, down in s.hop_pairs:
            bu = 1 << self.order.index(up) if up in self.order else 0
            bd = 1 << self.order.index(down) if down in self.order else 0
            upstream = lost = 0
            examples: list[str] = []
            if bu:
                upstream = sum(n for mask, n in by_mask.items() if mask & bu)
                lost_masks = {mask for mask in by_mask if mask & bu and not mask & bd}
                lost = sum(by_mask[mask] for mask in lost_masks)
                # the smallest ids: the same examples whatever the scan order, path or number of jobs
                # (the per-trace test stays in C: a set's __contains__ mapped over the masks)
                lost_ids = compress(self.traces, map(lost_masks.__contains__, self.traces.values()))
                examples = [trace.decode("utf-8", "replace") for trace in heapq.nsmallest(EXAMPLES, lost_ids)]
            hops.append({"hop": f"{up}>{down}", "upstream": up, "downstream": down, "upstream_traces": upstream,
                         "lost": lost, "examples": examples, "downstream_seen": bool(bd)})
        propagation = []
        for svc in sorted(self.services):
            lines, traced = self.services[svc]
            propagation.append({"service": svc, "lines": lines, "with_id": traced, "without_id": lines - traced,
                                "share_without_id": round((lines - traced) / lines, 4) if lines else 0.0})
        top = [{"service": svc, "message": msg, "count": n} for (svc, msg), n in
               heapq.nsmallest(10, self.messages.items(), key=lambda kv: (-kv[1], kv[0]))]  # ties by name
        sources = [st.to_dict() for st in self.sources.values()]
        notes = list(self.notes)
        for st in self.sources.values():
            bad = sum(n for p, n in st.problems.items() if p != "invalid UTF-8")
            if bad:
                detail = ", ".join(f"{p}: {n}" for p, n in sorted(st.problems.items()) if p != "invalid UTF-8")
                notes.append(f"{bad} lines unparsable in {st.name} ({detail})")
            if st.problems.get("invalid UTF-8"):
                notes.append(f"{st.problems['invalid UTF-8']} lines with invalid UTF-8 in {st.name} (decoded with U+FFFD)")
        for svc, entry in corrections.items():
            notes.append(f"clocks disagree: {svc} logs {abs(entry['offset_s']):.3f} s "
                         f"{'ahead of' if entry['offset_s'] > 0 else 'behind'} {entry['reference']} "
                         f"(estimated from {entry['pairs']} requests they share; first errors are judged on corrected clocks)")
        if self.aliases_dropped:
            notes.append(f"{self.aliases_dropped} ids logged next to another id were not followed (more than "
                         f"profile.logs_max_traces = {s.max_traces}); their requests may count twice")
        if self.untracked:
            notes.append(f"{self.untracked} more trace ids were not tracked (profile.logs_max_traces = {s.max_traces})")
        return {
            "window": {"since": iso(s.since), "until": iso(s.until)},
            "engine": self.engine,
            "services": list(s.services),
            "lines": sum(st.lines for st in self.sources.values()),
            "traces": {"seen": len(self.traces), "failing": len(failing), "untracked": self.untracked,
                       "lost": sum(h["lost"] for h in hops)},
            "failing": [{"trace": t.decode("utf-8", "replace"), "time": iso(None if e[0] == float("inf") else e[0]),
                         "service": e[1], "message": e[2]} for t, e in failing[:LISTED_FAILURES]],
            "failing_by_service": dict(sorted(failing_by_service.items())),
            "errors": {"lines": self.error_lines, "without_trace_id": dict(sorted(self.untraced_errors.items()))},
            "lost_hops": hops,
            "propagation": propagation,
            "clock_skew": skew,
            "top_errors": top,
            "sources": sources,
            "notes": notes,
        }


def _widen(into: dict[str, list[float]], spans: dict[str, list[float]]) -> None:
    for svc, (lo, hi) in spans.items():
        span = into.get(svc)
        if span is None:
            into[svc] = [lo, hi]
        else:
            span[0], span[1] = min(span[0], lo), max(span[1], hi)


def _earliest(into: dict[str, tuple[float, str]], errors: dict[str, tuple[float, str]]) -> None:
    for svc, entry in errors.items():
        old = into.get(svc)
        if old is None or entry[0] < old[0]:
            into[svc] = entry
