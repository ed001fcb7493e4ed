"""The native merges (``_native.merge_traces``/``merge_packed``/``merge_aliases``/``merge_spans``/
``fold_aliases``, and results packed for the trip from a worker) give the summary the Python loops give:
on seeded random chunk results - overlapping ids, services in a different order in every chunk, more
services than a machine word has bits, alias chains and cycles, spans and first errors on both sides of
an alias - with room for every id and with ``logs_max_traces`` far too small. Both the exact and the
fast summaries go through these merges, so the scanner tests alone would not see them go wrong."""

from __future__ import annotations

import pickle
import random

import pytest

from autoglm_doctor.logscan import summary as summary_mod
from autoglm_doctor.logscan.scan import ChunkResult
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.summary import Summary
from tests.logscan.differential import native_module

SERVICES = [f"svc{i}" for i in range(70)]


def _ids(rnd: random.Random, n: int) -> list[bytes]:
    out = [f"{rnd.getrandbits(64):016x}".encode() for _ in range(n)]
    out += [b"\xc3\xa9t\xc3\xa9-" + bytes([48 + i % 10]) * 9 for i in range(3)]
    out += ["surrogate-\ud800".encode("utf-8", "surrogatepass"), b"x" * 64]
    return out


def _chunk(rnd: random.Random, pool: list[bytes], wide: bool) -> ChunkResult:
    res = ChunkResult(f"src{rnd.randrange(3)}")
    for svc in rnd.sample(SERVICES[: 70 if wide else 6], rnd.randint(1, 70 if wide else 6)):
        res.bit(svc)
    width = len(res.service_order)
    for trace in rnd.sample(pool, rnd.randint(0, min(len(pool), 300))):
        res.traces[trace] = rnd.randrange(1, 1 << width)
    for _ in range(rnd.randint(0, 60)):
        alias, primary = rnd.choice(pool), rnd.choice(pool)
        res.aliases.setdefault(alias, primary)  # chains, cycles and an id its own alias among them
    for trace in rnd.sample(pool, rnd.randint(0, min(len(pool), 80))):
        spans = {}
        for svc in rnd.sample(res.service_order, rnd.randint(1, min(3, width))):
            lo = 1798758000.0 + rnd.randint(0, 3600) + rnd.choice((0.0, 0.5, 0.123456))
            spans[svc] = [lo, lo + rnd.choice((0.0, 0.25, 3.0, 60.0))]
        res.spans[trace] = spans
    for trace in rnd.sample(pool, rnd.randint(0, min(len(pool), 30))):
        res.first_errors[trace] = {rnd.choice(res.service_order): (
            rnd.choice((float("inf"), 1798758000.0 + rnd.randint(0, 3600))), f"boom {rnd.randint(0, 3)}")}
    for svc in res.service_order:
        res.services[svc] = [rnd.randint(1, 50), 0]
        res.services[svc][1] = rnd.randint(0, res.services[svc][0])
    res.lines = sum(n for n, _ in res.services.values())
    res.error_lines = len(res.first_errors)
    return res


def _merged(chunks: list[ChunkResult], settings: ScanSettings, travel: bool) -> tuple[dict, Summary]:
    """The chunks (copies: a merge may keep their lists) merged into a new summary, and its report."""
    summary = Summary(settings)
    for res in chunks:
        res = pickle.loads(pickle.dumps(res))  # as a worker's result arrives: its traces packed
        if not travel:
            res.trace_masks()  # as an in-process result: a dict
            assert res.packed is None
        summary.merge(res, summary.source(res.source, "default", "file"))
    report = summary.report()
    return report, summary


def _state(summary: Summary) -> dict:
    return {"traces": summary.traces, "untracked": summary.untracked, "aliases": summary.aliases,
            "aliases_dropped": summary.aliases_dropped, "spans": summary.spans, "first_errors": summary.first_errors,
            "order": summary.order}


@pytest.mark.parametrize("max_traces, wide", [
    (2_000_000, False), (400, False), (37, False), (1, False),
    (2_000_000, True), (400, True), (37, True),
    (1, True),
])
def test_native_merges_give_the_python_merges_summary(max_traces, wide, monkeypatch):
    if native_module() is None:
        pytest.skip("the native scanner is not built here (CI requires it)")
    settings = ScanSettings(services=tuple(SERVICES[:4]), hops=(("svc0", "svc1"), ("svc1", "svc2"), ("svc2", "svc3")),
                            max_traces=max_traces)
    for seed in range(8):
        rnd = random.Random(seed * 100 + max_traces + wide)
        pool = _ids(rnd, rnd.choice((20, 200, 700)))
        chunks = [_chunk(rnd, pool, wide) for _ in range(rnd.randint(1, 6))]
        native_report, native_summary = _merged(chunks, settings, False)
        travelled_report, travelled_summary = _merged(chunks, settings, True)
        with monkeypatch.context() as m:
            m.setattr(summary_mod, "_native", None)
            python_report, python_summary = _merged(chunks, settings, False)
        assert _state(native_summary) == _state(python_summary), seed
        assert _state(travelled_summary) == _state(python_summary), seed
        assert native_report == python_report == travelled_report, seed
