"""Every fast path gives exactly the exact summary: the orjson parser against the json reference, and
parallel windows (any split) against one in-process pass, on the realistic corpus, on odd lines put
anywhere, and on seeded random mixes of every format with cut, flipped and garbage lines."""

from __future__ import annotations

import json
import random

import pytest

from autoglm_doctor.logscan import bigfile
from autoglm_doctor.logscan.extract import orjson_loads
from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner
from autoglm_doctor.logscan.settings import ScanSettings
from bench import corpus
from tests.logscan import differential
from tests.logscan.synth import START, generate

SETTINGS = ScanSettings(services=corpus.SERVICES, hops=tuple(tuple(h.split(">")) for h in corpus.HOPS))
TID = "4bf92f3577b34da6a3ce929d0e0e4736"
REF = corpus.START + 7200


def synth(n: int = 120, seed: int = 3) -> list[str]:
    return list(generate(seed=seed, traces=n, fail_every=7, lose_every=11))


def join(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def scan(data: bytes, fast: bool, settings: ScanSettings = SETTINGS, pieces: int = 1) -> ChunkResult:
    """``data`` scanned as ``pieces`` consecutive blocks of one stream."""
    scanner = ChunkScanner(settings, fast=fast)
    res = ChunkResult("f")
    scanner.begin(REF)
    step = max(1, len(data) // pieces)
    start = 0
    while start < len(data):
        end = data.find(b"\n", start + step) + 1 or len(data)
        scanner.scan(data[start:end], res, "default")
        start = end
    scanner.finish(res)
    return res


def docker_failure(i: int) -> list[str]:
    """vLLM's error line for request i and its traceback, each a Docker json-file record."""
    log = [f"ERROR 12-31 23:00:{i % 60:02d} [e.py:1] request cmpl-{i:032x} failed",
           "Traceback (most recent call last):", '  File "e.py", line 1, in f', "RuntimeError: boom"]
    return [json.dumps({"log": line + "\n", "stream": "stderr", "time": "2026-12-31T23:00:00.5Z"}, separators=(",", ":"))
            for line in log]


def report(res: ChunkResult, settings: ScanSettings = SETTINGS) -> dict:
    return differential.report(res, settings)


def assert_identical(data: bytes, settings: ScanSettings = SETTINGS) -> ChunkResult:
    exact = scan(data, fast=False, settings=settings)
    for fast, pieces in ((True, 1), (True, 7), (False, 5)):
        res = scan(data, fast, settings, pieces)
        for name in ("lines", "outside", "undated", "error_lines", "first_ts", "last_ts", "services", "first_errors",
                     "messages", "untraced_errors", "problems", "aliases", "traces", "spans"):
            assert getattr(res, name) == getattr(exact, name), (name, fast, pieces)
        assert report(res, settings) == report(exact, settings)
    return exact


def test_orjson_is_there_in_the_test_environment():
    assert orjson_loads is not None  # else the fast path under test would be json itself


def test_the_realistic_corpus_agrees(realistic):
    for name, data in realistic.items():
        exact = assert_identical(data)
        assert exact.lines > 0, name


BREAKERS = [
    f'{{"timestamp":"2026-01-01T10:00:09Z","request_id":"r-{TID[:8]}","level":"info","service":"vllm","message":"x"}}',
    f'{{"timestamp":"2026-01-01T10:00:09Z","level":"info","trace_id":"{TID}","request_id":"chatcmpl-req-77","message":"x"}}',
    f'{{"timestamp":"2026-01-01T10:00:09Z","level":"error","service":"we\\"ird","trace_id":"{TID}","message":"x"}}',
    '{"timestamp":"2026-01-01T10:00:09Z","level":"info","service":"vllm","trace_id":"abc',
    f'{{"timestamp":NaN,"level":"info","trace_id":"{TID}"}}',
    f'{{"time":123456789012345678901234567890,"level":"info","trace_id":"{TID}"}}',
    '{"level":"info","trace_id":"\\ud800\\udc00x","message":"surrogates"}',
    '{"level":"info","trace_id":"\\ud800","message":"a lone surrogate"}',
    '{"level":"info","level":"error","trace_id":"dup-keys-1234"}',
    "",
    f"2026-01-01 10:00:09 ERROR trace_id={TID} plain",
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08",
    f'{{"timestamp":"2026-01-01T10:00:09Z","level":"info","ctx":{{"trace_id":"{TID}"}},"message":"x"}}',
    f'{{"log":"ERROR 12-31 23:59:59 [engine.py:1] request cmpl-{TID} failed\\n","stream":"stderr","time":"2026-12-31T23:59:59.5Z"}}',
    '{"log":"Traceback (most recent call last):\\n","stream":"stderr","time":"2026-12-31T23:59:59.6Z"}',
    "Traceback (most recent call last):",
    '  File "x.py", line 1, in <module>',
    "torch.OutOfMemoryError: CUDA out of memory",
    f"ERROR 01-01 00:00:01 [engine.py:12] request chatcmpl-{TID}: failed",
    f"(APIServer pid=7) INFO 12-31 23:59:59 [logger.py:43] Received request chatcmpl-{TID}: prompt",
    f"[2026-12-31 23:59:59 TP0] Receive: obj=GenerateReqInput(rid='{TID}')",
    'INFO:     10.0.0.1:5000 - "POST /v1/chat/completions HTTP/1.1" 503 Service Unavailable',
    f'time=2026-12-31T23:59:59.1Z level=warn msg="slow" traceparent="00-{TID}-00f067aa0ba902b7-01"',
    "02-30 10:00:00 not a header",
    "INFO 13-45 25:61:61 [x.py:1] impossible time",
]


@pytest.mark.parametrize("index", range(len(BREAKERS)))
def test_odd_lines_anywhere_give_the_exact_answer(index):
    lines = synth(40)
    for at in (0, len(lines) // 2, len(lines)):
        assert_identical(join(lines[:at] + [BREAKERS[index]] + lines[at:]))


def _mutate(line: str, rnd: random.Random) -> str:
    roll = rnd.random()
    if roll < 0.1:
        return line[: rnd.randint(0, len(line))]
    if roll < 0.15:
        chars = list(line)
        if chars:
            chars[rnd.randrange(len(chars))] = rnd.choice('"{}\\:,= \t\x00\udce9')
        return "".join(chars)
    if roll < 0.18:
        return "".join(chr(rnd.randint(0, 0x2FF)) for _ in range(rnd.randint(1, 60)))
    return line


def test_seeded_random_mixes_agree(realistic):
    """The property: for any interleaving of any formats, with cut, flipped and garbage lines, and any
    split into blocks, the fast paths give the exact summary."""
    pool = [line for data in realistic.values() for line in data.decode("utf-8", "surrogateescape").split("\n")]
    pool += synth(60) + BREAKERS
    for seed in range(12):
        rnd = random.Random(seed)
        lines = [_mutate(rnd.choice(pool), rnd) for _ in range(rnd.randint(50, 400))]
        window = ScanSettings(services=SETTINGS.services, hops=SETTINGS.hops,
                              since=corpus.START + rnd.randint(0, 40) if seed % 3 == 0 else None)
        assert_identical(join(lines), window)


@pytest.mark.parametrize("since, until", [(START - 10, START + 10_000), (START + 10_000, None), (START + 2, START + 3)])
def test_windows(since, until):
    settings = ScanSettings(since=since, until=until)
    data = join(synth(400))
    exact = assert_identical(data, settings)
    assert exact.lines + exact.outside == data.count(b"\n")


def test_parallel_windows_never_split_a_traceback(tmp_path):
    """A window boundary never falls before a traceback's line: the traceback stays with its record."""
    lines = [line for i in range(400) for line in docker_failure(i)]
    path = tmp_path / "x-json.log"
    path.write_text("\n".join(lines) + "\n")
    for chunk in (700, 1500, 4096):
        for start, _end in bigfile.split_points(str(path), path.stat().st_size, chunk):
            head = path.read_bytes()[start:start + 256]
            assert not bigfile.CONTINUED.match(head), (chunk, start, head)
    from tests.logscan.test_summary import summary_of

    for jobs in (1, 2):
        r = summary_of([str(path)], jobs=jobs, chunk=2048, parallel_min=1)
        assert r["lines"] == 400 and r["errors"]["lines"] == 400 and r["traces"]["failing"] == 400


def test_without_orjson_the_same_parser_uses_json(tmp_path):
    """orjson is an optional extra: without it the summary is the same (and the report says no line
    took the fast path)."""
    import subprocess
    import sys

    path = tmp_path / "x.jsonl"
    path.write_bytes(join(synth(100)))
    code = ("import sys, json; sys.modules['orjson'] = None\n"
            "from autoglm_doctor.logscan import extract\n"
            "assert extract.orjson_loads is None\n"
            "from tests.logscan.test_summary import summary_of\n"
            f"print(json.dumps(summary_of([{str(path)!r}], engine='line')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    without = json.loads(out.stdout)
    from tests.logscan.test_summary import summary_of

    with_orjson = summary_of([str(path)], engine="line")
    assert without["sources"][0].pop("fast_path_share") == 0.0
    assert with_orjson["sources"][0].pop("fast_path_share") == 1.0
    assert (without.pop("engine"), with_orjson.pop("engine")) == ("json", "orjson")
    assert without == with_orjson
