"""One request's timeline across every source: find the lines that carry its id in any of its forms
(``ids.needles``: byte-substring search, memory-mapped and parallel for big local files), parse only
those and the traceback lines after them, follow ids logged on the same lines (a trace id next to the
model server's request id), order by time with the services' clocks corrected (``skew``), and say
where it stopped: gaps, the last hop, the first error, hops never reached, clocks that disagree."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autoglm_doctor.logscan import bigfile
from autoglm_doctor.logscan.bigfile import PendingSearch
from autoglm_doctor.logscan.extract import LineParser, Record
from autoglm_doctor.logscan.ids import canonical, needles
from autoglm_doctor.logscan.scan import DOCKER_TS
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.skew import estimate_offsets
from autoglm_doctor.logscan.progress import Progress
from autoglm_doctor.logscan.sources import Stream, reference_time, skip_old
from autoglm_doctor.logscan.timeparse import iso, parse_timestamp

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target

MAX_ALIASES = 8
MAX_EVENTS = 10_000
TRACEBACK_BYTES = 16 << 10  # read after a hit line for its traceback


@dataclass
class Event:
    ts: float | None
    source: str
    service: str
    level: str
    message: str
    ids: tuple[str, ...]
    via: str  # the id this line was found by
    offset: int
    problem: str = ""
    error: bool = False
    logged: float | None = None  # the time as the source's clock wrote it (ts is corrected)

    def to_dict(self, start: float | None) -> dict[str, Any]:
        return {
            "time": iso(self.ts), "offset_ms": round((self.ts - start) * 1000, 3) if self.ts is not None and start is not None else None,
            "logged_time": iso(self.logged) if self.logged != self.ts else None,
            "source": self.source, "service": self.service, "level": self.level or "-", "message": self.message,
            "ids": list(self.ids), "via": self.via, "problem": self.problem or None, "error": self.error,
        }


class TraceFinder:
    def __init__(self, target: Target, streams: list[Stream], settings: ScanSettings, jobs: int = 0,
                 progress: Progress | None = None, early: dict[tuple[str, int, tuple[bytes, ...]], PendingSearch] | None = None) -> None:
        self.target = target
        self.streams = [s for s in streams if not skip_old(s, settings)]
        self.skipped = [s.name for s in streams if s not in self.streams]
        self.s = settings
        self.parser = LineParser(settings)
        self.jobs = jobs or os.cpu_count() or 1
        self.progress = progress
        self.notes: list[str] = []
        self._blocks: dict[str, list[tuple[int, bytes]]] = {}  # small streams, read once
        self.early = dict(early or {})  # searches started before the streams were resolved

    def _lines_with(self, needles: list[bytes]) -> list[tuple[Stream, int, bytes, bytes]]:
        """(stream, offset of the line, line bytes, bytes after it) for every line holding one of
        ``needles`` (the bytes after it may hold its traceback)."""
        found: list[tuple[Stream, int, bytes, bytes]] = []
        total = sum(s.size for s in self.streams) or 1
        done = 0
        big = [s for s in self.streams if s.parallel()]
        results: list[tuple[Stream, list[tuple[int, bytes]]]] = []
        for stream in self.streams:
            if stream in big:
                continue
            for base, block in self._stream_blocks(stream):
                seen = set()
                for needle in needles:
                    pos = block.find(needle)
                    while pos != -1:
                        start = block.rfind(b"\n", 0, pos) + 1
                        if start not in seen:
                            seen.add(start)
                            end = block.find(b"\n", pos)
                            end = len(block) if end == -1 else end
                            found.append((stream, base + start, block[start:end], block[end + 1:end + 1 + TRACEBACK_BYTES]))
                        pos = block.find(needle, pos + 1)
                done += len(block)
        for stream in big:
            early = self.early.pop((stream.host_path or "", stream.size, tuple(needles)), None)
            hits, note = (early or bigfile.start_search(stream.host_path or "", needles, stream.size, self.jobs)).finish()
            if note and note not in self.notes:
                self.notes.append(note)
            results.append((stream, hits))
            done += stream.size
            if self.progress:
                self.progress(done, total)
        for stream, hits in results:
            seen_starts = set()
            for offset, _needle in sorted(hits):
                start, line = bigfile.line_at(stream.host_path or "", offset)
                if start not in seen_starts:
                    seen_starts.add(start)
                    after = bigfile.read_window(stream.host_path or "", start + len(line) + 1,
                                                start + len(line) + 1 + TRACEBACK_BYTES)
                    found.append((stream, start, line, after))
        return found

    def _stream_blocks(self, stream: Stream) -> list[tuple[int, bytes]]:
        if stream.name not in self._blocks:
            blocks, base = [], 0
            for block in stream.blocks(self.target, self.s.since, self.notes):
                blocks.append((base, block))
                base += len(block)
            self._blocks[stream.name] = blocks
        return self._blocks[stream.name]

    def _parse(self, stream: Stream, line: bytes) -> tuple[Record | None, str | None]:
        ts_default = None
        if stream.kind == "docker":
            m = DOCKER_TS.match(line)
            if m:
                ts_default = parse_timestamp(m.group(1).decode())
                line = line[m.end():]
        return self.parser.parse(line, stream.service, stream.kind, ts_default)

    def _event(self, stream: Stream, offset: int, line: bytes, after: bytes, via: str) -> Event:
        self.parser.begin(reference_time(self.target, stream, self.s))
        rec, problem = self._parse(stream, line)
        if rec is None:
            text = line[:500].decode("utf-8", "replace")
            rec = Record(ts=None, service=stream.service, level="", ids=(), message=text)
        trace = []
        for raw in after.split(b"\n")[:200]:  # the record's traceback lines, if any follow it
            more, _problem = self._parse(stream, raw)
            if more is None or not more.cont:
                break
            rec.traceback = rec.traceback or more.cont == 2
            trace.append(more.message)
        message = rec.message[:500] + "".join("\n" + t for t in trace[-3:] if len(trace) > 0)
        return Event(rec.ts, stream.name, rec.service, rec.level, message, rec.ids, via, offset,
                     problem or "", rec.error, rec.ts)

    def find(self, trace_id: str) -> dict[str, Any]:
        typed, trace_id = trace_id, canonical(trace_id)
        events: list[Event] = []
        seen: set[tuple[str, int]] = set()
        aliases: list[str] = []
        searched: set[str] = set()
        queue = [trace_id]
        while queue:
            ids = [i for i in queue if i not in searched]
            queue = []
            if not ids:
                break
            searched.update(ids)
            wanted = {i: needles(typed if i == trace_id else i) for i in ids}
            for stream, offset, line, after in self._lines_with(sorted({n for ns in wanted.values() for n in ns})):
                if (stream.name, offset) in seen:
                    continue
                seen.add((stream.name, offset))
                via = next((i for i, ns in wanted.items() if any(n in line for n in ns)), ids[0])
                event = self._event(stream, offset, line, after, via)
                events.append(event)
                if via in event.ids:
                    for other in event.ids:
                        if other not in searched and other not in aliases and other != trace_id and len(aliases) < MAX_ALIASES:
                            aliases.append(other)
                            queue.append(other)
        return self._timeline(trace_id, aliases, events)

    def _timeline(self, trace_id: str, aliases: list[str], events: list[Event]) -> dict[str, Any]:
        s = self.s
        outside = [e for e in events if not s.in_window(e.logged)]
        events = [e for e in events if s.in_window(e.logged)]
        corrections = self._correct_clocks(events)
        dated = sorted((e for e in events if e.ts is not None), key=lambda e: (e.ts, e.source, e.offset))
        undated = sorted((e for e in events if e.ts is None), key=lambda e: (e.source, e.offset))
        ordered = (dated + undated)[:MAX_EVENTS]
        start = dated[0].ts if dated else None
        rows = []
        gaps = []
        prev = None
        for e in ordered:
            row = e.to_dict(start)
            if prev is not None and prev.ts is not None and e.ts is not None and e.ts - prev.ts > s.gap_seconds:
                row["gap_before_s"] = round(e.ts - prev.ts, 3)
                gaps.append({"after": iso(prev.ts), "seconds": round(e.ts - prev.ts, 3), "from": prev.service, "to": e.service})
            rows.append(row)
            prev = e
        services: list[str] = []
        for e in ordered:
            if e.service not in services:
                services.append(e.service)
        errors = [e for e in ordered if e.error]
        notes = list(self.notes)
        lost = []
        for up, down in s.hop_pairs:
            if up in services and down not in services:
                lost.append({"hop": f"{up}>{down}", "message": f"seen at {up}, never reached {down}"})
        for svc, entry in corrections.items():
            notes.append(f"clocks disagree: {svc} logged this request as if its clock were {abs(entry['offset_s']):.3f} s "
                         f"{'ahead of' if entry['offset_s'] > 0 else 'behind'} {entry['reference']}'s; its times are "
                         f"shown corrected (logged_time keeps what it wrote)")
        if undated:
            notes.append(f"{len(undated)} lines without a timestamp are listed last, in source order")
        if outside:
            notes.append(f"{len(outside)} lines of this trace are outside the time window")
        problems = [e for e in ordered if e.problem]
        if problems:
            notes.append(f"{len(problems)} lines of this trace could not be parsed and are shown raw "
                         f"({', '.join(sorted({e.problem for e in problems}))})")
        if self.skipped:
            notes.append(f"not searched (last written before the window): {', '.join(self.skipped)}")
        last = dated[-1] if dated else (ordered[-1] if ordered else None)
        return {
            "trace": trace_id,
            "found": bool(ordered),
            "aliases": aliases,
            "lines": len(ordered),
            "services": services,
            "start": iso(start),
            "end": iso(dated[-1].ts if dated else None),
            "duration_ms": _duration_ms(dated[-1].ts if dated else None, start),
            "events": rows,
            "gaps": gaps,
            "last_hop": {"service": last.service, "time": iso(last.ts), "message": last.message} if last else None,
            "first_error": ({"service": errors[0].service, "time": iso(errors[0].ts), "message": errors[0].message}
                            if errors else None),
            "lost_hops": lost,
            "sources_searched": [st.name for st in self.streams],
            "notes": notes,
        }


    def _correct_clocks(self, events: list[Event]) -> dict[str, dict]:
        """Offsets of the services' clocks estimated from this request (``skew``); those beyond
        ``logs_skew_seconds`` are taken off the events' times."""
        spans: dict[str, list[float]] = {}
        for e in events:
            if e.ts is not None:
                span = spans.setdefault(e.service, [e.ts, e.ts])
                span[0], span[1] = min(span[0], e.ts), max(span[1], e.ts)
        offsets = {svc: entry for svc, entry in estimate_offsets({b"": spans}, self.s.hop_pairs).items()
                   if abs(entry["offset_s"]) > self.s.skew_seconds}
        for e in events:
            if e.ts is not None and e.service in offsets:
                e.ts = e.ts - offsets[e.service]["offset_s"]
        return offsets


def _duration_ms(end: float | None, start: float | None) -> float | None:
    return round((end - start) * 1000, 3) if end is not None and start is not None else None


def find_trace(target: Target, streams: list[Stream], settings: ScanSettings, trace_id: str, *, jobs: int = 0,
               progress: Progress | None = None, notes: list[str] | None = None,
               early: dict[tuple[str, int, tuple[bytes, ...]], PendingSearch] | None = None) -> dict[str, Any]:
    """``early``: searches already started for (host path, size, needles) (``bigfile.start_search``)."""
    finder = TraceFinder(target, streams, settings, jobs, progress, early)
    if notes:
        finder.notes.extend(notes)
    try:
        return finder.find(trace_id)
    finally:
        for pending in finder.early.values():  # not needed after all (outside the window, say)
            pending.cancel()
