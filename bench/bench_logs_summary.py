"""Benchmark: the full `logs` summary on the realistic mixed corpus (bench/corpus.py: gateway logfmt,
agent JSON with tracebacks, vLLM native lines in Docker json-file records, SGLang text, rotated and
.gz files) and on pure JSON-lines (tests/logscan/synth.py), 1 GB each by default.

Goals (2 cores, medians): >= 300 MB/s on both, peak RSS <= 300 MB. Other work may share the CPU, so
every run is paired with a yardstick run just before it: ``LC_ALL=C grep -c -F`` over the same files
(one core) - the ratio ours/grep is what compares across machines and moments, by wall time and by CPU
time (which a busy machine distorts less); "on N idle cores" is the size over CPU time per core. Each run happens in a
fresh child process reporting its own peak RSS (VmHWM) and its workers' largest (RUSAGE_CHILDREN);
the summary is checked against the generator's truth every time. Corpora are generated (seeded) into
/var/tmp once and reused (kept across reboots and /tmp cleaners). ``--profile`` prints where one in-process 4 MB window of each source goes.

    .venv/bin/python bench/bench_logs_summary.py [--corpus mixed|json|both] [--size-mb 1024] [--runs 2]
        [--jobs 1,2] [--engine auto,line,exact] [--profile]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import corpus  # noqa: E402

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from autoglm_doctor.logscan.engine import summarize
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.sources import parse_source_spec, resolve
from autoglm_doctor.targets import open_target
target = open_target("local")
notes = []
streams = resolve(target, [parse_source_spec(s) for s in {sources!r}], notes)
settings = ScanSettings(services={services!r}, hops={hops!r})
t0 = time.perf_counter()
report = summarize(target, streams, settings, jobs={jobs}, fast={fast}, engine={engine!r}).report()
elapsed = time.perf_counter() - t0
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({{"elapsed": elapsed, "parent_hwm_kb": hwm, "worker_max_kb": kids.ru_maxrss,
                   "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
                   "traces": report["traces"], "engine": report["engine"], "lost_by_hop": {{h["hop"]: h["lost"] for h in report["lost_hops"]}},
                   "records": {{p["service"]: p["lines"] for p in report["propagation"]}}}}))
"""


def mixed_corpus(size_mb: int, seed: int) -> tuple[list[str], dict, list[str]]:
    out = f"/var/tmp/adt17-corpus-{size_mb}mb-seed{seed}"
    truth_path = os.path.join(out, "truth.json")
    if not os.path.exists(truth_path):
        print(f"generating the mixed corpus, {size_mb} MB, into {out} ...", file=sys.stderr)
        corpus.generate(out, size_mb, seed)
    with open(truth_path) as fh:
        truth = json.load(fh)
    files = sorted(p for p in glob.glob(f"{out}/*/*") if not p.endswith(".json"))
    return corpus.sources(out), truth, files


def json_corpus(size_mb: int, seed: int) -> tuple[list[str], dict, list[str]]:
    from tests.logscan.synth import write_file

    path = f"/var/tmp/adt17-json-{size_mb}mb-seed{seed}.jsonl"
    meta = path + ".truth.json"
    if not os.path.exists(meta):
        print(f"generating {size_mb} MB of JSON lines into {path} ...", file=sys.stderr)
        tr = write_file(path, seed=seed, target_bytes=size_mb << 20)
        with open(meta, "w") as fh:
            json.dump({"seen": tr.traces, "failing": len(tr.failing), "lost": len(tr.lost)}, fh)
    with open(meta) as fh:
        return [path], json.load(fh), [path]


