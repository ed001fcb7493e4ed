"""Benchmark: one trace's lookup in a 1 GB JSON-lines file, against `grep -F` on the same file.

Target: at least as fast as `LC_ALL=C grep -F ID FILE`. Both run warm (the file is read once first),
several times each, medians reported. Three ways of ours are timed: the in-process call (memory-mapped,
parallel windows, only hit lines parsed), the same with one process, and the whole CLI
(`autoglm-doctor trace ID --source FILE --format json`, start-up included). The file is the summary
benchmark's (generated into /tmp, seeded; see bench_logs_summary.py).

    .venv/bin/python bench/bench_trace_lookup.py [--size-mb 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    from bench_logs_summary import ensure_file, warm

    from autoglm_doctor.logscan.settings import ScanSettings
    from autoglm_doctor.logscan.sources import parse_source_spec, resolve
    from autoglm_doctor.logscan.timeline import find_trace
    from autoglm_doctor.targets import open_target

    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    path = f"/tmp/adt6-bench-{args.size_mb}mb-seed{args.seed}.jsonl"
    truth = ensure_file(path, args.size_mb, args.seed)
    size = os.path.getsize(path)
    trace_id = truth["failing_ids"][-1]  # a failing trace: agent and model server lines, errors
    warm(path)
    env = {**os.environ, "LC_ALL": "C"}

    def grep() -> int:
        out = subprocess.run(["grep", "-F", trace_id, path], capture_output=True, env=env)
        return out.stdout.count(b"\n")

    target = open_target("local")
    streams = resolve(target, [parse_source_spec(path)], [])
    settings = ScanSettings()
    exe = os.path.join(os.path.dirname(sys.executable), "autoglm-doctor")

    def cli() -> dict:
        out = subprocess.run([exe, "trace", trace_id, "--source", path, "--format", "json"], capture_output=True, text=True)
        return json.loads(out.stdout)

    t_grep, grep_lines = timed(grep, args.runs)
    t_ours, timeline = timed(lambda: find_trace(target, streams, settings, trace_id, jobs=0), args.runs)
    t_one, _ = timed(lambda: find_trace(target, streams, settings, trace_id, jobs=1), args.runs)
    t_cli, cli_timeline = timed(cli, args.runs)
    assert timeline["lines"] == grep_lines == cli_timeline["lines"], (timeline["lines"], grep_lines)
    print(f"file {path}: {size / 1e6:.0f} MB, trace {trace_id}: {grep_lines} lines "
          f"({', '.join(timeline['services'])}; first error at {timeline['first_error']['service']})")
    print(f"grep -F              median {t_grep * 1000:7.1f} ms  ({size / t_grep / 1e9:.2f} GB/s)")
    for label, t in (("trace (in-process)", t_ours), ("trace (1 process)", t_one), ("trace (CLI, json)", t_cli)):
        print(f"{label:<20} median {t * 1000:7.1f} ms  ({size / t / 1e9:.2f} GB/s)  grep/ours = {t_grep / t:.2f}x")
    print(f"runs: {args.runs} each; load average now: {open('/proc/loadavg').read().split()[:3]} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
