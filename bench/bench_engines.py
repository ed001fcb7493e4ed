"""Measuring the candidate engines on the realistic corpus before choosing one: the pieces a summary
needs, on one 4 MB window of each source, each as MB/s and as a share of `grep -c -F` on the same
bytes (other work may share the CPU; the ratio is what compares).

- JSON decoding per line: json.loads vs orjson.loads (the [fast] extra);
- ids in text lines: sre per pattern with a literal guard (what extract.py does), sre as one
  alternation, google-re2 as one alternation;
- a native header over whole blocks: one sre ``findall`` (multi-line) vs ``match`` per line;
- polars (optional): the window as a column of lines, ids extracted by Rust's regex;
- the whole per-line parser (extract.py) for reference;
- the native scanner (C) and the per-line parser on the same window, each with the accounting a worker does.

    .venv/bin/python bench/bench_engines.py [--corpus DIR]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def best(fn, data_len: int, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return data_len / min(times) / 1e6


def _native_scan(data: bytes, native: bool = True) -> None:
    """A whole window into a ChunkResult, as a worker does it: the native scanner, or the per-line parser."""
    from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner
    from autoglm_doctor.logscan.settings import ScanSettings

    scanner, res = ChunkScanner(ScanSettings(), fast=True, native=native), ChunkResult("w")
    scanner.begin(None)
    scanner.scan(data, res, "s")
    scanner.finish(res)


def main() -> int:
    from autoglm_doctor.logscan.extract import LineParser
    from autoglm_doctor.logscan.scan import native_available
    from autoglm_doctor.logscan.settings import DEFAULT_TRACE_PATTERNS, ScanSettings

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/var/tmp/adt17-corpus-1024mb-seed7")
    args = ap.parse_args()
    combined = "|".join(f"(?:{p[4:]})" if p.startswith("(?i)") else f"(?:{p})" for p in DEFAULT_TRACE_PATTERNS)
    sre_all = re.compile(combined, re.I)
    try:
        import re2
        re2_all = re2.compile("(?i)" + combined)
    except ImportError:
        re2_all = None
    try:
        import orjson
    except ImportError:
        orjson = None
    try:
        import polars as pl
    except ImportError:
        pl = None
    vllm_block = re.compile(rb"(?m)^(?:\([\w.-]+ pid=\d+\) )?(INFO|WARNING|ERROR|DEBUG) (\d\d-\d\d \d\d:\d\d:\d\d) \[")
    parser = LineParser(ScanSettings(), fast=True)
    print(f"load average: {open('/proc/loadavg').read().split()[:3]} on {os.cpu_count()} CPUs")
    for path in sorted(glob.glob(f"{args.corpus}/*/*.log")):
        with open(path, "rb") as fh:
            data = fh.read(4 << 20)
        data = data[: data.rfind(b"\n") + 1]
        lines = data.split(b"\n")[:-1]
        texts = [line.decode("utf-8", "replace") for line in lines]
        if texts[0].startswith('{"log":'):  # Docker json-file: measure the inner lines
            texts = [json.loads(t)["log"] for t in texts if t.startswith("{") and t.endswith("}")]
        n = len(data)
        t0 = time.perf_counter()
        subprocess.run(["grep", "-c", "-F", "level=error", path], capture_output=True, env={**os.environ, "LC_ALL": "C"})
        grep = os.path.getsize(path) / (time.perf_counter() - t0) / 1e6
        rows = []
        objects = [x for x in lines if x[:1] == b"{" and x[-1:] == b"}"]
        if len(objects) > len(lines) // 2:
            rows.append(("json.loads per line", best(lambda: [json.loads(x) for x in objects], n)))
            if orjson:
                rows.append(("orjson.loads per line", best(lambda: [orjson.loads(x) for x in objects], n)))
        rows.append(("ids: sre per pattern, guarded", best(lambda: [parser._ids(t) for t in texts], n)))
        rows.append(("ids: sre one alternation", best(lambda: [sre_all.findall(t) for t in texts], n)))
        if re2_all is not None:
            rows.append(("ids: re2 one alternation", best(lambda: [re2_all.findall(t) for t in texts], n)))
        if b"[logger.py" in data or b"[engine.py" in data:
            inner = "\n".join(texts).encode()
            rows.append(("vLLM header: findall over the block", best(lambda: vllm_block.findall(inner), n)))
            rows.append(("vLLM header: match per line", best(lambda: [vllm_block.match(t.encode()) for t in texts], n)))
        if pl is not None:
            col = pl.Series("line", texts)
            rows.append(("polars: ids by Rust regex (column)", best(lambda: col.str.extract_all(combined), n)))
            rows.append(("polars: Series from the lines", best(lambda: pl.Series("line", texts), n)))
        rows.append(("the whole per-line parser (extract.py)", best(lambda: [parser.parse(x, "s") for x in lines], n, 1)))
        if native_available():
            rows.append(("the native scanner: lines + accounting", best(lambda: _native_scan(data), n)))
            rows.append(("the per-line parser: lines + accounting", best(lambda: _native_scan(data, False), n, 1)))
        print(f"\n{path}: {n / 1e6:.1f} MB, {len(lines)} lines; grep -c -F {grep:.0f} MB/s")
        for label, mbs in rows:
            print(f"  {label:<42} {mbs:9.1f} MB/s  {mbs / grep:6.3f}x grep")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
