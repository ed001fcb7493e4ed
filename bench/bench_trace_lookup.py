"""Benchmark: `autoglm-doctor trace ID` (the whole CLI, start-up included) against `LC_ALL=C grep -F ID`
on a 1 GB JSON-lines file where every line carries a distinct 32-hex trace id: the worst case for a
substring search, since every line looks like a near-miss. Goal: at most 1.0x grep's time.

Both run warm (the file is read once first), alternately, several times; medians and the median of
the per-pair ratios are printed (other work may share the CPU: a pair runs at the same moment). The
file is generated (seeded) into /var/tmp once. Byte code is compiled first (this machine sets
PYTHONDONTWRITEBYTECODE, which would make every start-up compile the tool).

    .venv/bin/python bench/bench_trace_lookup.py [--size-mb 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_file(size_mb: int, seed: int) -> tuple[str, str]:
    path = f"/var/tmp/adt17-distinct-{size_mb}mb-seed{seed}.jsonl"
    meta = path + ".id"
    if not os.path.exists(meta):
        print(f"generating {size_mb} MB with a distinct id per line into {path} ...", file=sys.stderr)
        rnd = random.Random(seed)
        written, target, wanted = 0, size_mb << 20, None
        with open(path, "w") as fh:
            buf = []
            while written < target:
                tid = f"{rnd.getrandbits(128):032x}"
                line = (f'{{"ts":"2026-12-31T23:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999):03d}Z",'
                        f'"level":"INFO","service":"auto-glm","trace_id":"{tid}","span_id":"{rnd.getrandbits(64):016x}",'
                        f'"event":"step {rnd.randint(1, 40)} done","duration_ms":{rnd.randint(1, 9000)}}}')
                buf.append(line)
                written += len(line) + 1
                if wanted is None and written > target // 2:
                    wanted = tid
                if len(buf) >= 4096:
                    fh.write("\n".join(buf) + "\n")
                    buf.clear()
            fh.write("\n".join(buf) + "\n" if buf else "")
        with open(meta, "w") as fh:
            fh.write(wanted or "")
    with open(meta) as fh:
        return path, fh.read().strip()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    compileall.compile_dir(os.path.join(ROOT, "autoglm_doctor"), quiet=1)
    path, trace_id = ensure_file(args.size_mb, args.seed)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass
    env = {**os.environ, "LC_ALL": "C"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    exe = os.path.join(os.path.dirname(sys.executable), "autoglm-doctor")
    print(f"{os.cpu_count()} CPUs; load average before: {open('/proc/loadavg').read().split()[:3]}")
    import resource

    def children_cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    greps, ours, ratios, grep_cpu, our_cpu = [], [], [], [], []
    for _ in range(args.runs):
        c0, t0 = children_cpu(), time.perf_counter()
        g = subprocess.run(["grep", "-F", trace_id, path], capture_output=True, env=env)
        greps.append(time.perf_counter() - t0)
        grep_cpu.append(children_cpu() - c0)
        c0, t0 = children_cpu(), time.perf_counter()
        out = subprocess.run([exe, "trace", trace_id, "--source", path, "--format", "json"], capture_output=True,
                             text=True, env=env)
        ours.append(time.perf_counter() - t0)
        our_cpu.append(children_cpu() - c0)  # the search children are waited for: counted here
        ratios.append(ours[-1] / greps[-1])
        timeline = json.loads(out.stdout)
        assert timeline["lines"] == g.stdout.count(b"\n") == 1, (timeline["lines"], g.stdout[:200])
    sys.path.insert(0, ROOT)
    from autoglm_doctor.logscan.settings import ScanSettings
    from autoglm_doctor.logscan.sources import parse_source_spec, resolve
    from autoglm_doctor.logscan.timeline import find_trace
    from autoglm_doctor.targets import open_target

    target = open_target("local")
    streams = resolve(target, [parse_source_spec(path)], [])
    inproc = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        find_trace(target, streams, ScanSettings(), trace_id)
        inproc.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    subprocess.run([exe, "--help"], capture_output=True, env=env)
    startup = time.perf_counter() - t0
    print(f"file {path}: {size / 1e6:.0f} MB, {size // 170 / 1e6:.1f} M lines of distinct ids; trace {trace_id}")
    print(f"grep -F            median {statistics.median(greps) * 1000:7.1f} ms  ({size / statistics.median(greps) / 1e9:.2f} GB/s)")
    print(f"trace (CLI, json)  median {statistics.median(ours) * 1000:7.1f} ms  ({size / statistics.median(ours) / 1e9:.2f} GB/s)")
    print(f"trace (in-process) median {statistics.median(inproc) * 1000:7.1f} ms  (the search without start-up: "
          f"{statistics.median(inproc) / statistics.median(greps):.2f}x grep; `autoglm-doctor --help` takes "
          f"{startup * 1000:.0f} ms)")
    print(f"ours/grep: median of the pairs {statistics.median(ratios):.2f}x (each: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"CPU time (user+sys, all processes): grep median {statistics.median(grep_cpu) * 1000:.0f} ms, trace median "
          f"{statistics.median(our_cpu) * 1000:.0f} ms ({statistics.median(our_cpu) / statistics.median(grep_cpu):.2f}x; "
          "trace spreads its search over the cores, grep uses one)")
    print(f"load average now: {open('/proc/loadavg').read().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
