"""Generated multi-service scenarios with known failing and lost traces: the `logs` summary is exact,
in-process and in parallel worker processes, from one aggregated file or one file per service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoglm_doctor.logscan import bigfile
from autoglm_doctor.logscan.engine import summarize
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.sources import parse_source_spec, resolve
from autoglm_doctor.targets.local import LocalTarget
from tests.logscan.synth import AGENT, MODEL, Truth, generate, write_file


def summary_of(paths: list[str], jobs: int = 1, settings: ScanSettings | None = None, target=None,
               chunk: int = bigfile.CHUNK, parallel_min: int = bigfile.PARALLEL_MIN, engine: str = "auto",
               fast: bool = True) -> dict:
    target = target or LocalTarget()
    notes: list[str] = []
    streams = resolve(target, [parse_source_spec(p) for p in paths], notes)
    return summarize(target, streams, settings or ScanSettings(), jobs=jobs, notes=notes, chunk=chunk,
                     parallel_min=parallel_min, engine=engine, fast=fast).report()


def assert_matches_truth(report: dict, truth: Truth) -> None:
    assert report["traces"]["seen"] == truth.traces
    assert report["traces"]["failing"] == len(truth.failing)
    assert report["failing_by_service"] == {MODEL: len(truth.failing)}
    (hop,) = report["lost_hops"]
    assert (hop["hop"], hop["lost"], hop["upstream_traces"]) == (f"{AGENT}>{MODEL}", len(truth.lost), truth.traces)
    assert set(hop["examples"]) <= truth.lost and len(hop["examples"]) == min(10, len(truth.lost))
    assert {p["service"]: (p["lines"], p["without_id"]) for p in report["propagation"]} == {
        svc: (truth.lines[svc], truth.untraced[svc]) for svc in (AGENT, MODEL)}
    assert report["errors"] == {"lines": truth.error_lines, "without_trace_id": {}}
    assert {f["trace"] for f in report["failing"]} <= set(truth.failing)
    top = {(e["service"], e["message"]): e["count"] for e in report["top_errors"]}
    assert top == {(MODEL, "CUDA out of memory. Tried to allocate # GiB"): len(truth.failing),
                   (AGENT, "model server returned #"): len(truth.failing)}


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("agg") / "all.jsonl"
    return path, write_file(str(path), seed=11, traces=6000, fail_every=40, lose_every=33)


def test_in_process_summary_is_exact(aggregated):
    path, truth = aggregated
    report = summary_of([str(path)])
    assert_matches_truth(report, truth)
    assert report["sources"][0]["fast_path_share"] > 0.95 and report["notes"] == []


def test_parallel_summary_is_exact(aggregated):
    path, truth = aggregated
    report = summary_of([str(path)], jobs=2, chunk=64 << 10, parallel_min=1)  # many windows, each split at a newline
    assert_matches_truth(report, truth)


def test_one_file_per_service_without_service_field(tmp_path):
    truth = Truth()
    files = {AGENT: tmp_path / f"{AGENT}.log", MODEL: tmp_path / f"{MODEL}.log"}
    handles = {svc: open(p, "w") for svc, p in files.items()}
    for line in generate(seed=5, traces=800, fail_every=9, lose_every=13, truth=truth):
        obj = json.loads(line)
        handles[obj.pop("service")].write(json.dumps(obj) + "\n")
    for fh in handles.values():
        fh.close()
    report = summary_of([str(tmp_path)])  # a directory: each file is a service named after it
    assert_matches_truth(report, truth)


def test_window_counts_lines_outside(aggregated):
    path, truth = aggregated
    from tests.logscan.synth import START

    report = summary_of([str(path)], settings=ScanSettings(since=START + 10_000))
    assert report["lines"] == 0 and report["traces"]["seen"] == 0
    assert report["sources"][0]["outside_window"] == sum(truth.lines.values())


def test_bounded_trace_state(aggregated):
    path, truth = aggregated
    report = summary_of([str(path)], settings=ScanSettings(max_traces=1000))
    assert report["traces"]["seen"] == 1000
    assert report["traces"]["untracked"] == truth.traces - 1000
    assert any("not tracked" in n for n in report["notes"])


def test_request_ids_logged_with_trace_ids_are_merged(tmp_path):
    """The agent logs its trace id and the model server's request id on one line; the model server
    logs only the request id: one trace, not a lost one."""
    lines = []
    for i in range(50):
        trace, req = f"{i:032x}", f"req-{i:04d}"
        lines.append({"level": "info", "service": AGENT, "trace_id": trace, "message": "call"})
        lines.append({"level": "info", "service": AGENT, "trace_id": trace, "request_id": req, "message": "sent"})
        lines.append({"level": "info", "service": MODEL, "request_id": req, "message": "done"})
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = summary_of([str(path)])
    assert report["traces"]["seen"] == 50
    assert report["lost_hops"][0]["lost"] == 0


def test_merge_order_and_service_order_do_not_change_the_traces():
    """Blocks whose services come in another order (other bits) merge to the same trace masks, and
    a full table counts the overflow exactly as one trace at a time would."""
    from autoglm_doctor.logscan.scan import ChunkResult
    from autoglm_doctor.logscan.summary import Summary

    def block(order, traces):
        res = ChunkResult("f")
        res.service_order = list(order)
        res.traces = dict(traces)
        return res

    a = block(["vllm", "auto-glm"], {b"t1": 1, b"t2": 3, b"t3": 2})
    b = block(["auto-glm", "vllm"], {b"t3": 2, b"t4": 1, b"t1": 1})
    summary = Summary(ScanSettings())
    summary._merge_traces(a)
    summary._merge_traces(b)
    named = {t: {summary.order[i] for i in range(len(summary.order)) if m >> i & 1} for t, m in summary.traces.items()}
    assert named == {b"t1": {"vllm", "auto-glm"}, b"t2": {"vllm", "auto-glm"}, b"t3": {"auto-glm", "vllm"},
                     b"t4": {"auto-glm"}}
    assert list(summary.traces) == [b"t1", b"t2", b"t3", b"t4"]
    small = Summary(ScanSettings(max_traces=3))
    small._merge_traces(block(["a"], {b"t1": 1, b"t2": 1}))
    small._merge_traces(block(["a"], {b"t2": 1, b"t3": 1, b"t4": 1, b"t5": 1}))
    assert list(small.traces) == [b"t1", b"t2", b"t3"] and small.untracked == 2


def test_aliases_are_bounded_like_the_traces_and_say_so(tmp_path):
    lines = []
    for i in range(50):
        trace, req = f"{i:032x}", f"req-{i:04d}"
        lines.append({"level": "info", "service": AGENT, "trace_id": trace, "request_id": req, "message": "sent"})
        lines.append({"level": "info", "service": MODEL, "request_id": req, "message": "done"})
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = summary_of([str(path)], settings=ScanSettings(max_traces=30))
    assert "20 ids logged next to another id were not followed (more than profile.logs_max_traces = 30); " \
           "their requests may count twice" in report["notes"]
    assert report["traces"]["seen"] == 15  # the first 30 ids: 15 traces and their 15 request ids, merged
