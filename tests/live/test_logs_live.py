"""Trace correlation against the real dockerd: two containers (image autoglm-doctor-test/busybox, names
adt6-*, always removed) play the agent and the model server and log JSON lines with trace ids; the
doctor reads their logs through the Docker API (with dockerd's timestamps)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid

import pytest

from tests.helpers import doctor, require

pytestmark = pytest.mark.live
IMAGE = "autoglm-doctor-test/busybox:latest"
TRACES = [f"{i:02d}" + uuid.UUID(int=0xADD6 + i).hex[2:] for i in range(5)]  # 5 fixed 32-hex trace ids
FAILING, LOST = TRACES[1], TRACES[3]


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=60)


def _script(lines: list[dict]) -> str:
    body = "; ".join("echo '" + json.dumps(line, separators=(",", ":")) + "'" for line in lines)
    return f"{body}; echo 'plain startup line without ids'; sleep 300"


def _agent_lines() -> list[dict]:
    out = []
    for t in TRACES:
        out.append({"level": "info", "service": "auto-glm", "trace_id": t, "message": "calling model server"})
        if t == FAILING:
            out.append({"level": "error", "service": "auto-glm", "trace_id": t, "message": "model server returned 500",
                        "status": 500})
        elif t == LOST:
            out.append({"level": "error", "service": "auto-glm", "trace_id": t, "message": "upstream timeout"})
        else:
            out.append({"level": "info", "service": "auto-glm", "trace_id": t, "message": "done", "status": 200})
    return out


def _model_lines() -> list[dict]:
    out = []
    for t in TRACES:
        if t == LOST:
            continue
        out.append({"level": "info", "trace_id": t, "message": "Received request"})
        if t == FAILING:
            out.append({"level": "error", "trace_id": t, "message": "CUDA out of memory"})
    return out


@pytest.fixture(scope="module")
def services():
    ok = shutil.which("docker") is not None and _docker("info", check=False).returncode == 0
    require(ok, "a running dockerd (.ci/services.sh starts it)")
    require(_docker("image", "inspect", IMAGE, check=False).returncode == 0, f"local image {IMAGE}")
    suffix = uuid.uuid4().hex[:6]
    names = {"agent": f"adt6-agent-{suffix}", "model": f"adt6-model-{suffix}"}
    try:
        for role, lines in (("model", _model_lines()), ("agent", _agent_lines())):
            _docker("run", "-d", "--name", names[role], IMAGE, "sh", "-c", _script(lines))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            logs = [_docker("logs", n).stdout for n in names.values()]
            if all("plain startup line" in text for text in logs):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the containers did not log in time")
        yield names
    finally:
        for name in names.values():
            _docker("rm", "-f", "-v", name, check=False)


def _sources(names: dict[str, str]) -> list[str]:
    return ["--source", f"auto-glm=docker:{names['agent']}", "--source", f"vllm=docker:{names['model']}"]


def test_logs_summary_from_real_containers(services):
    r = doctor("logs", *_sources(services), "--since", "10m", "--format", "json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["traces"] == {"seen": 5, "failing": 2, "untracked": 0, "lost": 1}
    assert data["failing_by_service"] == {"auto-glm": 1, "vllm": 1}
    assert data["lost_hops"][0]["examples"] == [LOST]
    assert {p["service"]: (p["lines"], p["without_id"]) for p in data["propagation"]} == {
        "auto-glm": (11, 1), "vllm": (6, 1)}
    assert [s["name"] for s in data["sources"]] == [f"docker:{services['agent']}", f"docker:{services['model']}"]


def test_trace_timeline_uses_dockerd_timestamps(services):
    r = doctor("trace", FAILING, *_sources(services), "--format", "json")
    assert r.returncode == 1
    t = json.loads(r.stdout)
    assert t["services"] == ["vllm", "auto-glm"] or t["services"] == ["auto-glm", "vllm"]
    assert t["lines"] == 4 and all(e["time"].startswith("20") for e in t["events"])
    assert t["first_error"]["message"] in ("CUDA out of memory", "model server returned 500")
    ok = doctor("trace", TRACES[0], *_sources(services))
    assert ok.returncode == 0, ok.stdout


def test_check_command_with_docker_sources(services, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[profile]\nlogs_sources = %s\nlogs_window = \"10m\"\n" % json.dumps(
        [f"auto-glm=docker:{services['agent']}", f"vllm=docker:{services['model']}"]))
    r = doctor("check", "--only", "logs.traces.*", "--config", str(cfg), "--format", "json")
    assert r.returncode == 1
    got = {(f["check_id"], f["resource"]): f["status"] for f in json.loads(r.stdout)["findings"]}
    assert got == {
        ("logs.traces.errors", "auto-glm"): "fail", ("logs.traces.errors", "vllm"): "fail",
        ("logs.traces.lost_hops", "auto-glm>vllm"): "fail",
        ("logs.traces.propagation", "auto-glm"): "pass", ("logs.traces.propagation", "vllm"): "pass",
    }


def test_missing_container_is_a_note(services):
    r = doctor("logs", "--source", "docker:adt6-does-not-exist", "--format", "json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["notes"] == ["docker:adt6-does-not-exist: no such container"]
