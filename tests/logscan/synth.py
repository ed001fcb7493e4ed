"""Deterministic multi-service JSON-lines logs with known traces, failures and lost hops.

Used by the tests (small, exact expectations) and the benchmarks (1 GB). The agent (``auto-glm``)
receives a request, calls the model server (``vllm``) and answers; some traces fail (an error at
the model server or the agent), some are lost (the agent logs the call, the model server never sees
it), and both services log lines without any trace id (health checks, throughput stats).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Iterator

AGENT, MODEL = "auto-glm", "vllm"
START = 1767261600.0  # 2026-01-01T10:00:00Z


@dataclass
class Truth:
    traces: int = 0
    failing: dict[str, str] = field(default_factory=dict)  # trace -> service of the first error
    lost: set[str] = field(default_factory=set)
    lines: dict[str, int] = field(default_factory=lambda: {AGENT: 0, MODEL: 0})
    untraced: dict[str, int] = field(default_factory=lambda: {AGENT: 0, MODEL: 0})
    error_lines: int = 0


def _ts(t: float) -> str:
    whole = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e6):06d}Z"


def _line(t: float, level: str, service: str, trace: str | None, message: str, rnd: random.Random,
          **extra: object) -> str:
    """One compact JSON object, keys in the order a structlog JSON renderer writes them (built by
    hand: the messages here never need escaping, and json.dumps per line would make 1 GB slow)."""
    logger = "autoglm.server" if service == AGENT else "vllm.entrypoints.openai"
    ids = f'"trace_id":"{trace}","span_id":"{rnd.getrandbits(64):016x}",' if trace else ""
    tail = "".join(f',"{k}":{json.dumps(v)}' for k, v in extra.items())
    return (f'{{"timestamp":"{_ts(t)}","level":"{level}","service":"{service}",{ids}'
            f'"logger":"{logger}","message":"{message}"{tail}}}')


def generate(seed: int = 7, traces: int | None = None, target_bytes: int | None = None,
             fail_every: int = 50, lose_every: int = 97, truth: Truth | None = None) -> Iterator[str]:
    """Yield lines (without newline) until ``traces`` traces or about ``target_bytes`` bytes."""
    rnd = random.Random(seed)
    truth = truth if truth is not None else Truth()
    t = START
    written = 0
    i = 0
    pad = "x" * 200

    def emit(line: str, service: str, traced: bool) -> str:
        nonlocal written
        written += len(line) + 1
        truth.lines[service] += 1
        if not traced:
            truth.untraced[service] += 1
        return line

    while (traces is None or i < traces) and (target_bytes is None or written < target_bytes):
        i += 1
        trace = f"{rnd.getrandbits(128):032x}"
        truth.traces += 1
        t += rnd.random() * 0.01
        prompt = rnd.randint(20, 4000)
        yield emit(_line(t, "info", AGENT, trace, f"POST /v1/agent/run accepted task of {prompt} chars {pad[:rnd.randint(0, 120)]}", rnd), AGENT, True)
        yield emit(_line(t + 0.001, "info", AGENT, trace, "calling model server http://vllm:8000/v1/chat/completions", rnd), AGENT, True)
        if i % lose_every == 0:
            truth.lost.add(trace)
            yield emit(_line(t + 0.002, "info", AGENT, trace, "waiting for model server response", rnd), AGENT, True)
        else:
            yield emit(_line(t + 0.003, "info", MODEL, trace, f"Received request chatcmpl-{trace[:16]}: prompt tokens {prompt // 4} {pad[:rnd.randint(0, 150)]}", rnd), MODEL, True)
            if i % fail_every == 0:
                truth.failing[trace] = MODEL
                truth.error_lines += 2
                yield emit(_line(t + 0.2, "error", MODEL, trace, f"CUDA out of memory. Tried to allocate {rnd.randint(1, 20)}.00 GiB", rnd), MODEL, True)
                yield emit(_line(t + 0.21, "error", AGENT, trace, "model server returned 500", rnd, status=500), AGENT, True)
                continue
            yield emit(_line(t + 0.5, "info", MODEL, trace, f"Finished request chatcmpl-{trace[:16]}: generated {rnd.randint(1, 900)} tokens", rnd), MODEL, True)
        yield emit(_line(t + 0.51, "info", AGENT, trace, "task completed", rnd, status=200), AGENT, True)
        if i % 7 == 0:
            yield emit(_line(t, "info", MODEL, None, f"Avg prompt throughput: {rnd.random() * 100:.1f} tokens/s, Running: {rnd.randint(0, 9)} reqs", rnd), MODEL, False)
        if i % 13 == 0:
            yield emit(_line(t, "debug", AGENT, None, "GET /healthz 200", rnd), AGENT, False)


def write_file(path: str, **kwargs: object) -> Truth:
    truth = Truth()
    with open(path, "w", encoding="utf-8") as fh:
        buf = []
        for line in generate(truth=truth, **kwargs):  # type: ignore[arg-type]
            buf.append(line)
            if len(buf) >= 4096:
                fh.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            fh.write("\n".join(buf) + "\n")
    return truth
