"""Bad input is counted and reported, never a crash: malformed JSON, binary garbage, a 10 MB line,
invalid UTF-8, a truncated .gz, a file rotated or truncated while it is scanned."""

from __future__ import annotations

import gzip
import os

import pytest

from autoglm_doctor.logscan import bigfile
from autoglm_doctor.logscan.engine import summarize
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.sources import parse_source_spec, resolve
from autoglm_doctor.targets.local import LocalTarget
from tests.logscan.synth import generate


def run(paths: list[str], jobs: int = 1, progress=None, chunk: int = bigfile.CHUNK,
        parallel_min: int = bigfile.PARALLEL_MIN) -> dict:
    target = LocalTarget()
    notes: list[str] = []
    streams = resolve(target, [parse_source_spec(p) for p in paths], notes)
    return summarize(target, streams, ScanSettings(), jobs=jobs, progress=progress, notes=notes, chunk=chunk,
                     parallel_min=parallel_min).report()


def good_lines(n: int = 200, seed: int = 1) -> list[bytes]:
    return [line.encode() for line in generate(seed=seed, traces=n)]


@pytest.mark.parametrize("jobs", [1, 2])
def test_garbage_is_counted_per_kind(tmp_path, jobs):
    lines = good_lines()
    bad = [
        b'{"level":"info","service":"vllm","trace_id":"abc',          # truncated JSON
        b'{"level":"info" "service":"vllm"}',                          # malformed JSON
        bytes(b for b in range(256) if b != 10) * 8,                    # binary garbage
        b"\x00" * 100,                                                  # NULs
        b'{"level":"error","service":"vllm","trace_id":"' + b"e" * 32 + b'","message":"caf\xe9"}',  # invalid UTF-8
        b"A" * (10 << 20),                                              # a 10 MB line
    ]
    mixed = lines[:50] + bad[:3] + lines[50:120] + bad[3:] + lines[120:]
    path = tmp_path / "mixed.log"
    path.write_bytes(b"\n".join(mixed) + b"\n")
    report = run([str(path)], jobs=jobs, chunk=32 << 10, parallel_min=1)
    (src,) = report["sources"]
    assert src["problems"] == {"malformed JSON": 2, "binary data": 2, "line over 1 MiB": 1, "invalid UTF-8": 1}
    assert src["unparsable"] == 5
    assert src["lines"] == len(lines) + 1  # the invalid UTF-8 line is still used
    assert f"5 lines unparsable in {path} (binary data: 2, line over 1 MiB: 1, malformed JSON: 2)" in report["notes"]
    assert f"1 lines with invalid UTF-8 in {path} (decoded with U+FFFD)" in report["notes"]
    assert report["traces"]["failing"] >= 1


def test_rotated_and_gzipped_siblings_and_a_truncated_gz(tmp_path):
    lines = good_lines(300)
    base = tmp_path / "vllm.log"
    (tmp_path / "vllm.log.2.gz").write_bytes(gzip.compress(b"\n".join(lines[:100]) + b"\n")[:-200])  # cut short
    (tmp_path / "vllm.log.1").write_bytes(b"\n".join(lines[100:200]) + b"\n")
    base.write_bytes(b"\n".join(lines[200:]) + b"\n")
    report = run([str(base)])
    names = [s["name"] for s in report["sources"]]
    assert names == [str(tmp_path / "vllm.log.2.gz"), str(tmp_path / "vllm.log.1"), str(base)]
    assert report["sources"][1]["lines"] == 100 and report["sources"][2]["lines"] == len(lines) - 200
    assert 0 < report["sources"][0]["lines"] < 100
    assert any("vllm.log.2.gz: .gz archive truncated" in n for n in report["notes"])


def test_garbage_gz_is_a_note(tmp_path):
    (tmp_path / "app.log.1.gz").write_bytes(b"this is not gzip at all\n" * 10)
    report = run([str(tmp_path)])
    assert report["lines"] == 0
    assert any("app.log.1.gz: .gz archive corrupt" in n for n in report["notes"])


@pytest.mark.parametrize("jobs", [1, 2])
def test_file_truncated_during_the_scan(tmp_path, jobs):
    """copytruncate rotation: the file shrinks to 0 while it is being read."""
    path = tmp_path / "agent.log"
    path.write_bytes(b"\n".join(good_lines(2000)) + b"\n")
    done = []

    def truncate_once(_done: int, _total: int) -> None:
        if not done:
            done.append(True)
            os.truncate(path, 0)

    report = run([str(path)], jobs=jobs, progress=truncate_once, chunk=16 << 10, parallel_min=1)
    assert any("shrank from" in n and "copytruncate" in n for n in report["notes"])


def test_file_replaced_during_the_scan(tmp_path):
    path = tmp_path / "agent.log"
    path.write_bytes(b"\n".join(good_lines(2000)) + b"\n")

    def rotate(_done: int, _total: int) -> None:
        if path.exists() and not (tmp_path / "agent.log.1").exists():
            os.rename(path, tmp_path / "agent.log.1")
            path.write_bytes(b"")

    report = run([str(path)], jobs=2, progress=rotate, chunk=16 << 10, parallel_min=1)
    assert any("replaced during the scan (rotated)" in n for n in report["notes"])
    assert report["lines"] > 0


def test_iter_local_blocks_bounds_memory_for_a_huge_line(tmp_path):
    path = tmp_path / "x.log"
    path.write_bytes(b"first\n" + b"B" * (5 << 20) + b"\nlast\n")
    blocks = list(bigfile.iter_local_blocks(str(path), block=1 << 20, max_line=1 << 20))
    lines = b"".join(blocks).split(b"\n")
    assert lines[0] == b"first" and lines[-2] == b"last"
    assert max(len(line) for line in lines) == (1 << 20) + 1
