"""The `trace` and `logs` commands as real processes: output, JSON, exit codes, usage errors, and the
tool's own logs carrying its run_id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import doctor
from tests.logscan import scenarios as sc
from tests.logscan.synth import write_file


@pytest.fixture(scope="module")
def logfile(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("cli") / "all.jsonl"
    return path, write_file(str(path), seed=9, traces=400, fail_every=50, lose_every=80)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    return sc.build(tmp_path_factory.mktemp("snap"))


def test_logs_json_and_exit_code(logfile):
    path, truth = logfile
    r = doctor("logs", "--source", str(path), "--format", "json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["traces"] == {"seen": truth.traces, "failing": len(truth.failing), "untracked": 0, "lost": len(truth.lost)}


def test_logs_names_its_engine(logfile):
    from autoglm_doctor.logscan.scan import native_available

    path, _truth = logfile
    results = {}
    for engine in ("auto", "line"):
        r = doctor("logs", "--source", str(path), "--format", "json", "--jobs", "2", "--engine", engine)
        results[engine] = json.loads(r.stdout)
        assert results[engine].pop("engine") == ("native" if engine == "auto" and native_available() else "orjson")
    for report in results.values():
        for src in report["sources"]:
            src.pop("fast_path_share")
    assert results["auto"] == results["line"]


def test_logs_console(logfile):
    path, truth = logfile
    r = doctor("logs", "--source", f"all={path}")
    assert r.returncode == 1
    assert f"traces: {truth.traces} seen, {len(truth.failing)} failing, {len(truth.lost)} lost at a hop" in r.stdout
    assert "auto-glm>vllm:" in r.stdout and "top error messages:" in r.stdout


def test_logs_clean_window_exits_0(logfile):
    path, _truth = logfile
    r = doctor("logs", "--source", str(path), "--until", "2025-12-31T00:00:00Z", "--format", "json")
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)["sources"][0]["outside_window"] == sum(_truth.lines.values())
    r = doctor("logs", "--source", str(path), "--since", "2999-01-01T00:00:00Z", "--format", "json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["notes"] == [f"{path}: last written before the window; not read"]


def test_trace_on_a_snapshot(snapshot):
    args = ["--target", f"snapshot:{snapshot}", *sum((["--source", s] for s in sc.SOURCES), [])]
    ok = doctor("trace", sc.T_OK, *args)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"trace {sc.T_OK}: 6 lines in 3 service(s) (gateway, auto-glm, vllm)")
    assert "last hop: auto-glm at 2026-01-01T10:00:02.000Z: task completed" in ok.stdout
    failed = doctor("trace", f"00-{sc.T_FAIL}-00f067aa0ba902b7-01", *args, "--format", "json")
    assert failed.returncode == 1
    data = json.loads(failed.stdout)
    assert data["trace"] == sc.T_FAIL and data["first_error"]["service"] == "vllm"
    lost = doctor("trace", sc.T_LOST, *args)
    assert lost.returncode == 1 and "lost hop auto-glm>vllm: seen at auto-glm, never reached vllm" in lost.stdout
    missing = doctor("trace", "deadbeefdeadbeef", *args)
    assert missing.returncode == 1 and "no line carries this id in 4 source(s)" in missing.stdout


def test_profile_sources_from_config(snapshot, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[profile]\nlogs_sources = %s\n" % json.dumps(sc.SOURCES))
    r = doctor("logs", "--target", f"snapshot:{snapshot}", "--config", str(cfg), "--format", "json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["traces"]["seen"] == 4


@pytest.mark.parametrize("args, message", [
    (["logs", "--since", "yesterday"], "'yesterday' is not a time"),
    (["logs", "--since", "1h", "--until", "2h"], "--since is after --until"),
    (["logs", "--source", "var/log"], "source 'var/log': use an absolute PATH"),
    (["trace", "a b"], "is not a trace or request id"),
    (["logs", "--target", "snapshot:/nonexistent"], "/nonexistent: no such snapshot"),
    (["logs", "--jobs", "-1"], "--jobs must be 0"),
])
def test_usage_errors_are_one_line(args, message):
    r = doctor(*args)
    assert r.returncode == 2
    assert r.stderr.startswith("autoglm-doctor: error: ") and message in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("toml, message", [
    ('logs_sources = ["relative"]', "profile.logs_sources: source 'relative'"),
    ('logs_trace_patterns = ["no-group"]', "must have exactly one capturing group"),
    ('logs_hops = ["agent"]', "hop 'agent' must look like 'agent>model-server'"),
    ('logs_window = "soon"', "'soon' is not a duration"),
    ('logs_untraced_max_share = 2', "must be between 0 and 1"),
])
def test_bad_profile_values(tmp_path, toml, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[profile]\n{toml}\n")
    r = doctor("logs", "--config", str(cfg))
    assert r.returncode == 2 and message in r.stderr


def test_own_logs_carry_the_run_id(logfile):
    path, _truth = logfile
    r = doctor("--log-format", "json", "--log-level", "info", "logs", "--source", str(path))
    events = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "logscan_start" in names and "logs_done" in names
    run_ids = {e["run_id"] for e in events}
    assert len(run_ids) == 1 and len(run_ids.pop()) == 12


def test_parser_module_stays_light():
    code = ("import sys, autoglm_doctor.cli as c; c._parser(); "
            "print(sorted(m for m in sys.modules if m.startswith(('autoglm_doctor.logscan.', 'structlog', 'json'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_collect_then_replay_gives_the_same_verdicts(logfile, tmp_path):
    path, _truth = logfile
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[profile]\nlogs_sources = ["{path}", "docker:adt6-not-there"]\nlogs_window = "100000d"\n')
    snap = tmp_path / "snap"
    assert doctor("collect", "--only", "logs.*", "--config", str(cfg), "-o", str(snap)).returncode == 0

    def verdicts(*extra: str) -> list:
        out = doctor("check", "--only", "logs.*", "--config", str(cfg), "--format", "json", *extra)
        return sorted((f["check_id"], f["resource"], f["status"]) for f in json.loads(out.stdout)["findings"])

    live = verdicts()
    assert ("logs.traces.lost_hops", "auto-glm>vllm", "fail") in live
    assert verdicts("--target", f"snapshot:{snap}") == live
