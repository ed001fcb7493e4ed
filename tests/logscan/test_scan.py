"""The fast JSON-lines path gives exactly what the exact path gives, on clean blocks (where it must
be taken) and on every kind of block it must refuse (where it falls back)."""

from __future__ import annotations

import json
import random

import pytest

from autoglm_doctor.logscan.scan import ChunkResult
from autoglm_doctor.logscan.settings import ScanSettings
from tests.logscan.synth import START
from tests.logscan.test_fastpath_exact import both, synth

SETTINGS = ScanSettings()


def assert_same(fast: ChunkResult, exact: ChunkResult) -> None:
    def global_traces(res: ChunkResult) -> dict:
        return {t: frozenset(res.service_order[i] for i in range(len(res.service_order)) if m >> i & 1)
                for t, m in res.traces.items()}

    assert global_traces(fast) == global_traces(exact)
    assert fast.services == exact.services
    assert fast.first_errors == exact.first_errors
    assert fast.messages == exact.messages
    assert fast.untraced_errors == exact.untraced_errors
    assert (fast.lines, fast.outside, fast.error_lines) == (exact.lines, exact.outside, exact.error_lines)
    assert fast.problems == exact.problems


def join(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def reorder(line: str, keys: list[str], spaced: bool = False) -> str:
    obj = json.loads(line)
    ordered = {k: obj[k] for k in keys if k in obj}
    ordered.update({k: v for k, v in obj.items() if k not in ordered})
    return json.dumps(ordered) if spaced else json.dumps(ordered, separators=(",", ":"))


def test_clean_blocks_take_the_fast_path_and_agree():
    data = join(synth(300))
    fast, exact = both(data)
    assert fast.bytes_fast + fast.bytes_exact == len(data)
    assert fast.bytes_fast > 0.9 * len(data)  # only the error lines are parsed exactly
    assert len(fast.first_errors) > 0 and fast.services["vllm"][1] < fast.services["vllm"][0]
    assert_same(fast, exact)


@pytest.mark.parametrize("keys, spaced, fast_path", [
    (["message", "service", "level"], True, True),          # json.dumps default separators
    (["level", "timestamp", "logger", "service"], False, True),  # other fields between level and service
    (["service", "level"], False, True),                    # service first
    (["trace_id", "service", "level"], False, False),       # an id before the service: exact path
    (["service", "trace_id", "level"], False, False),       # an id between service and level: exact path
])
def test_other_layouts_agree(keys, spaced, fast_path):
    data = join([reorder(line, keys, spaced) for line in synth(300)])
    fast, exact = both(data)
    assert (fast.bytes_fast > 0.9 * len(data)) is fast_path
    assert_same(fast, exact)


def test_files_without_a_service_field_use_the_source_name():
    lines = [json.dumps({k: v for k, v in json.loads(line).items() if k != "service"}, separators=(",", ":"))
             for line in synth(300) if '"service":"vllm"' in line]
    data = join(lines)
    fast, exact = both(data)
    assert fast.bytes_fast > 0.9 * len(data)
    assert_same(fast, exact)
    assert list(fast.services) == ["default"]


def _with(lines: list[str], index: int, new: str) -> bytes:
    lines = list(lines)
    lines.insert(index, new)
    return join(lines)


TID = "4bf92f3577b34da6a3ce929d0e0e4736"
BREAKERS = {
    "id_before_service": f'{{"timestamp":"2026-01-01T10:00:09Z","request_id":"r-{TID[:8]}","level":"info","service":"vllm","message":"x"}}',
    "two_ids": f'{{"timestamp":"2026-01-01T10:00:09Z","level":"info","service":"auto-glm","trace_id":"{TID}","request_id":"req-77","message":"x"}}',
    "escaped_quote": f'{{"timestamp":"2026-01-01T10:00:09Z","level":"error","service":"we\\"ird","trace_id":"{TID}","message":"x"}}',
    "malformed": '{"timestamp":"2026-01-01T10:00:09Z","level":"info","service":"vllm","trace_id":"abc',
    "blank": "",
    "no_level": f'{{"timestamp":"2026-01-01T10:00:09Z","service":"vllm","trace_id":"{TID}","message":"x"}}',
    "severity_error": f'{{"timestamp":"2026-01-01T10:00:09Z","severity":"ERROR","service":"vllm","trace_id":"{TID}","message":"x"}}',
    "plain_text": f"2026-01-01 10:00:09 ERROR trace_id={TID} plain",
    "binary": "\x00\x01\x02\x03\x04\x05\x06\x07\x08",
    "nested_id": f'{{"timestamp":"2026-01-01T10:00:09Z","level":"info","service":"vllm","ctx":{{"trace_id":"{TID}"}},"message":"x"}}',
    "status_code_503": f'{{"timestamp":"2026-01-01T10:00:09Z","level":"info","service":"auto-glm","trace_id":"{TID}","message":"x","http_status":"503"}}',
    "fatal_upper": f'{{"timestamp":"2026-01-01T10:00:09Z","level":"FATAL","service":"vllm","trace_id":"{TID}","message":"x"}}',
    "traceparent": f'{{"timestamp":"2026-01-01T10:00:09Z","level":"error","service":"vllm","traceparent":"00-{TID}-00f067aa0ba902b7-01","message":"x"}}',
}


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_odd_lines_anywhere_give_the_exact_answer(name):
    lines = synth(120)
    for index in (0, len(lines) // 2, len(lines)):
        fast, exact = both(_with(lines, index, BREAKERS[name]))
        assert_same(fast, exact)


def test_a_line_without_final_newline_is_scanned():
    data = join(synth(50))[:-1]
    fast, exact = both(data)
    assert_same(fast, exact)
    assert fast.lines == data.count(b"\n") + 1


@pytest.mark.parametrize("since, until, fast_expected", [
    (START - 10, START + 10_000, True),      # the whole block is inside
    (START + 10_000, None, True),            # the whole block is before the window
    (START + 2, START + 3, False),           # the window cuts the block: line by line
])
def test_windows(since, until, fast_expected):
    settings = ScanSettings(since=since, until=until)
    data = join(synth(400))
    fast, exact = both(data, settings)
    assert_same(fast, exact)
    assert (fast.bytes_fast > 0.9 * len(data)) is fast_expected
    assert fast.lines + fast.outside == data.count(b"\n")


def test_random_garbage_blocks_never_raise():
    rnd = random.Random(5)
    lines = synth(60)
    for _ in range(30):
        junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 400)))
        data = join(lines[:20]) + junk + b"\n" + join(lines[20:])
        fast, exact = both(data)
        assert_same(fast, exact)


@pytest.mark.parametrize("cut", ["service", "trace_id", "level", "timestamp"])
def test_a_line_cut_inside_a_value_never_swallows_the_next_line(cut):
    lines = synth(80)
    victim = next(i for i, line in enumerate(lines) if '"trace_id"' in line and '"status"' not in line)
    head = lines[victim]
    lines[victim] = head[: head.index(f'"{cut}":"') + len(cut) + 6]  # ends inside the value
    fast, exact = both(join(lines))
    assert_same(fast, exact)
    assert fast.problems == {"malformed JSON": 1}


@pytest.mark.parametrize("value", ['""', '" vllm"'])
def test_odd_service_values_agree(value):
    lines = synth(60)
    odd = f'{{"timestamp":"2026-01-01T10:00:09Z","level":"info","service":{value},"trace_id":"{TID}","message":"x"}}'
    fast, exact = both(_with(lines, 10, odd))
    assert_same(fast, exact)
