"""The columnar engine (polars, the [fast] extra) gives exactly the exact summary: on the realistic
corpus, on odd lines put anywhere, on seeded random mixes of every format with cut, flipped and
garbage lines, in and out of a time window, and through ``summarize`` in worker processes. It must
also leave to the exact parser most of nothing: on the corpus nearly every line is read in columns."""

from __future__ import annotations

import random

import pytest

from autoglm_doctor.logscan import columnar
from autoglm_doctor.logscan.columnar import ColumnarScanner
from autoglm_doctor.logscan.scan import ChunkResult
from autoglm_doctor.logscan.settings import ScanSettings
from bench import corpus
from tests.logscan.test_scan import BREAKERS, REF, SETTINGS, _mutate, join, report, scan, synth

FIELDS = ("lines", "outside", "undated", "error_lines", "first_ts", "last_ts", "services", "first_errors", "messages",
          "untraced_errors", "problems", "aliases", "traces", "spans", "service_order")


def columnar_scan(data: bytes, settings: ScanSettings = SETTINGS) -> ChunkResult:
    res = ChunkResult("f")
    ColumnarScanner(settings).scan_window(data, res, "default", REF)
    return res


def assert_identical(data: bytes, settings: ScanSettings = SETTINGS) -> ChunkResult:
    exact = scan(data, fast=False, settings=settings)
    res = columnar_scan(data, settings)
    for name in FIELDS:
        assert getattr(res, name) == getattr(exact, name), name
    assert report(res, settings) == report(exact, settings)
    return exact


def test_polars_is_there_in_the_test_environment():
    assert columnar.available(SETTINGS)


def test_the_realistic_corpus_agrees_and_is_read_in_columns(realistic, monkeypatch):
    left = []
    original = ColumnarScanner._slow

    def counting(self, raw_lines, rows, *args):
        left.append(len(rows))
        return original(self, raw_lines, rows, *args)

    monkeypatch.setattr(ColumnarScanner, "_slow", counting)
    lines = 0
    for data in realistic.values():
        assert assert_identical(data).lines > 0
        lines += data.count(b"\n")
    assert sum(left) < 0.06 * lines, (sum(left), lines)  # tracebacks, corrupt lines, odd JSON


@pytest.mark.parametrize("index", range(len(BREAKERS)))
def test_odd_lines_anywhere_give_the_exact_answer(index):
    lines = synth(40)
    for at in (0, len(lines) // 2, len(lines)):
        assert_identical(join(lines[:at] + [BREAKERS[index]] + lines[at:]))


def test_seeded_random_mixes_agree(realistic):
    pool = [line for data in realistic.values() for line in data.decode("utf-8", "surrogateescape").split("\n")]
    pool += synth(60) + BREAKERS
    for seed in range(16):
        rnd = random.Random(seed)
        lines = [_mutate(rnd.choice(pool), rnd) for _ in range(rnd.randint(50, 400))]
        window = ScanSettings(services=SETTINGS.services, hops=SETTINGS.hops,
                              since=corpus.START + rnd.randint(0, 40) if seed % 3 == 0 else None,
                              until=corpus.START + rnd.randint(20, 80) if seed % 4 == 1 else None)
        assert_identical(join(lines), window)


def test_profiles_it_cannot_read_exactly_keep_the_per_line_parser():
    assert not columnar.available(ScanSettings(trace_patterns=(r"req=(\w+)",)))
    assert not columnar.available(ScanSettings(timezone="+08:00"))
    assert not columnar.available(ScanSettings(message_fields=("msg", "trace_id")))  # one field, two roles


def test_summarize_uses_it_in_the_workers_and_says_so(tmp_path):
    from tests.logscan.test_summary import summary_of

    path = tmp_path / "mixed.log"
    pool = synth(300) + BREAKERS
    path.write_bytes(join([line for _ in range(3) for line in pool]))
    exact = summary_of([str(path)], jobs=1)
    fast = summary_of([str(path)], jobs=2, chunk=8 << 10, parallel_min=1)
    assert (exact.pop("engine"), fast.pop("engine")) == ("orjson", "columnar")
    assert fast == exact
