"""Differential fuzzing of the native scanner: seeded byte-level mutations of realistic log lines - escapes
inside JSON strings (``\\u0041``, ``\\"``), duplicate keys, nested objects, odd numbers in the status and
time fields (``1e400``, ``-0``, 30 digits), tabs, CRLF, non-ASCII and invalid UTF-8, leading blanks,
long ids, many ids on a line, Docker json-file records wrapping JSON, text and tracebacks - and lines
composed at random from the pieces the parser tells apart (JSON objects over the wanted fields with
values of every type, logfmt pairs, text tokens), scanned by the native scanner and by the exact
parser, which must agree on every field of the result, as files and as ``docker:`` and ``journald:``
streams. A failure
names the one line that shows it; ``python -m tests.fuzz.test_native_fuzz SEED`` replays a seed."""

from __future__ import annotations

import json
import random
import sys

import pytest

from autoglm_doctor.logscan.settings import ScanSettings
from tests.fuzz.generate import SEED
from tests.logscan.differential import assert_identical, native_module

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
START = 1798758000.0  # 2026-12-31T23:00:00Z
REF = START + 7200
SETTINGS = ScanSettings(services=("gateway", "auto-glm", "sglang", "vllm"),
                        hops=(("gateway", "auto-glm"), ("auto-glm", "vllm")))
ROUNDS = 500

TEMPLATES = [
    '{"timestamp":"2026-12-31T23:00:01.123456Z","level":"info","service":"auto-glm","trace_id":"%(tid)s",'
    '"span_id":"00f067aa0ba902b7","logger":"autoglm.server","message":"task %(n)s accepted"}',
    '{"ts":"2026-12-31T23:00:02+00:00","level":"ERROR","trace_id":"%(tid)s","traceparent":"00-%(tid)s-00f067aa0ba902b7-01",'
    '"request_id":"chatcmpl-%(tid)s","event":"tool failed","status":500}',
    '{"time":1798758003.25,"lvl":"warn","app":"gw","x_request_id":"req-%(n)s","msg":"slow","http_status":"503"}',
    '{"@timestamp":"2026-12-31 23:00:04,5","severity":"CRITICAL","service.name":"vllm","trace.id":"%(tid)s"}',
    '{"timestamp":1798758005123,"level":"info","otelTraceID":"%(tid)s","status_code":200,"message":"ok"}',
    '{"__REALTIME_TIMESTAMP":"1798758006000000","PRIORITY":"3","_SYSTEMD_UNIT":"gw.service","MESSAGE":"trace_id=%(tid)s boom"}',
    '{"log":"INFO 12-31 23:00:07 [logger.py:43] Received request chatcmpl-%(tid)s: prompt: \'hi\'\\n",'
    '"stream":"stdout","time":"2026-12-31T23:00:07.000000001Z"}',
    '{"log":"ERROR 12-31 23:00:08 [engine.py:160] request cmpl-%(tid)s failed\\n","stream":"stderr",'
    '"time":"2026-12-31T23:00:08.5Z"}',
    '{"log":"Traceback (most recent call last):\\n","stream":"stderr","time":"2026-12-31T23:00:08.6Z"}',
    '{"log":"  File \\"/usr/lib/vllm/engine.py\\", line 830, in generate\\n","stream":"stderr","time":"2026-12-31T23:00:08.6Z"}',
    '{"log":"torch.OutOfMemoryError: CUDA out of memory\\n","stream":"stderr","time":"2026-12-31T23:00:08.6Z"}',
    '{"log":"{\\"level\\":\\"error\\",\\"trace_id\\":\\"%(tid)s\\",\\"message\\":\\"inner\\"}\\n","stream":"stdout",'
    '"time":"2026-12-31T23:00:09Z"}',
    '{"log":"INFO:     10.0.0.3:5000 - \\"POST /v1/chat/completions HTTP/1.1\\" 500 Internal Server Error\\n",'
    '"stream":"stdout","time":"2026-12-31T23:00:10Z"}',
    "(APIServer pid=7) INFO 12-31 23:00:11 [logger.py:43] Received request chatcmpl-%(tid)s: prompt",
    "ERROR 01-01 00:00:12.5 [engine.py:12] request cmpl-%(tid)s: CUDA error",
    "[2026-12-31 23:00:13 TP0] Receive: obj=GenerateReqInput(rid='%(tid)s', text='x')",
    "[2026-12-31 23:00:14.25] INFO: Finish: rid=%(tid)s",
    'INFO:     10.0.0.3:5000 - "GET /health HTTP/1.1" 200 OK',
    'time=2026-12-31T23:00:15.1Z level=error msg="upstream \\"vllm\\" timed out" trace_id=%(tid)s status=504',
    'time="2026-12-31 23:00:16" level=info traceparent="00-%(tid)s-00f067aa0ba902b7-01" service=gateway',
    "2026-12-31T23:00:17Z ERROR request_id=%(tid)s upstream failed",
    "2026-12-31 23:00:18,123 WARNING x-request-id: %(tid)s retry",
    "Traceback (most recent call last):",
    '  File "/app/autoglm/agent/tools.py", line 212, in run_tool',
    "autoglm.agent.phone.DeviceError: adb device emulator-5554 offline",
    "During handling of the above exception, another exception occurred:",
    "KeyboardInterrupt",
    "plain text without anything",
    "",
]

