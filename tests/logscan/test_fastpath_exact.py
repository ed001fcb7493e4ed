"""The fast path never disagrees with the exact parser: each line it counts itself must be one the
exact parser reads the same way (valid JSON, same service, level, first id, time), and every other
line is handed to the exact parser. Each case feeds the same block through both and compares
everything a summary is made of."""

from __future__ import annotations

import json
import random

import pytest

from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.summary import Summary
from tests.logscan.synth import START, generate

SETTINGS = ScanSettings()
TID = "4bf92f3577b34da6a3ce929d0e0e4736"
HEAD = '"timestamp":"2026-01-01T10:00:09.000001Z"'


def synth(n: int = 120, seed: int = 3) -> list[str]:
    return list(generate(seed=seed, traces=n, fail_every=7, lose_every=11))


def join(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def summary_of(res: ChunkResult, settings: ScanSettings) -> dict:
    """The report a summary makes of one block, without the fast-path share (the only field that
    is allowed to differ)."""
    summary = Summary(settings)
    summary.merge(res, summary.source("f", "default", "file"))
    report = summary.report()
    for src in report["sources"]:
        src.pop("fast_path_share")
    return report


def both(data: bytes, settings: ScanSettings = SETTINGS) -> tuple[ChunkResult, ChunkResult]:
    scanner = ChunkScanner(settings)
    fast, exact = ChunkResult("f"), ChunkResult("f")
    scanner.scan(data, fast, "default")
    scanner.exact(data, exact, "default")
    return fast, exact


def assert_identical(data: bytes, settings: ScanSettings = SETTINGS) -> ChunkResult:
    fast, exact = both(data, settings)
    for name in ("lines", "outside", "undated", "error_lines", "first_ts", "last_ts", "services", "first_errors",
                 "messages", "untraced_errors", "problems", "aliases"):
        assert getattr(fast, name) == getattr(exact, name), name
    assert summary_of(fast, settings) == summary_of(exact, settings)
    return fast


def odd(line: str, at: int = 40) -> bytes:
    """``line`` among clean synthetic lines (so the block is one the fast path takes)."""
    lines = synth()
    lines.insert(at, line)
    return join(lines)


def test_clean_block_is_fast_and_identical():
    data = join(synth())
    fast = assert_identical(data)
    assert fast.bytes_fast > 0.9 * len(data)


@pytest.mark.parametrize("level", [" error", "error ", "\\u0065rror", " ERR", "\\terror"])
def test_gap_a_level_with_spaces_or_escapes_is_an_error(level):
    fast = assert_identical(odd(f'{{{HEAD},"level":"{level}","service":"vllm","trace_id":"{TID}","message":"x"}}'))
    assert fast.bytes_fast > 0.5 * fast.bytes_exact  # the block still took the fast path


@pytest.mark.parametrize("level", ["verbose", "", "0", "Fine", "i nfo"])
def test_gap_b_unknown_level_then_severity_error(level):
    line = f'{{{HEAD},"level":"{level}","service":"vllm","trace_id":"{TID}","severity":"error","message":"x"}}'
    fast = assert_identical(odd(line))
    assert fast.error_lines == 1 + sum(1 for x in synth() if '"level":"error"' in x)


MALFORMED = {
    "cut_short": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","message":"x"',
    "cut_in_value": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","message":"x',
    "trailing_garbage": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","message":"x"}} tail}}',
    "double_brace": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","message":"x"}}}}',
    "raw_tab_in_string": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","message":"a\tb"}}',
    "raw_control_in_id": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}\x01","message":"x"}}',
    "raw_nul": f'{{{HEAD},"level":"info","service":"vllm","message":"a\x00b"}}',
    "bad_escape": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","message":"a\\qb"}}',
    "missing_comma": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}" "message":"x"}}',
    "bare_word": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","message":oops}}',
    "leading_zero": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","n":012}}',
    "trailing_comma": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}",}}',
    "unclosed_nested": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","ctx":{{"a":1}}',
    "two_objects": f'{{{HEAD},"level":"info","service":"vllm"}}{{"trace_id":"{TID}"}}',
    "invalid_utf8": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","message":"\udcff\udcfe"}}',
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_gap_c_malformed_lines_are_reported_not_counted(name):
    assert_identical(odd(MALFORMED[name]))


