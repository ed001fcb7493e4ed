"""A seeded, realistic AutoGLM log corpus with its truth: what the deployment's services really write.

    gateway  logfmt (``time=… level=… trace_id=…``, W3C ``traceparent`` on some lines), rotated
             ``gateway.log.2.gz`` / ``gateway.log.1`` / ``gateway.log``, one line of invalid UTF-8
    auto-glm JSON lines (``ts`` ISO, ``level`` INFO/ERROR, ``trace_id``, ``traceparent``, ``request_id``
             ``chatcmpl-…`` it sent to vLLM), Python tracebacks printed raw after an error line, a few
             truncated lines; ``agent.log.1.gz`` + ``agent.log``; its clock runs ``AGENT_SKEW`` seconds ahead
             (it lives in a VM)
    vllm     Docker json-file records (``{"log":…,"stream":…,"time":…}``) around vLLM's native lines
             (``INFO 12-31 23:00:01 [logger.py:43] Received request chatcmpl-X: …``: no year, no zone),
             uvicorn access lines and multi-line tracebacks; the time runs over New Year
    sglang   SGLang's native text (``[2026-12-31 23:00:01] Receive: obj=GenerateReqInput(rid='X', …)``)

Every request goes gateway -> auto-glm -> sglang (planner) -> vllm. Planted: failures at vllm (CUDA OOM
with a traceback), at the agent (a tool error with a raw traceback), requests lost at auto-glm>vllm and
auto-glm>sglang, and broken propagation (the agent did not get the gateway's traceparent and started a
trace of its own: lost at gateway>auto-glm). The truth counts records (a traceback belongs to the line
before it), using the id model of the tool: ``chatcmpl-X``, ``cmpl-X``, a bare ``X`` and a traceparent's
trace id are one request.

    python bench/corpus.py OUTDIR [--size-mb 1024] [--seed 7]     (writes OUTDIR/truth.json)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field

START = 1798758000.0  # 2026-12-31T23:00:00Z: vLLM's yearless times cross New Year
AGENT_SKEW = 3.2  # seconds the agent's clock is ahead
SERVICES = ("gateway", "auto-glm", "sglang", "vllm")
HOPS = ("gateway>auto-glm", "auto-glm>sglang", "auto-glm>vllm")


@dataclass
class Truth:
    seen: set = field(default_factory=set)
    by_service: dict = field(default_factory=lambda: {s: set() for s in SERVICES})
    failing: dict = field(default_factory=dict)  # trace -> service of its first error
    records: dict = field(default_factory=lambda: {s: 0 for s in SERVICES})
    untraced: dict = field(default_factory=lambda: {s: 0 for s in SERVICES})
    problems: dict = field(default_factory=dict)  # service -> {problem: lines}
    untraced_errors: dict = field(default_factory=dict)
    error_records: int = 0

    def summary(self) -> dict:
        lost = {}
        for hop in HOPS:
            up, down = hop.split(">")
            lost[hop] = len(self.by_service[up] - self.by_service[down])
        return {"seen": len(self.seen), "failing": len(self.failing), "lost": sum(lost.values()), "lost_by_hop": lost,
                "failing_by_service": {s: n for s in SERVICES if (n := sum(1 for v in self.failing.values() if v == s))},
                "records": self.records, "untraced": self.untraced, "problems": self.problems,
                "error_records": self.error_records, "untraced_errors": self.untraced_errors, "skew": {"auto-glm": AGENT_SKEW}}


def _iso(t: float, zone: str = "Z") -> str:
    whole = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e3):03d}{zone}"


def _vllm_time(t: float) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.gmtime(int(t)))


def _sglang_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(t)))


def _docker(line: str, t: float, stream: str = "stdout") -> str:
    text = line.replace("\\", "\\\\").replace('"', '\\"')
    whole = int(t)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e9):09d}Z"
    return f'{{"log":"{text}\\n","stream":"{stream}","time":"{stamp}"}}'


TRACEBACK_VLLM = (
    "Traceback (most recent call last):",
    '  File "/usr/local/lib/python3.12/dist-packages/vllm/engine/async_llm_engine.py", line 830, in generate',
    "    async for output in await self.add_request(",
    '  File "/usr/local/lib/python3.12/dist-packages/vllm/worker/model_runner.py", line 1654, in execute_model',
    "    hidden_or_intermediate_states = model_executable(",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {gib}.00 GiB. GPU 0 has a total capacity of 79.10 GiB",
)
TRACEBACK_AGENT = (
    "Traceback (most recent call last):",
    '  File "/app/autoglm/agent/tools.py", line 212, in run_tool',
    "    result = await tool.invoke(args)",
    '  File "/app/autoglm/agent/phone.py", line 88, in invoke',
    "    raise DeviceError(f\"adb device {serial} offline\")",
    "autoglm.agent.phone.DeviceError: adb device emulator-5554 offline",
)


class Writer:
    """Lines of one service, rotated by size into the oldest files first."""

    def __init__(self, paths: list[str], cuts: tuple[float, ...] = ()) -> None:
        self.paths = paths  # oldest first; the last one is the live file
        self.cuts = cuts  # share of the whole corpus written when the next file starts
        self.progress = 0.0
        self.index = 0
        self.buf: list[str] = []
        self.size = 0
        self.files = [gzip.open(p, "wt", compresslevel=1, encoding="utf-8", errors="surrogateescape", newline="")
                      if p.endswith(".gz") else open(p, "w", encoding="utf-8", errors="surrogateescape", newline="")
                      for p in paths]
        self.written = 0

    def add(self, line: str) -> None:
        self.buf.append(line)
        self.size += len(line) + 1
        if len(self.buf) >= 256:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        self.files[self.index].write("\n".join(self.buf) + "\n")
        self.written += self.size
        self.buf.clear()
        self.size = 0
        if self.index < len(self.cuts) and self.progress > self.cuts[self.index]:
            self.index += 1

    def close(self, last_time: float) -> None:
        self.flush()
        for fh, path in zip(self.files, self.paths):
            fh.close()
            os.utime(path, (last_time, last_time))


def generate(out: str, size_mb: float = 1024, seed: int = 7, raw_binary: bool = True) -> dict:
    rnd = random.Random(seed)
    total = int(size_mb * (1 << 20))
    truth = Truth()
    dirs = {s: os.path.join(out, s) for s in SERVICES}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    cid = f"{rnd.getrandbits(256):064x}"
    w = {
        "gateway": Writer([os.path.join(dirs["gateway"], n) for n in ("gateway.log.2.gz", "gateway.log.1", "gateway.log")],
                          (0.04, 0.3)),
        "auto-glm": Writer([os.path.join(dirs["auto-glm"], n) for n in ("agent.log.1.gz", "agent.log")],
                           (0.04,)),
        "sglang": Writer([os.path.join(dirs["sglang"], "sglang.log")]),
        "vllm": Writer([os.path.join(dirs["vllm"], f"{cid}-json.log")]),
    }
    t = START
    i = 0
    pad = "lorem ipsum dolor sit amet " * 12

    def record(svc: str, trace: str | None, error: bool = False) -> None:
        truth.records[svc] += 1
        truth.error_records += error
        if trace is None:
            truth.untraced[svc] += 1
            if error:
                truth.untraced_errors[svc] = truth.untraced_errors.get(svc, 0) + 1
            return
        truth.seen.add(trace)
        truth.by_service[svc].add(trace)
        if error:
            truth.failing.setdefault(trace, svc)

    def problem(svc: str, what: str) -> None:
        mine = truth.problems.setdefault(svc, {})
        mine[what] = mine.get(what, 0) + 1

    def gw(tt: float, level: str, trace: str | None, msg: str, status: int, span: str | None = None) -> None:
        """The gateway's access line, written when the request is done."""
        ids = ""
        if trace:
            ids = f' traceparent="00-{trace}-{span}-01"' if span else f" trace_id={trace}"
        w["gateway"].add(f'time={_iso(tt)} level={level} msg="{msg}"{ids} method=POST path=/v1/agent/run '
                         f"status={status} duration_ms={rnd.randint(20, 9000)} upstream=auto-glm:8080 client=10.0.{rnd.randint(0, 255)}."
                         f'{rnd.randint(1, 254)} ua="okhttp/4.12.0 (Android 14; Pixel 8)" bytes_in={rnd.randint(200, 90000)} '
                         f"bytes_out={rnd.randint(100, 9000)}")
        record("gateway", trace, level == "error" or status >= 500)

    def agent(tt: float, level: str, trace: str | None, event: str, extra: str = "") -> None:
        ids = f'"trace_id":"{trace}","span_id":"{rnd.getrandbits(64):016x}",' if trace else ""
        w["auto-glm"].add(f'{{"ts":"{_iso(tt + AGENT_SKEW, "+00:00")}","level":"{level}","logger":"autoglm.agent",'
                          f'"service":"auto-glm",{ids}"event":"{event}"{extra}}}')
        record("auto-glm", trace, level == "ERROR")

    def vllm(tt: float, line: str, trace: str | None, error: bool = False, tb: tuple[str, ...] = ()) -> None:
        w["vllm"].add(_docker(line, tt))
        for extra in tb:
            w["vllm"].add(_docker(extra, tt, "stderr"))
        record("vllm", trace, error or bool(tb))

    def sg(tt: float, line: str, trace: str | None) -> None:
        w["sglang"].add(f"[{_sglang_time(tt)}] {line}")
        record("sglang", trace)

    while True:
        i += 1
        if i % 256 == 0:
            done = sum(x.written + x.size for x in w.values()) / total
            if done >= 1:
                break
            for x in w.values():
                x.progress = done
        t += rnd.random() * 0.02
        trace = f"{rnd.getrandbits(128):032x}"
        span = f"{rnd.getrandbits(64):016x}"
        broken = i % 211 == 0  # the agent never got the traceparent: it starts its own trace
        atrace = f"{rnd.getrandbits(128):032x}" if broken else trace
        tp = "" if broken else f',"traceparent":"00-{trace}-{span}-01"'
        agent(t + 0.002, "INFO", atrace, "task accepted", f',"prompt_chars":{rnd.randint(20, 4000)},"note":"{pad[:rnd.randint(0, 200)]}"{tp}')
        # the planner model on SGLang (rid = the agent's trace id)
        if i % 401 == 0:
            agent(t + 0.004, "ERROR", atrace, "planner unreachable", ',"error":"ConnectError: [Errno 111] Connection refused"')
            gw(t + 0.06, "error", trace, "upstream returned 502", 502, span)
            continue
        sg(t + 0.005, f"Receive: obj=GenerateReqInput(rid='{atrace}', text='{pad[:rnd.randint(20, 160)]}', "
                      f"sampling_params={{'max_new_tokens': 512, 'temperature': 0.0}})", atrace)
        if i % 3 == 0:
            sg(t + 0.006, f"Prefill batch. #new-seq: 1, #new-token: {rnd.randint(10, 900)}, #cached-token: 0, "
                          f"token usage: 0.{rnd.randint(0, 99):02d}, #running-req: {rnd.randint(0, 9)}, #queue-req: 0", None)
        sg(t + 0.05, f"Finish: rid='{atrace}', completion_tokens={rnd.randint(1, 300)}, e2e_latency=0.045", atrace)
        sg(t + 0.051, f'INFO:     10.88.0.4:{rnd.randint(30000, 60000)} - "POST /generate HTTP/1.1" 200 OK', None)
        # the main model on vLLM: the agent sends X-Request-Id; vLLM logs chatcmpl-<it>
        alias = i % 2 == 0
        rid = f"{rnd.getrandbits(64):016x}" if alias else atrace
        prefix = "cmpl" if i % 5 == 0 else "chatcmpl"
        agent(t + 0.06, "INFO", atrace, "calling model server",
              f',"request_id":"{prefix}-{rid}","url":"http://vllm:8000/v1/chat/completions"' if alias else
              ',"url":"http://vllm:8000/v1/chat/completions"')
        if i % 97 == 0:
            agent(t + 30.06, "ERROR", atrace, "model server timeout after 30000 ms")
            gw(t + 30.07, "error", trace, "upstream returned 504", 504, span)
            continue
        vt = t + 0.062
        head = f"INFO {_vllm_time(vt)} [logger.py:43]"
        vllm(vt, f"{head} Received request {prefix}-{rid}: prompt: '<|user|>{pad[:rnd.randint(40, 300)]}', "
                 f"params: SamplingParams(n=1, temperature=0.0, max_tokens={rnd.randint(64, 2048)}), "
                 f"lora_request: None, prompt_adapter_request: None.", atrace)
        if i % 4 == 0:
            vllm(vt + 0.001, f"INFO {_vllm_time(vt)} [metrics.py:455] Avg prompt throughput: {rnd.random() * 900:.1f} "
                             f"tokens/s, Avg generation throughput: {rnd.random() * 90:.1f} tokens/s, Running: "
                             f"{rnd.randint(0, 9)} reqs, Swapped: 0 reqs, Pending: 0 reqs, GPU KV cache usage: "
                             f"{rnd.random() * 90:.1f}%, CPU KV cache usage: 0.0%.", None)
        if i % 53 == 0:
            gib = rnd.randint(1, 20)
            vllm(vt + 0.2, f"ERROR {_vllm_time(vt + 0.2)} [async_llm_engine.py:64] Engine background task failed "
                           f"for request {prefix}-{rid}",
                 atrace, True, tuple(x.format(gib=gib) for x in TRACEBACK_VLLM))
            vllm(vt + 0.21, f'INFO:     10.88.0.3:{rnd.randint(30000, 60000)} - "POST /v1/chat/completions HTTP/1.1" '
                            "500 Internal Server Error", None, True)
            agent(t + 0.3, "ERROR", atrace, "model server returned 500", ',"status":500')
            gw(t + 0.31, "error", trace, "upstream returned 500", 500, span)
            continue
        vllm(vt + 0.4, f"INFO {_vllm_time(vt + 0.4)} [engine.py:280] Finished request {prefix}-{rid}.", atrace)
        vllm(vt + 0.401, f'INFO:     10.88.0.3:{rnd.randint(30000, 60000)} - "POST /v1/chat/completions HTTP/1.1" 200 OK', None)
        if i % 149 == 0:
            agent(t + 0.45, "ERROR", atrace, "tool run failed", ',"tool":"phone.tap"')
            for line in TRACEBACK_AGENT:
                w["auto-glm"].add(line)
            gw(t + 0.46, "error", trace, "upstream returned 500", 500, span)
            continue
        agent(t + 0.5, "INFO", atrace, "task completed", ',"status":200,"steps":' + str(rnd.randint(1, 30)))
        gw(t + 0.52, "info", trace, "request done", 200, span if i % 2 else None)
        if i % 29 == 0:
            agent(t + 0.5, "DEBUG", None, "GET /healthz 200")
            gw(t + 0.5, "debug", None, "health check", 200)
        if i % 5003 == 0:  # a few corrupt lines
            w["auto-glm"].add(f'{{"ts":"{_iso(t)}","level":"INFO","service":"auto-glm","trace_id":"{trace[:10]}')
            problem("auto-glm", "malformed JSON")
    if raw_binary:
        w["gateway"].add("time=" + _iso(t) + ' level=info msg="caf\udce9 ok" trace_id=' + f"{'c' * 32}")
        record("gateway", "c" * 32)
        problem("gateway", "invalid UTF-8")
    for x in w.values():
        x.close(t + AGENT_SKEW + 31)
    data = truth.summary()
    data.update({"seed": seed, "size_mb": size_mb, "requests": i, "start": START, "end": t,
                 "sources": {s: sorted(os.path.join(dirs[s], n) for n in os.listdir(dirs[s])) for s in SERVICES}})
    with open(os.path.join(out, "truth.json"), "w") as fh:
        json.dump(data, fh, indent=1)
    return data


def sources(out: str) -> list[str]:
    """The ``--source`` values of a corpus directory (one per service; rotated siblings are found)."""
    vllm_dir = os.path.join(out, "vllm")
    (docker_log,) = [n for n in os.listdir(vllm_dir) if n.endswith("-json.log")]
    return [f"gateway={out}/gateway/gateway.log", f"auto-glm={out}/auto-glm/agent.log",
            f"sglang={out}/sglang/sglang.log", f"vllm={vllm_dir}/{docker_log}"]


PROFILE = {"logs_services": list(SERVICES), "logs_hops": list(HOPS)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--size-mb", type=float, default=1024)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    t0 = time.perf_counter()
    data = generate(args.out, args.size_mb, args.seed)
    print(json.dumps({k: data[k] for k in ("seen", "failing", "lost", "lost_by_hop", "requests")}), file=sys.stderr)
    print(f"generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