ESCAPES = ["\\u0041", '\\"', "\\\\", "\\/", "\\n", "\\t", "\\u00e9", "\\ud83d\\ude00", "\\ud800", "\\u0000", "\\r"]
NUMBERS = ["1e400", "-0", "123456789012345678901234567890", "5e2", "500.0", '"500"', "-500", "0", "1E+2", "NaN",
           "Infinity", "-1e400", "1798758000", "1798758000000", "1798758000000000", "1798758000000000000",
           "1.7987580e9", '"1798758000"', "true", "null", "[500]", '{"a":500}', "0.5e-400", "00500", "1_000"]
INSERTS = ["é", "中文", "😀", "\t", " ", "\r", "\x00", "\x7f", "\u2028", "\ufeff", "=", '"', "{", "}", ",", ":",
           "\\", "[", "level=error", "ERROR", " HTTP/1.1\" 502 ", "trace_id=abcdef0123456789"]
KEYS = ["level", "trace_id", "request_id", "time", "timestamp", "ts", "status", "service", "message", "log",
        "stream", "traceparent", "PRIORITY", "MESSAGE", "span_id"]


def _json_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _docker(inner: str, rnd: random.Random) -> str:
    stamp = rnd.choice(("2026-12-31T23:00:20.123456789Z", "2026-12-31T23:00:20Z", "2026-12-31T23:00:20+08:00",
                        "not a time", "2026-02-30T25:00:00Z", "1798758020"))
    order = rnd.random()
    body = _json_quote(inner + ("\n" if rnd.random() < 0.9 else ""))
    if order < 0.8:
        return f'{{"log":"{body}","stream":"{rnd.choice(("stdout", "stderr"))}","time":"{stamp}"}}'
    if order < 0.9:
        return f'{{"stream":"stdout","time":"{stamp}","log":"{body}"}}'
    return f'{{"log":"{body}","stream":"stdout","time":"{stamp}","attrs":{{"tag":"x"}}}}'


def _mutate(line: str, rnd: random.Random) -> str:
    """One to three mutations of a kind real logs (and broken writers) produce."""
    for _ in range(rnd.randint(1, 3)):
        op = rnd.randrange(16)
        quotes = [i for i, c in enumerate(line) if c == '"']
        if op == 0 and len(quotes) >= 2:  # an escape inside a JSON string
            at = rnd.choice(quotes[1:]) if rnd.random() < 0.7 else rnd.randrange(len(line) + 1)
            line = line[:at] + rnd.choice(ESCAPES) + line[at:]
        elif op == 1 and line.startswith("{") and line.endswith("}"):  # a duplicate key
            key = rnd.choice(KEYS)
            value = rnd.choice(('"error"', '"info"', f'"{TID[::-1]}"', "500", '"2026-12-31T23:59:59Z"', "null"))
            pair = f'"{key}":{value}'
            line = ("{" + pair + "," + line[1:]) if rnd.random() < 0.5 else (line[:-1] + "," + pair + "}")
        elif op == 2 and line.startswith("{") and line.endswith("}"):  # a nested object
            inner = rnd.choice((f'{{"trace_id":"{TID}"}}', '{"level":"error","status":503}', '{}',
                                '{"a":{"b":{"message":"deep"}}}', '{"time":"2026-12-31T23:59:00Z"}'))
            line = line[:-1] + f',"{rnd.choice(KEYS + ["ctx", "http"])}":{inner}}}'
        elif op == 3 and line.startswith("{"):  # an odd number in a status or time field
            key = rnd.choice(("status", "status_code", "time", "timestamp", "ts", "level", "http_status"))
            line = line[:-1] + f',"{key}":{rnd.choice(NUMBERS)}}}' if line.endswith("}") else line
        elif op == 4:  # tabs for spaces, or around the separators
            line = line.replace(" ", "\t", rnd.randint(1, 3)) if rnd.random() < 0.5 else line.replace(":", ":\t", 1)
        elif op == 5:
            line += "\r"
        elif op == 6:  # non-ASCII (or invalid UTF-8, written as a lone surrogate escape)
            at = rnd.randrange(len(line) + 1)
            line = line[:at] + rnd.choice(INSERTS[:4] + ["\udcff", "\udcc3", "\u00a0"]) + line[at:]
        elif op == 7:
            line = rnd.choice((" ", "  ", "\t", " \t")) + line
        elif op == 8:  # a long id
            line = line.replace(TID, TID * rnd.choice((2, 3, 8)), 1) if TID in line else line + " trace_id=" + "a" * rnd.choice((63, 64, 65, 300))
        elif op == 9:  # many ids on one line
            ids = " ".join(f"{rnd.choice(('chatcmpl-', 'cmpl-', 'trace_id=', 'rid=', 'request_id='))}{rnd.getrandbits(64):016x}"
                           for _ in range(rnd.randint(5, 60)))
            line = (line[:-1] + f',"message":"{ids}"}}') if line.endswith("}") else line + " " + ids
        elif op == 10:  # wrapped in a Docker json-file record
            line = _docker(line, rnd)
        elif op == 11 and line:  # cut
            line = line[: rnd.randrange(len(line))]
        elif op == 12 and line:  # a flipped character
            at = rnd.randrange(len(line))
            line = line[:at] + rnd.choice(INSERTS) + line[at + 1:]
        elif op == 13 and line:  # a deleted character
            at = rnd.randrange(len(line))
            line = line[:at] + line[at + 1:]
        elif op == 14:  # spaces after the JSON separators, as Python's json.dumps writes them
            line = line.replace('":', '": ').replace(',"', ', "')
        elif op == 15:  # case
            line = rnd.choice((str.upper, str.lower, str.title))(line) if rnd.random() < 0.3 else \
                line.replace("info", "INFO").replace("error", "Error")
    return line


