"""What AutoGLM's services really write: vLLM's yearless header (year from the reference time, across New
Year; zone from logs_timezone), SGLang's header, uvicorn's access line, Docker json-file records,
tracebacks attached to their record, one id model in both commands, and ISO times on 3.10 and 3.11+."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from autoglm_doctor.logscan.engine import summarize
from autoglm_doctor.logscan.extract import LineParser
from autoglm_doctor.logscan.ids import canonical
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.sources import parse_source_spec, resolve
from autoglm_doctor.logscan.timeline import find_trace
from autoglm_doctor.logscan.timeparse import iso, parse_iso, yearless, zone
from autoglm_doctor.targets.local import LocalTarget

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
NEW_YEAR = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc).timestamp()


def parse(line: str, ref: float = NEW_YEAR + 600, tz: str = "UTC"):
    parser = LineParser(ScanSettings(timezone=tz))
    parser.begin(ref)
    rec, problem = parser.parse(line.encode(), "src")
    assert problem is None
    return rec


@pytest.mark.parametrize("header, ref, expected", [
    ("12-31 23:59:59", NEW_YEAR + 600, "2026-12-31T23:59:59.000Z"),       # written before the file's mtime, last year
    ("01-01 00:00:01", NEW_YEAR + 600, "2027-01-01T00:00:01.000Z"),
    ("01-01 00:00:01", NEW_YEAR - 600, "2027-01-01T00:00:01.000Z"),       # a day of slack for zones and clocks
    ("01-02 00:00:01", NEW_YEAR - 600, "2026-01-02T00:00:01.000Z"),
    ("06-15 12:00:00.250", NEW_YEAR, "2026-06-15T12:00:00.250Z"),
    ("02-29 10:00:00", dt.datetime(2028, 3, 1, tzinfo=dt.timezone.utc).timestamp(), "2028-02-29T10:00:00.000Z"),
])
def test_vllm_time_takes_the_year_closest_to_the_reference(header, ref, expected):
    assert iso(yearless(header, ref)) == expected


def test_vllm_header_level_ids_and_zone():
    rec = parse(f"(APIServer pid=1) ERROR 12-31 23:59:59 [engine.py:160] request chatcmpl-{TID.upper()}: boom")
    assert (rec.level, rec.ids, iso(rec.ts), rec.message) == (
        "error", (TID,), "2026-12-31T23:59:59.000Z", f"request chatcmpl-{TID.upper()}: boom")
    rec = parse("INFO 12-31 23:59:59 [metrics.py:1] Avg prompt throughput: 1.0 tokens/s", tz="Asia/Shanghai")
    assert iso(rec.ts) == "2026-12-31T15:59:59.000Z" and rec.ids == () and rec.level == "info"


def test_sglang_and_uvicorn_lines():
    rec = parse(f"[2026-12-31 23:59:59 TP0] Receive: obj=GenerateReqInput(rid='{TID}', text='hi')", tz="+08:00")
    assert (rec.ids, iso(rec.ts), rec.level) == ((TID,), "2026-12-31T15:59:59.000Z", "")
    rec = parse('[2026-12-31 23:59:59] INFO:     10.0.0.4:5000 - "POST /generate HTTP/1.1" 200 OK')
    assert (rec.level, rec.status, rec.error) == ("info", 200, False)
    rec = parse('INFO:     10.88.0.3:40000 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error')
    assert (rec.status, rec.error, rec.ids) == (500, True, ())


def test_docker_json_file_records_are_unwrapped():
    line = json.dumps({"log": f"INFO 12-31 23:59:59 [logger.py:43] Received request cmpl-{TID}: prompt\n",
                       "stream": "stdout", "time": "2027-01-01T00:00:02.123456789Z"}, separators=(",", ":"))
    rec = parse(line)
    assert (rec.ids, iso(rec.ts), rec.level) == ((TID,), "2027-01-01T00:00:02.123Z", "info")  # dockerd's clock wins
    inner = json.dumps({"log": json.dumps({"level": "error", "trace_id": TID, "msg": "x"}) + "\n", "stream": "stdout",
                        "time": "2027-01-01T00:00:02Z"})
    rec = parse(inner)
    assert (rec.ids, rec.level, iso(rec.ts)) == ((TID,), "error", "2027-01-01T00:00:02.000Z")


@pytest.mark.parametrize("raw, expected", [
    (f"00-{TID}-00f067aa0ba902b7-01", TID), (f"chatcmpl-{TID}", TID), (f"cmpl-{TID.upper()}", TID), (TID, TID),
    ("chatcmpl-", "chatcmpl-"), ("req-AbC-123", "req-abc-123"),
])
def test_one_id_model(raw, expected):
    assert canonical(raw) == expected


@pytest.mark.parametrize("text, expected", [
    ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00.000Z"), ("2026-01-01T10:00:00.123456789Z", "2026-01-01T10:00:00.123Z"),
    ("2026-01-01 10:00:00,5+0200", "2026-01-01T08:00:00.500Z"), ("2026-01-01T10:00:00+02", "2026-01-01T08:00:00.000Z"),
    ("2026-01-01T10:00:00 UTC", "2026-01-01T10:00:00.000Z"), ("2026-01-01T10:00", "2026-01-01T10:00:00.000Z"),
    ("2026-02-29T10:00:00Z", "-"), ("2026-01-01T24:00:00Z", "-"), ("2026-01-01", "-"), ("20260101T100000Z", "-"),
    ("2026-01-01T10:00:00Zjunk", "-"), ("2026-01-01T1\uff10:00:00Z", "-"),
])
def test_iso_shim_reads_the_same_on_every_python(text, expected):
    assert iso(parse_iso(text)) == expected


def test_zones():
    assert zone("UTC") is dt.timezone.utc and zone("+05:30").utcoffset(None) == dt.timedelta(hours=5, minutes=30)
    with pytest.raises(ValueError):
        zone("Mars/Olympus")


def _write(path, lines: list[str], mtime: float | None = None) -> str:
    path.write_text("\n".join(lines) + "\n")
    if mtime:
        os.utime(path, (mtime, mtime))
    return str(path)


def run(paths: list[str], settings: ScanSettings, trace_id: str | None = None) -> dict:
    target = LocalTarget()
    streams = resolve(target, [parse_source_spec(p) for p in paths], [])
    if trace_id:
        return find_trace(target, streams, settings, trace_id, jobs=1)
    return summarize(target, streams, settings, jobs=1).report()


def test_a_traceback_belongs_to_the_record_before_it(tmp_path):
    agent = _write(tmp_path / "agent.log", [
        json.dumps({"ts": "2027-01-01T00:00:01Z", "level": "INFO", "trace_id": TID, "event": "tool run"}),
        "Traceback (most recent call last):", '  File "/app/tools.py", line 212, in run_tool',
        "    raise DeviceError('offline')", "autoglm.agent.phone.DeviceError: adb device emulator-5554 offline",
        json.dumps({"ts": "2027-01-01T00:00:02Z", "level": "INFO", "event": "next, no id"}),
    ])
    r = run([agent], ScanSettings())
    assert r["lines"] == 2 and r["traces"]["failing"] == 1 and r["errors"]["lines"] == 1
    assert r["propagation"] == [{"service": "agent", "lines": 2, "with_id": 1, "without_id": 1, "share_without_id": 0.5}]
    t = run([agent], ScanSettings(), TID)
    assert t["lines"] == 1 and t["first_error"]["service"] == "agent"
    assert t["events"][0]["message"].endswith("autoglm.agent.phone.DeviceError: adb device emulator-5554 offline")


def test_aliases_resolve_the_same_way_in_trace_and_logs(tmp_path):
    """Three requests: A completes, B fails at vllm, C is lost. The agent logs its trace id (from a
    traceparent) with the vLLM request id it sent; vLLM logs chatcmpl-/cmpl- names. Counting the
    pieces separately gave 5 seen / 3 failing / 3 lost; one request each gives 3 / 2 / 1."""
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    ra, rb = "1234abcd5678ef90", "0fedcba987654321"
    agent = _write(tmp_path / "agent.log", [json.dumps(x) for x in (
        {"ts": "2027-01-01T00:00:00Z", "level": "INFO", "traceparent": f"00-{a}-00f067aa0ba902b7-01", "event": "accepted"},
        {"ts": "2027-01-01T00:00:00.1Z", "level": "INFO", "trace_id": a, "request_id": f"chatcmpl-{ra}", "event": "call"},
        {"ts": "2027-01-01T00:00:01Z", "level": "INFO", "trace_id": a, "event": "done"},
        {"ts": "2027-01-01T00:00:02Z", "level": "INFO", "trace_id": b, "request_id": f"cmpl-{rb}", "event": "call"},
        {"ts": "2027-01-01T00:00:03Z", "level": "ERROR", "trace_id": b, "event": "model server returned 500"},
        {"ts": "2027-01-01T00:00:04Z", "level": "INFO", "trace_id": c, "event": "call"},
        {"ts": "2027-01-01T00:00:34Z", "level": "ERROR", "trace_id": c, "event": "timeout"},
    )], NEW_YEAR + 60)
    vllm = _write(tmp_path / "vllm.log", [
        f"INFO 01-01 00:00:00 [logger.py:43] Received request chatcmpl-{ra}: prompt: 'hi'",
        f"INFO 01-01 00:00:00 [engine.py:280] Finished request chatcmpl-{ra}.",
        f"INFO 01-01 00:00:02 [logger.py:43] Received request cmpl-{rb}: prompt: 'x'",
        f"ERROR 01-01 00:00:02 [engine.py:64] Engine background task failed for request cmpl-{rb}",
        "Traceback (most recent call last):", '  File "engine.py", line 1, in run', "torch.OutOfMemoryError: CUDA out of memory",
    ], NEW_YEAR + 60)
    settings = ScanSettings(services=("agent", "vllm"))
    r = run([f"agent={agent}", f"vllm={vllm}"], settings)
    assert r["traces"] == {"seen": 3, "failing": 2, "untracked": 0, "lost": 1}
    assert r["failing_by_service"] == {"agent": 1, "vllm": 1} and r["lost_hops"][0]["examples"] == [c]
    for trace_id, services, error_at, lost in ((f"00-{a}-00f067aa0ba902b7-01", ["agent", "vllm"], None, []),
                                                (f"cmpl-{rb}", ["agent", "vllm"], "vllm", []),
                                                (c.upper(), ["agent"], "agent", ["agent>vllm"])):
        t = run([f"agent={agent}", f"vllm={vllm}"], settings, trace_id)
        assert t["services"] == services and [x["hop"] for x in t["lost_hops"]] == lost, trace_id
        assert (t["first_error"] or {}).get("service") == error_at
    assert t["trace"] == c


def test_clock_skew_is_estimated_reported_and_corrected(tmp_path):
    """The agent (in a VM) runs 5 s ahead of the gateway and of vLLM. Request 3 failed first at the
    agent (true 0.200 s) and then at vLLM (0.250 s); by the raw times vLLM's error came first. The
    summary reports the skew and judges the first error on corrected clocks; ``trace`` orders by them."""
    def stamp(t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")

    gw, ag, vl = [], [], []
    for i in range(30):
        t0, tid, ahead = 1798761600 + i * 10.0, f"{i:032x}", 5.0
        ag.append(json.dumps({"ts": stamp(t0 + 0.001 + ahead), "level": "INFO", "trace_id": tid, "event": "accepted"}))
        vl.append(json.dumps({"ts": stamp(t0 + 0.1), "level": "INFO", "trace_id": tid, "msg": "generating"}))
        if i == 3:
            ag.append(json.dumps({"ts": stamp(t0 + 0.2 + ahead), "level": "ERROR", "trace_id": tid, "event": "tool failed"}))
            vl.append(json.dumps({"ts": stamp(t0 + 0.25), "level": "ERROR", "trace_id": tid, "msg": "client gone"}))
        ag.append(json.dumps({"ts": stamp(t0 + 0.29 + ahead), "level": "INFO", "trace_id": tid, "event": "done"}))
        gw.append(f"time={stamp(t0 + 0.292)} level=info trace_id={tid} status=200")
    paths = [f"gateway={_write(tmp_path / 'gw.log', gw)}", f"agent={_write(tmp_path / 'ag.log', ag)}",
             f"vllm={_write(tmp_path / 'vl.log', vl)}"]
    settings = ScanSettings(services=("gateway", "agent", "vllm"))
    r = run(paths, settings)
    skew = r["clock_skew"]
    assert 4.9 < skew["agent"]["offset_s"] <= 5.0 and abs(skew["vllm"]["offset_s"]) < 0.3, skew
    assert f"clocks disagree: agent logs {skew['agent']['offset_s']:.3f} s ahead of gateway (estimated from 30 requests " \
           "they share; first errors are judged on corrected clocks)" in r["notes"]
    assert r["failing_by_service"] == {"agent": 1}
    t = run(paths, settings, f"{3:032x}")
    assert [e["service"] for e in t["events"]] == ["agent", "vllm", "agent", "vllm", "agent", "gateway"]
    assert t["first_error"]["service"] == "agent" and t["notes"][0].startswith("clocks disagree: agent logged")