SEMANTIC = {
    "duplicate_level": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","level":"error"}}',
    "duplicate_service": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","service":"other"}}',
    "duplicate_time": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","timestamp":"2020-01-01T00:00:00Z"}}',
    "bad_date": '{"timestamp":"2026-02-30T10:00:09.000001Z","level":"info","service":"vllm","message":"x"}',
    "late_date": '{"timestamp":"2026-01-02T23:59:59.000001Z","level":"info","service":"vllm","message":"x"}',
    "early_date": '{"timestamp":"2025-12-31T00:00:00.000001Z","level":"info","service":"vllm","message":"x"}',
    "no_fraction": '{"timestamp":"2026-01-01T11:00:09Z","level":"info","service":"vllm","message":"x"}',
    "offset_zone": '{"timestamp":"2026-01-01T23:00:09.000001+05:00","level":"info","service":"vllm","message":"x"}',
    "epoch_time": '{"timestamp":1767261999,"level":"info","service":"vllm","message":"x"}',
    "escaped_id": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"a\\u0062c","message":"x"}}',
    "escaped_key": f'{{{HEAD},"level":"info","service":"vllm","trace\\u005fid":"{TID}","message":"x"}}',
    "escaped_service": f'{{{HEAD},"level":"info","service":"v\\u006cl","trace_id":"{TID}","message":"x"}}',
    "null_id_then_id": f'{{{HEAD},"level":"info","service":"vllm","trace_id":null,"request_id":"req-1"}}',
    "empty_id_then_id": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"","request_id":"req-2"}}',
    "unseen_alias": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","x_request_id":"req-3"}}',
    "nested_id": f'{{{HEAD},"level":"info","service":"vllm","ctx":{{"trace_id":"{TID}"}},"message":"x"}}',
    "nested_after_id": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","ctx":{{"request_id":"r-9"}}}}',
    "traceparent": f'{{{HEAD},"level":"info","service":"vllm","traceparent":"00-{TID}-00f067aa0ba902b7-01"}}',
    "status_503": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","status":503}}',
    "status_503_str": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","status_code":"503"}}',
    "status_nested": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","http":{{"status":599}}}}',
    "status_503_float": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","status":503.0}}',
    "status_then_status": f'{{{HEAD},"level":"info","service":"vllm","status":"abc","status_code":502}}',
    "journal_cursor": f'{{{HEAD},"level":"info","service":"vllm","__CURSOR":"s=1","MESSAGE":"m"}}',
    "lone_surrogate_id": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"\\ud800","message":"x"}}',
    "unicode_text": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","message":"请求已接收"}}',
    "array_value": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","tags":["a",1,null]}}',
    "nan_value": f'{{{HEAD},"level":"info","service":"vllm","trace_id":"{TID}","score":NaN}}',
}


@pytest.mark.parametrize("name", sorted(SEMANTIC))
def test_lines_the_fast_path_could_misread(name):
    for at in (0, 40, 10_000):
        assert_identical(odd(SEMANTIC[name], at))


def test_a_window_cut_by_an_odd_timestamp_is_identical():
    settings = ScanSettings(since=START - 10, until=START + 3600)
    assert_identical(odd(SEMANTIC["late_date"]), settings)
    assert_identical(join(synth()), ScanSettings(since=START + 1, until=START + 2))


def test_unordered_timestamps_give_exact_first_and_last():
    lines = synth()
    lines[5], lines[-5] = lines[-5], lines[5]
    assert_identical(join(lines))


def test_layout_without_service_or_time_field():
    lines = [json.dumps({k: v for k, v in json.loads(x).items() if k not in ("service", "timestamp")},
                        separators=(",", ":")) for x in synth()]
    fast = assert_identical(join(lines))
    assert fast.bytes_fast > 0.9 * len(join(lines))
    lines.insert(30, f'{{"level":"info","logger":"x","message":"m","ctx":{{"service":"late"}},"trace_id":"{TID}"}}')
    lines.insert(31, '{"level":"info","logger":"x","message":"m","time":"2026-01-01T10:00:00Z"}')
    assert_identical(join(lines))


# -- property: random mixes of valid, odd and malformed lines --------------------------------
FIELDS = ["timestamp", "level", "service", "trace_id", "request_id", "traceparent", "span_id", "logger",
          "message", "status", "status_code", "severity", "ctx", "time", "app", "__CURSOR"]
LEVELS = ["info", "INFO", "debug", "warning", "error", " error", "verbose", "", "Fatal", "notice", None, 3]
SERVICES = ["auto-glm", "vllm", "", " vllm", "v\\u006c", None]