FIELD_NAMES = KEYS + ["traceId", "trace.id", "otelTraceID", "x_request_id", "X-Request-ID", "service.name", "app",
                      "levelname", "severity", "lvl", "log.level", "msg", "event", "@timestamp", "asctime",
                      "status_code", "http.status_code", "http_status", "__REALTIME_TIMESTAMP", "__CURSOR", "other", "n"]
TOKENS = ["ERROR", "error", "INFO", "WARNING", "warn", "DEBUG", "CRITICAL", "fatal", "panic", "Err", "2026-12-31T23:00:01Z",
          "2026-12-31 23:00:01,5", "[2026-12-31 23:00:01]", "12-31 23:00:01", "[x.py:1]", "(APIServer pid=1)",
          'HTTP/1.1" 503', '"POST /v1 HTTP/1.1" 500', "10.0.0.1:5 -", "trace_id=", "trace_id:", "traceId", "request_id=",
          "X-Request-ID:", "rid=", "rid='", "chatcmpl-", "cmpl-", "00-", "-00f067aa0ba902b7-01", TID, TID[:8], "=", '"',
          "'", ":", " ", "  ", "\t", "\\", "é", "İ", "x", "42", "-", ".", "@", "_", "Traceback", "Error:", "ValueError:"]


def _value(rnd: random.Random, depth: int) -> str:
    roll = rnd.random()
    if roll < 0.45:
        text = "".join(rnd.choice(TOKENS + ESCAPES + ["a", "b", "1"]) for _ in range(rnd.randint(0, 6)))
        return '"' + text.replace('"', '\\"') + '"'
    if roll < 0.7:
        return rnd.choice(NUMBERS[:-6] + [str(rnd.randint(-10**20, 10**20)), str(rnd.random() * 1e10), "500", "1798758001"])
    if roll < 0.8:
        return rnd.choice(("true", "false", "null"))
    if roll < 0.9 and depth < 4:
        return _object(rnd, depth + 1)
    return "[" + ",".join(_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3) if depth < 4 else 0)) + "]"


def _object(rnd: random.Random, depth: int = 0) -> str:
    sep = rnd.choice((",", ",", ", ", " , ", ",\t"))
    colon = rnd.choice((":", ":", ": ", " : "))
    pairs = [f'"{rnd.choice(FIELD_NAMES)}"{colon}{_value(rnd, depth)}' for _ in range(rnd.randint(0, 7))]
    return "{" + sep.join(pairs) + "}"


