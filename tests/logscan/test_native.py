"""The native scanner (``logscan/_native``, compiled) gives exactly the exact parser's result: on the
realistic corpus, on odd lines put anywhere, on seeded random mixes of every format with cut, flipped
and garbage lines, in and out of a time window, in another time zone, with the profile's own id fields
and patterns, with a block cut at any line into several scans, and through ``summarize`` in worker
processes. It must also leave to the per-line parser almost nothing: on the corpus it reads nearly every
line itself. Every field of the block's result is compared (``differential.FIELDS``), and the report."""

from __future__ import annotations

import random

import pytest

from autoglm_doctor.logscan.extract import LineParser
from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner
from autoglm_doctor.logscan.settings import ScanSettings
from bench import corpus
from tests.logscan.differential import assert_identical, differences, native_module, scan
from tests.logscan.test_scan import BREAKERS, REF, SETTINGS, TID, _mutate, docker_failure, join, synth


@pytest.fixture(autouse=True)
def _built():
    native_module()  # in CI a scanner that is not built fails every test here


def _pool(realistic: dict[str, bytes]) -> list[str]:
    lines = [line for data in realistic.values() for line in data.decode("utf-8", "surrogateescape").split("\n")]
    return lines + synth(60) + BREAKERS


def test_the_native_scanner_is_built_and_chosen():
    from autoglm_doctor.logscan.engine import choose_engine
    from autoglm_doctor.logscan.scan import native_available

    if native_module() is None:
        pytest.skip("the native scanner is not built here (CI requires it)")
    assert native_available()
    assert (choose_engine(True), choose_engine(True, "line"), choose_engine(False)) == ("native", "orjson", "json")


def test_the_realistic_corpus_agrees_and_is_read_natively(realistic, monkeypatch):
    """The per-line parser sees only the lines the native scanner leaves: on the corpus, a few corrupt
    lines (5 of 6,718 when this was written)."""
    calls = []
    original = LineParser.parse

    def counting(self, raw, *args, **kwargs):
        calls.append(len(raw))
        return original(self, raw, *args, **kwargs)

    lines = 0
    for name, data in realistic.items():
        exact = scan(data, SETTINGS, False, REF)
        monkeypatch.setattr(LineParser, "parse", counting)
        res = scan(data, SETTINGS, True, REF)
        monkeypatch.setattr(LineParser, "parse", original)
        assert differences(res, exact, SETTINGS) == [], name
        assert exact.lines > 0, name
        lines += data.count(b"\n")
    if native_module() is not None:
        assert len(calls) < 0.01 * lines, (len(calls), lines)


def test_the_module_called_directly_gives_the_same(realistic):
    native = native_module()
    if native is None:
        pytest.skip("the native scanner is not built here (CI requires it)")
    for name, data in realistic.items():
        scanner = ChunkScanner(SETTINGS, fast=True)
        res = ChunkResult("f")
        scanner.begin(REF)
        native.Scanner(scanner).scan(data, res, "default")
        scanner.finish(res)
        assert differences(res, scan(data, SETTINGS, False, REF), SETTINGS) == [], name