def grep_seconds(files: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``LC_ALL=C grep -c -F`` over the files (a .gz file is read as bytes)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(["grep", "-c", "-F", "level=error", *files], capture_output=True, check=False,
                   env={**os.environ, "LC_ALL": "C"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def warm(files: list[str]) -> None:
    for path in files:
        with open(path, "rb") as fh:
            while fh.read(16 << 20):
                pass


def profile(sources: list[str]) -> None:
    import cProfile
    import pstats

    from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner
    from autoglm_doctor.logscan.settings import ScanSettings

    scanner = ChunkScanner(ScanSettings())
    for spec in sources:
        path = spec.split("=", 1)[-1]
        with open(path, "rb") as fh:
            data = fh.read(4 << 20)
        data = data[: data.rfind(b"\n") + 1]
        res = ChunkResult(path)
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        scanner.begin(None)
        scanner.scan(data, res, "x")
        plain = time.perf_counter() - t0
        prof.enable()
        scanner.scan(data, ChunkResult(path), "x")
        prof.disable()
        lines = data.count(b"\n")
        print(f"\n{path}: {len(data) / plain / 1e6:.1f} MB/s in-process, {plain / lines * 1e6:.2f} us per line "
              f"({len(data) / lines:.0f} B/line)")
        pstats.Stats(prof).sort_stats("tottime").print_stats(8)


def run_corpus(name: str, sources: list[str], truth: dict, files: list[str], args: argparse.Namespace) -> None:
    size = sum(os.path.getsize(p) for p in files)
    services = corpus.SERVICES if name == "mixed" else ("auto-glm", "vllm")
    hops = tuple(tuple(h.split(">")) for h in corpus.HOPS) if name == "mixed" else ()
    warm(files)
    print(f"\n== {name}: {size / 1e6:.0f} MB in {len(files)} files, {len(sources)} sources; "
          f"{truth['seen']} traces, {truth['failing']} failing, {truth['lost']} lost")
    for jobs, engine in [(int(j), e) for j in sorted(set(args.jobs.split(","))) for e in args.engine.split(",")]:
        runs = []
        for _ in range(args.runs):
            g, g_cpu = grep_seconds(files)
            code = CHILD.format(root=ROOT, sources=sources, services=services, hops=hops, jobs=jobs,
                                fast=engine != "exact", engine="line" if engine == "line" else "auto")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout)
            result["grep"], result["grep_cpu"] = g, g_cpu
            runs.append(result)
        elapsed = statistics.median(r["elapsed"] for r in runs)
        ratio = statistics.median(r["grep"] / r["elapsed"] for r in runs)
        last = runs[-1]
        ok = all(last["traces"][k] == truth[k] for k in ("seen", "failing", "lost"))
        parent_mb = max(r["parent_hwm_kb"] for r in runs) / 1024
        worker_mb = max(r["worker_max_kb"] for r in runs) / 1024
        cpu = statistics.median(r["cpu"] for r in runs)
        cpu_ratio = statistics.median(r["grep_cpu"] / r["cpu"] for r in runs)
        each = ", ".join(f"{size / r['elapsed'] / 1e6:.1f}" for r in runs)
        greps = ", ".join(f"{size / r['grep'] / 1e6:.0f}" for r in runs)
        print(f"jobs={jobs} engine={last['engine']}: median {elapsed:.2f} s = {size / elapsed / 1e6:.1f} MB/s "
              f"(runs: {each}); summary "
              f"{'matches' if ok else 'DIFFERS FROM'} the truth"
              + ("" if ok else f": got {last['traces']}, lost by hop {last['lost_by_hop']}"))
        print(f"         ours/grep = {ratio:.3f} (grep -c -F on one core: "
              f"{greps} MB/s just before each run)")
        print(f"         peak RSS parent {parent_mb:.0f} MB + {jobs if jobs > 1 else 0} workers of at most "
              f"{worker_mb:.0f} MB = {parent_mb + (worker_mb * jobs if jobs > 1 else 0):.0f} MB; CPU {cpu:.1f} s "
              f"= {size / cpu / 1e6:.1f} MB per CPU-second; on {jobs} idle core(s) that is "
              f"{size / (cpu / jobs) / 1e6:.0f} MB/s")
        print(f"         by CPU time, ours/grep = {cpu_ratio:.3f} (grep: {size / statistics.median(r['grep_cpu'] for r in runs) / 1e6:.0f} "
              "MB per CPU-second; CPU time counts what each process got, so a busy machine distorts it less)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", choices=("mixed", "json", "both"), default="both")
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--jobs", default="2", help="worker counts to run, e.g. 1,2")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--engine", default="auto,line",
                    help="comma-separated: auto (the native scanner when it is built), line (the per-line "
                         "parser, orjson), exact (the reference, json); default: auto,line")
    ap.add_argument("--profile", action="store_true", help="where one 4 MB window of each source goes")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; load average before: {open('/proc/loadavg').read().split()[:3]}")
    for name in (("mixed", "json") if args.corpus == "both" else (args.corpus,)):
        sources, truth, files = (mixed_corpus if name == "mixed" else json_corpus)(args.size_mb, args.seed)
        if args.profile:
            profile(sources)
            continue
        run_corpus(name, sources, truth, files, args)
    print(f"load average now: {open('/proc/loadavg').read().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
