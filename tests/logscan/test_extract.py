"""The exact line parser: every format, every field spelling, every kind of bad line."""

from __future__ import annotations

import json

import pytest

from autoglm_doctor.logscan.extract import (
    PROBLEM_BINARY,
    PROBLEM_JSON,
    PROBLEM_LONG,
    PROBLEM_UTF8,
    LineParser,
    normalise_level,
    normalise_message,
)
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.timeparse import iso

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
P = LineParser(ScanSettings())


def parse(line: str | bytes, service: str = "src", kind: str = "file", ts: float | None = None):
    raw = line.encode() if isinstance(line, str) else line
    return P.parse(raw, service, kind, ts)


@pytest.mark.parametrize("line, ids, service, level", [
    ('{"ts":"2026-01-01T10:00:00Z","level":"info","service":"vllm","trace_id":"%s","msg":"hi"}' % TID, (TID,), "vllm", "info"),
    ('{"traceId":"%s","severity":"ERROR","message":"boom"}' % TID, (TID,), "src", "error"),
    ('{"trace.id":"%s","log.level":"warn","service.name":"agent"}' % TID, (TID,), "agent", "warning"),
    ('{"otelTraceID":"%s","levelname":"CRITICAL"}' % TID, (TID,), "src", "error"),
    ('{"traceparent":"00-%s-00f067aa0ba902b7-01","level":"debug"}' % TID, (TID,), "src", "debug"),
    ('{"request_id":"req-1234","x_request_id":"abc-5678","level":"info"}', ("req-1234", "abc-5678"), "src", "info"),
    ('{"ctx":{"trace_id":"%s"},"app":"gw","lvl":"fatal"}' % TID, (TID,), "gw", "error"),
    ('{"level":"info","message":"no ids here"}', (), "src", "info"),
])
def test_json_fields(line, ids, service, level):
    rec, problem = parse(line)
    assert problem is None
    assert rec.ids == ids and rec.service == service and rec.level == level


def test_first_id_in_line_order_wins_and_the_rest_are_aliases():
    rec, _ = parse('{"request_id":"R-000001","trace_id":"%s","level":"info"}' % TID)
    assert rec.trace_id == "r-000001" and rec.ids == ("r-000001", TID)  # ids compare without case


def test_timestamp_message_and_status():
    rec, _ = parse('{"timestamp":"2026-01-01T10:00:00.123456789+02:00","message":"done","status":503}')
    assert iso(rec.ts) == "2026-01-01T08:00:00.123Z"
    assert rec.message == "done" and rec.status == 503 and rec.error and rec.level == ""
    rec, _ = parse('{"time":1767261600123,"status_code":"200"}')
    assert iso(rec.ts) == "2026-01-01T10:00:00.123Z" and not rec.error


def test_journald_entry_with_json_message():
    entry = {"__REALTIME_TIMESTAMP": "1767261600500000", "PRIORITY": "3", "_SYSTEMD_UNIT": "vllm.service",
             "SYSLOG_IDENTIFIER": "vllm", "MESSAGE": json.dumps({"trace_id": TID, "message": "oom"})}
    rec, problem = parse(json.dumps(entry))
    assert problem is None
    assert (rec.service, rec.trace_id, rec.level, rec.message) == ("vllm", TID, "error", "oom")
    assert iso(rec.ts) == "2026-01-01T10:00:00.500Z"


def test_journald_binary_message_and_plain_message():
    entry = {"__REALTIME_TIMESTAMP": "1767261600000000", "PRIORITY": "6", "_SYSTEMD_UNIT": "agent.service",
             "MESSAGE": list(f"trace_id={TID} started".encode())}
    rec, _ = parse(json.dumps(entry))
    assert rec.service == "agent" and rec.trace_id == TID and rec.level == "info"


def test_logfmt():
    rec, _ = parse(f'time=2026-01-01T10:00:00Z level=error msg="upstream timeout" trace_id={TID} service=gw')
    assert (rec.level, rec.message, rec.trace_id, rec.service) == ("error", "upstream timeout", TID, "gw")


@pytest.mark.parametrize("line, ids, level", [
    (f"2026-01-01 10:00:00,123 ERROR traceparent=00-{TID}-00f067aa0ba902b7-01 failed", (TID,), "error"),
    ("INFO 01-01 10:00:00 [logger.py:39] Received request chatcmpl-9f2c1a7e6b5d4c3b: prompt", ("9f2c1a7e6b5d4c3b",), "info"),
    ("WARNING request-id: 7d1f0a2b-aaaa-bbbb-cccc-1234567890ab slow", ("7d1f0a2b-aaaa-bbbb-cccc-1234567890ab",), "warning"),
    ("just text", (), ""),
])
def test_plain_text(line, ids, level):
    rec, problem = parse(line)
    assert problem is None and rec.ids == ids and rec.level == level