@pytest.mark.parametrize("index", range(len(BREAKERS)))
def test_odd_lines_anywhere_give_the_exact_answer(index):
    lines = synth(40)
    for at in (0, len(lines) // 2, len(lines)):
        assert_identical(join(lines[:at] + [BREAKERS[index]] + lines[at:]), SETTINGS, REF)


def test_seeded_random_mixes_agree(realistic):
    pool = _pool(realistic)
    for seed in range(16):
        rnd = random.Random(seed)
        lines = [_mutate(rnd.choice(pool), rnd) for _ in range(rnd.randint(50, 400))]
        window = ScanSettings(services=SETTINGS.services, hops=SETTINGS.hops,
                              since=corpus.START + rnd.randint(0, 40) if seed % 3 == 0 else None,
                              until=corpus.START + rnd.randint(20, 80) if seed % 4 == 1 else None)
        assert_identical(join(lines), window, REF)


PROFILES = {
    "utc+8": ScanSettings(services=SETTINGS.services, hops=SETTINGS.hops, timezone="+08:00"),
    "shanghai": ScanSettings(services=SETTINGS.services, hops=SETTINGS.hops, timezone="Asia/Shanghai",
                             since=corpus.START - 8 * 3600 + 30),
    "own-id-fields": ScanSettings(trace_fields=("req", "span_id", "trace_id"), service_fields=("svc", "service"),
                                  level_fields=("lvl", "level"), time_fields=("when", "ts", "time")),
    "own-patterns": ScanSettings(trace_patterns=(r"req=(\w+)", r"\b(?:chat)?cmpl-([0-9A-Za-z-]{8,64})",
                                                 r"(?i)\btrace[_.-]?id[\"']?\s*[=:]\s*[\"']?([0-9A-Za-z_-]{8,64})")),
    "one-field-two-roles": ScanSettings(message_fields=("msg", "trace_id"), status_fields=("status", "level")),
}
OWN = [
    f'{{"when":"2026-12-31T23:00:01+08:00","lvl":"error","req":"r-{TID}","svc":"gw","message":"boom"}}',
    f'{{"ts":"2026-12-31 23:00:02","level":"info","span_id":"00f067aa0ba902b7","trace_id":"{TID}"}}',
    f"time=2026-12-31T23:00:03 lvl=error req=abc12345 svc=gw msg=\"x\" trace_id={TID}",
    f"2026-12-31 23:00:04 ERROR req=deadbeef01 and cmpl-{TID} and trace_id={TID}",
    "[2026-12-31 23:00:05 TP0] Receive: obj=GenerateReqInput(rid='abcdef0123')",
    f"INFO 12-31 23:00:06 [logger.py:43] Received request chatcmpl-{TID}: prompt",
]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_agree(name, realistic):
    settings = PROFILES[name]
    rnd = random.Random(name)
    pool = _pool(realistic) + OWN * 20
    for _ in range(4):
        lines = [_mutate(rnd.choice(pool), rnd) for _ in range(300)]
        assert_identical(join(lines), settings, REF)
    for data in realistic.values():
        assert_identical(data[:200_000], settings, REF)


def _tracebacks() -> list[str]:
    """Docker records and raw lines with tracebacks after them: the state a cut must carry."""
    lines = []
    for i in range(60):
        lines += docker_failure(i)
        lines.append(f'{{"ts":"2026-12-31T23:00:{i % 60:02d}Z","level":"info","trace_id":"{i:032x}"}}')
        lines += ["Traceback (most recent call last):", '  File "a.py", line 3, in g', "ValueError: no"]
    return lines


def test_a_block_cut_anywhere_into_scans_gives_one_scans_result(realistic):
    """The pending record and the traceback state carry from one ``scan`` call to the next."""
    rnd = random.Random(5)
    blocks = [join(_tracebacks()), join(synth(80) + BREAKERS)] + [data[:300_000] for data in realistic.values()]
    for data in blocks:
        for _ in range(6):
            cuts = [rnd.randrange(len(data) + 1) for _ in range(rnd.randint(1, 12))]
            cuts += [c for c in cuts if rnd.random() < 0.3]  # empty pieces too
            assert_identical(data, SETTINGS, REF, cuts)
    # a cut after every single line
    data = join(_tracebacks()[:40])
    assert_identical(data, SETTINGS, REF, [i + 1 for i, b in enumerate(data) if b == 0x0A])


def test_summarize_uses_it_in_the_workers_and_says_so(tmp_path):
    from tests.logscan.test_summary import summary_of

    path = tmp_path / "mixed.log"
    pool = synth(300) + BREAKERS + _tracebacks()
    path.write_bytes(join([line for _ in range(3) for line in pool]))
    exact = summary_of([str(path)], jobs=1, fast=False)
    fast = summary_of([str(path)], jobs=2, chunk=8 << 10, parallel_min=1)
    in_process = summary_of([str(path)], jobs=1)
    assert exact.pop("engine") == "json"
    built = native_module() is not None
    assert fast.pop("engine") == in_process.pop("engine") == ("native" if built else "orjson")
    for r in (exact, fast, in_process):
        for src in r["sources"]:
            src.pop("fast_path_share")
    assert fast == exact
    assert in_process == exact



def test_one_scanner_reads_stream_after_stream_with_their_own_reference_times(realistic):
    """As ``summarize`` reads the small files: one scanner, ``begin(ref)`` per stream - yearless vLLM
    times take each stream's year, and nothing of one stream's state leaks into the next."""
    vllm = [f"INFO 12-31 23:59:{s:02d} [logger.py:43] Received request chatcmpl-{s:032x}: x" for s in range(30)]
    vllm += [f"ERROR 01-01 00:00:{s:02d} [engine.py:1] request cmpl-{s:032x} failed" for s in range(30)]
    vllm += ["Traceback (most recent call last):", '  File "e.py", line 1, in f']
    streams = [join(vllm), join(synth(30) + BREAKERS[:5]), join(vllm[::-1]), next(iter(realistic.values()))[:100_000],
               join(vllm)]
    refs = [REF, corpus.START - 86400 * 200 + 1234.5, REF + 86400 * 400, None, corpus.START + 86400 + 1800]
    for settings in (SETTINGS, PROFILES["shanghai"]):
        fast, exact = ChunkScanner(settings, fast=True), ChunkScanner(settings, fast=False)
        for data, ref in zip(streams, refs):
            results = []
            for scanner in (fast, exact):
                res = ChunkResult("f")
                scanner.begin(ref)
                scanner.scan(data, res, "default")
                scanner.finish(res)
                results.append(res)
            assert differences(results[0], results[1], settings) == [], ref