def composed(rnd: random.Random) -> str:
    """A line built from the pieces the parser tells apart: random JSON objects over the wanted fields,
    random logfmt pairs, random text tokens."""
    roll = rnd.random()
    if roll < 0.45:
        line = _object(rnd)
        return _docker(line, rnd) if rnd.random() < 0.2 else line
    if roll < 0.75:
        pairs = []
        for _ in range(rnd.randint(1, 7)):
            value = rnd.choice(TOKENS + ["", '"a b"', '"x\\"y"', '"unterminated', "x=y", "500", TID])
            pairs.append(f"{rnd.choice(FIELD_NAMES)}={value}")
        line = rnd.choice((" ", " ", "\t", "  ")).join(pairs)
        return rnd.choice(("", "", "2026-12-31T23:00:01Z ", "junk ", "[2026-12-31 23:00:01] ")) + line
    line = "".join(rnd.choice(TOKENS) + rnd.choice(("", " ", " ")) for _ in range(rnd.randint(1, 12)))
    return _docker(line, rnd) if rnd.random() < 0.2 else line


DOCKERD = ("2026-12-31T23:00:0{d}.{n:09d}Z ", "2026-12-31T23:00:00+08:00 ", "", "2026-13-31T23:00:00Z ",
           "2026-12-31T23:00:00.5Z", "2026-12-31T23:00:00Z  ", "2026-12-31 23:00:00Z ", "2026-12-31T23:00:00.{n}Z ")


def _journal_entry(message: str, rnd: random.Random) -> str:
    entry: dict[str, object] = {
        "__CURSOR": "s=1", "__REALTIME_TIMESTAMP": rnd.choice((str(1798758000000000 + rnd.randint(0, 10**9)), "", "12x", 17)),
        "PRIORITY": rnd.choice(("6", "3", "4", "7", 3, "8", " 3", None, "-1")),
        rnd.choice(("_SYSTEMD_UNIT", "UNIT", "SYSLOG_IDENTIFIER", "CONTAINER_NAME")): rnd.choice(
            ("gateway.service", ".service", "vllm", "", 5, "c\u00e9")),
        "MESSAGE": message if rnd.random() < 0.95 else rnd.choice(([104, 105], 7, None, {"a": 1})),
    }
    items = list(entry.items())
    rnd.shuffle(items)
    line = json.dumps(dict(items), ensure_ascii=rnd.random() < 0.5)
    return _mutate(line, rnd) if rnd.random() < 0.2 else line


def block(seed: int) -> tuple[bytes, ScanSettings, str]:
    """A block of lines, the profile to read it with, and its source kind (every seventh block a
    ``docker:`` stream: dockerd's time before each line; another seventh a ``journald:`` one: each line
    the MESSAGE of an entry, some entries mutated in turn)."""
    rnd = random.Random(seed)
    lines = []
    for _ in range(rnd.randint(20, 120)):
        if seed % 2:
            line = composed(rnd)
        else:
            line = rnd.choice(TEMPLATES) % {"tid": f"{rnd.getrandbits(128):032x}" if rnd.random() < 0.8 else TID,
                                             "n": rnd.randint(0, 10**6)}
        lines.append(_mutate(line, rnd) if rnd.random() < 0.6 else line)
    kind = {2: "docker", 4: "journald"}.get(seed % 7, "file")
    if kind == "docker":
        lines = [rnd.choice(DOCKERD).format(d=rnd.randint(0, 9), n=rnd.randint(0, 999_999_999)) + line for line in lines]
    elif kind == "journald":
        lines = [_journal_entry(line, rnd) for line in lines]
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    settings = SETTINGS
    if seed % 5 == 1:
        settings = ScanSettings(services=SETTINGS.services, since=START + rnd.randint(0, 20),
                                until=START + rnd.randint(15, 3600))
    elif seed % 5 == 3:
        settings = ScanSettings(timezone=rnd.choice(("+08:00", "Asia/Shanghai")))
    return data, settings, kind


def _agree(seeds: range, kinds: tuple[str, ...]) -> None:
    native_module()  # in CI a scanner that is not built fails here
    for seed in seeds:
        data, settings, kind = block(seed)
        if kind not in kinds:
            continue
        try:
            assert_identical(data, settings, REF, kind=kind)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}: {exc}") from None


@pytest.mark.parametrize("part", range(4))
def test_native_agrees_with_the_exact_parser_on_mutated_lines(part):
    _agree(range(SEED + part * ROUNDS, SEED + (part + 1) * ROUNDS), ("file", "docker"))


def test_native_agrees_with_the_exact_parser_on_mutated_journald_entries():
    _agree(range(SEED, SEED + 4 * ROUNDS), ("journald",))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        data, settings, kind = block(int(arg))
        assert_identical(data, settings, REF, kind=kind)
        print(f"seed {arg}: {len(data.splitlines())} lines agree")