def test_libvirt_qemu_errors_have_no_level_field():
    rec, _ = parse("2026-01-01 10:00:00.123+0000: qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: "
                   "VFIO_MAP_DMA failed: Cannot allocate memory", kind="libvirt")
    assert rec.level == "error" and iso(rec.ts) == "2026-01-01T10:00:00.123Z"
    rec, _ = parse("2026-01-01 10:00:00.123+0000: starting up libvirt version: 9.0.0", kind="libvirt")
    assert rec.level == ""


@pytest.mark.parametrize("raw, problem", [
    (b'{"level":"info","trace_id":"abc', PROBLEM_JSON),
    (b'{"level":"info"} trailing', PROBLEM_JSON),
    (b"[1, 2, 3]", None),
    (bytes(range(256)) * 4, PROBLEM_BINARY),
    (b"\x00\x01\x02\x03garbage\x04\x05\x06\x07\x08\x0e\x0f\x10", PROBLEM_BINARY),
    (b"x" * ((1 << 20) + 10), PROBLEM_LONG),
])
def test_bad_lines_are_named_never_raised(raw, problem):
    rec, got = parse(raw)
    assert got == problem
    if problem:
        assert rec is None


def test_invalid_utf8_is_kept_and_flagged():
    rec, problem = parse(b'{"level":"error","trace_id":"%s","message":"caf\xe9"}' % TID.encode())
    assert problem == PROBLEM_UTF8 and rec.trace_id == TID and rec.message == "caf\ufffd"
    rec, problem = parse(b"ERROR trace_id=" + TID.encode() + b" caf\xe9 \xff\xfe")
    assert problem == PROBLEM_UTF8 and rec.trace_id == TID and rec.level == "error"


def test_blank_lines_are_not_problems():
    assert parse(b"   \r") == (None, None)


@pytest.mark.parametrize("value, field_name, level", [
    ("Err", "", "error"), ("WARN", "", "warning"), ("notice", "", "info"), ("TRACE", "", "debug"),
    ("3", "PRIORITY", "error"), (4, "PRIORITY", "warning"), (6, "priority", "info"), (50, "level", ""),
    (True, "level", ""), ("x", "PRIORITY", ""),
])
def test_levels(value, field_name, level):
    assert normalise_level(value, field_name) == level


def test_error_messages_are_grouped():
    assert normalise_message("CUDA out of memory. Tried to allocate 17.00 GiB") == "CUDA out of memory. Tried to allocate # GiB"
    assert normalise_message(f"trace {TID} failed after 3 tries") == "trace # failed after # tries"


def test_logfmt_pairs_are_found_as_the_plain_pattern_finds_them():
    """``LOGFMT_PAIR`` tries a key only at the start of a run of key characters; ``findall`` gives what
    the plain pattern gives, on seeded random text over the characters that matter."""
    import random
    import re

    from autoglm_doctor.logscan.extract import LOGFMT_PAIR

    plain = re.compile(r'([A-Za-z_@][\w.@-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
    rnd = random.Random(17)
    alphabet = 'aZ_@1.-=" \\\té٣ßİǅ\x00'
    for _ in range(20_000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30)))
        assert LOGFMT_PAIR.findall(text) == plain.findall(text), text


@pytest.mark.timeout(20)
@pytest.mark.parametrize("line", [b"a" * ((1 << 20) - 8), b"a=1 " + b"b." * 500_000, b"x " + b"cmpl-" * 200_000])
def test_a_long_word_is_read_in_linear_time(line):
    """A line of one long word (up to 1 MiB) is parsed, not searched for pairs at every position."""
    rec, problem = parse(line)
    assert rec is not None and problem is None


@pytest.mark.parametrize("line", ['{"PRIORITY":1e400,"message":"x"}', '{"PRIORITY":-1e400}', '{"PRIORITY":NaN}',
                                  '{"__CURSOR":"c","PRIORITY":1e400,"MESSAGE":"x"}'])
def test_a_syslog_priority_that_is_no_integer_is_no_level(line):
    rec, problem = parse(line)
    assert rec is not None and rec.level == "" and problem is None


@pytest.mark.parametrize("line, service", [
    ('{"__CURSOR":"c","_SYSTEMD_UNIT":5,"MESSAGE":"x"}', "src"),
    ('{"__CURSOR":"c","CONTAINER_NAME":5,"SYSLOG_IDENTIFIER":"ident","MESSAGE":"x"}', "ident"),
    ('{"__CURSOR":"c","SYSLOG_IDENTIFIER":["a"],"UNIT":"u.service","MESSAGE":"x"}', "u"),
    ('{"__CURSOR":"c","UNIT":{"a":1},"MESSAGE":"x"}', "src"),
    ('{"__CURSOR":"c","MESSAGE":[1e400],"SYSLOG_IDENTIFIER":"s"}', "s"),
])
def test_journald_fields_that_are_not_text_are_ignored(line, service):
    rec, problem = parse(line)
    assert rec is not None and rec.service == service and problem is None