def _value(rnd: random.Random, key: str) -> object:
    if key in ("level", "severity"):
        return rnd.choice(LEVELS)
    if key in ("service", "app"):
        return rnd.choice(SERVICES)
    if key in ("trace_id", "request_id"):
        return rnd.choice([f"{rnd.getrandbits(32):08x}", "", None, f"{rnd.getrandbits(16):04x}"])
    if key == "traceparent":
        return f"00-{rnd.getrandbits(128):032x}-00f067aa0ba902b7-01"
    if key in ("timestamp", "time"):
        return rnd.choice([f"2026-01-01T10:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999999):06d}Z",
                           "2026-01-01T10:00:00Z", "2026-02-30T10:00:00.000000Z", "garbage", 1767261600.5,
                           "2026-01-01T12:00:00.000000+02:00"])
    if key in ("status", "status_code"):
        return rnd.choice([200, 503, "502", "200", 500.0, None])
    if key == "ctx":
        return rnd.choice([{"trace_id": "nested1"}, {"a": 1}, {"status": 504}, [1, "x"], {"service": "in"}])
    return rnd.choice(["plain message", "quote \" inside", "tab\there", "中文", "back\\slash"])


def _mangle(rnd: random.Random, line: str, bad_utf8: bool) -> str:
    choice = rnd.randrange(8)
    if choice == 0:
        return line[: rnd.randrange(1, len(line))]
    if choice == 1:
        return line + rnd.choice(["}", " x", ",", "\x01"])
    if choice == 2:
        i = rnd.randrange(len(line))
        return line[:i] + rnd.choice(["\x00", "\t", '"', "\\", "\n{"] + ["\udcff"] * bad_utf8) + line[i:]
    if choice == 3:
        return line.replace('":"', '": "', 1)
    return line


def random_block(seed: int, n: int = 3000, bad_utf8: bool = False) -> bytes:
    """Clean synthetic lines, random objects of odd keys and values, and mangled lines. Invalid
    UTF-8 sends the whole block to the exact path, so only some blocks get it."""
    rnd = random.Random(seed)
    base = synth(400, seed)
    out = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.75:
            out.append(rnd.choice(base))
        elif r < 0.93:
            keys = ["timestamp", "level", "service"] + rnd.sample(FIELDS, rnd.randint(1, 6))
            obj = {k: _value(rnd, k) for k in keys if rnd.random() < 0.95}
            out.append(json.dumps(obj, ensure_ascii=rnd.random() < 0.5, separators=(",", ":")))
        else:
            out.append(_mangle(rnd, rnd.choice(base), bad_utf8))
        if rnd.random() < 0.05:
            out[-1] = _mangle(rnd, out[-1], bad_utf8)
    return join(out)


@pytest.mark.parametrize("seed", range(8))
def test_property_fast_equals_exact_on_random_mixes(seed):
    bad_utf8 = seed % 4 == 3
    data = random_block(seed, bad_utf8=bad_utf8)
    assert_identical(data)
    assert_identical(data, ScanSettings(since=START + 1, until=START + 7200))
    assert_identical(data, ScanSettings(since=START + 7200))
    fast, _exact = both(data)
    if not bad_utf8:
        assert fast.bytes_fast > 0.5 * len(data)  # the fast path was really exercised


# -- determinism: parallel runs, serial runs and exact-only runs give the same report ---------
def _report(path: str, jobs: int) -> str:
    from autoglm_doctor.logscan.engine import summarize
    from autoglm_doctor.logscan.sources import parse_source_spec, resolve
    from autoglm_doctor.targets.local import LocalTarget

    target = LocalTarget()
    notes: list[str] = []
    streams = resolve(target, [parse_source_spec(path)], notes)
    report = summarize(target, streams, SETTINGS, jobs=jobs, notes=notes).report()
    for src in report["sources"]:
        src.pop("fast_path_share")
    return json.dumps(report, sort_keys=False)


def test_parallel_reports_are_deterministic_and_equal_to_exact(tmp_path, monkeypatch):
    from autoglm_doctor.logscan import bigfile
    from autoglm_doctor.logscan.scan import ChunkScanner as Scanner

    path = tmp_path / "mixed.jsonl"
    blocks = [random_block(seed, n=1500) for seed in (11, 12, 13)]
    path.write_bytes(b"".join(blocks) + join(synth(2000, seed=5)))
    monkeypatch.setattr(bigfile, "CHUNK", 24 << 10)  # ~60 windows over 2 workers
    monkeypatch.setattr(bigfile, "PARALLEL_MIN", 1)
    first = _report(str(path), jobs=2)
    assert json.loads(first)["lost_hops"][0]["lost"] > 10  # the examples are a real choice
    assert len({p["service"] for p in json.loads(first)["propagation"]}) > 2
    for _ in range(2):
        assert _report(str(path), jobs=2) == first
    assert _report(str(path), jobs=1) == first
    monkeypatch.setattr(Scanner, "scan", lambda self, data, res, service, kind="file", hint=None: self.exact(data, res, service, kind))
    assert _report(str(path), jobs=1) == first
