"""logs.traces.* on hand-made snapshots: exact verdicts per service / hop / source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import Case
from tests.logscan import scenarios
from tests.logscan.synth import generate

MANIFEST = {"format": "autoglm-doctor-snapshot", "version": 1, "kind": "handmade"}


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    side = root / ".autoglm-doctor"
    side.mkdir(exist_ok=True)
    (side / "manifest.json").write_text(json.dumps(MANIFEST))
    return root


def mixed(tmp_path: Path) -> Path:
    """Agent file, vLLM container, gateway journal, QEMU log: one failing trace per service, one lost."""
    return scenarios.build(tmp_path / "mixed")


def healthy(tmp_path: Path) -> Path:
    """Every request reaches the model server and completes."""
    lines = "".join(line + "\n" for line in generate(seed=2, traces=300, fail_every=10**9, lose_every=10**9))
    return _tree(tmp_path / "healthy", {"/var/log/autoglm/all.jsonl": lines})


def broken(tmp_path: Path) -> Path:
    """The model server logs no ids (propagation broken), so every agent trace looks lost; the agent's
    file has a corrupt tail; the gateway named in logs_services logs nothing."""
    agent, model = [], []
    for line in generate(seed=4, traces=100, fail_every=10**9, lose_every=10**9):
        obj = json.loads(line)
        if obj["service"] == "vllm":
            obj.pop("trace_id", None)
            obj.pop("span_id", None)
            model.append(json.dumps(obj))
        else:
            agent.append(line)
    agent += ['{"timestamp":"2026-01-01T10:10:00Z","level":"info","service":"auto-glm","trace_id":"abc', "\x00\x01\x02\x03\x04"]
    return _tree(tmp_path / "broken", {"/var/log/agent/agent.log": "\n".join(agent) + "\n",
                                        "/var/log/vllm/vllm.log": "\n".join(model) + "\n"})


def skewed(tmp_path: Path) -> Path:
    """The model server's clock runs 30 s behind the agent's (its host has no NTP)."""
    import datetime as dt

    lines = []
    for line in generate(seed=6, traces=60, fail_every=10**9, lose_every=10**9):
        obj = json.loads(line)
        if obj["service"] == "vllm":
            when = dt.datetime.fromisoformat(obj["timestamp"].replace("Z", "+00:00")) - dt.timedelta(seconds=30)
            obj["timestamp"] = when.isoformat().replace("+00:00", "Z")
        lines.append(json.dumps(obj))
    return _tree(tmp_path / "skewed", {"/var/log/autoglm/all.jsonl": "\n".join(lines) + "\n"})


def empty(tmp_path: Path) -> Path:
    return _tree(tmp_path / "empty", {"/var/log/autoglm/README": "no logs yet\n"})


MIXED = {"logs_sources": scenarios.SOURCES}
HEALTHY = {"logs_sources": ["/var/log/autoglm/"]}
BROKEN = {"logs_sources": ["/var/log/agent/", "/var/log/vllm/"], "logs_services": ["gateway", "auto-glm", "vllm"],
          "logs_hops": ["auto-glm>vllm"]}
EMPTY = {"logs_sources": ["/var/log/autoglm/", "docker:ghost"]}

CASES = [
    Case(mixed, "logs.traces.errors", {"auto-glm": "fail", "vllm": "fail", "gateway": "pass", "autoglm-vm": "warn"},
         profile=MIXED),
    Case(healthy, "logs.traces.errors", {"auto-glm": "pass", "vllm": "pass"}, profile=HEALTHY),
    Case(empty, "logs.traces.errors", {"": "skip"}, profile=EMPTY),
    Case(mixed, "logs.traces.lost_hops", {"auto-glm>vllm": "fail"}, profile=MIXED),
    Case(healthy, "logs.traces.lost_hops", {"auto-glm>vllm": "pass"}, profile=HEALTHY),
    Case(broken, "logs.traces.lost_hops", {"auto-glm>vllm": "fail"}, profile=BROKEN, note="propagation"),
    Case(mixed, "logs.traces.propagation", {"auto-glm": "pass", "vllm": "pass", "gateway": "pass", "autoglm-vm": "pass"},
         profile=MIXED),
    Case(healthy, "logs.traces.propagation", {"auto-glm": "pass", "vllm": "pass"}, profile=HEALTHY),
    Case(broken, "logs.traces.propagation", {"gateway": "warn", "auto-glm": "pass", "vllm": "fail",
                                              "/var/log/agent/agent.log": "warn"}, profile=BROKEN),
    Case(healthy, "logs.traces.propagation", {"auto-glm": "warn", "vllm": "warn"},
         profile={**HEALTHY, "logs_untraced_max_share": 0.0}, note="strict"),
    Case(skewed, "logs.traces.propagation", {"auto-glm": "pass", "vllm": "pass", "clock:vllm": "warn"}, profile=HEALTHY),
    Case(skewed, "logs.traces.lost_hops", {"auto-glm>vllm": "pass"}, profile=HEALTHY),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: Case, tmp_path: Path) -> None:
    case.verify(tmp_path)


def test_messages_name_what_to_do(tmp_path: Path) -> None:
    findings = {(f.check_id, f.resource): f for f in Case(mixed, "logs.traces.errors", {}, profile=MIXED).findings(tmp_path)}
    vllm = findings[("logs.traces.errors", "vllm")]
    assert vllm.message.startswith("1 of 4 traces failed first at vllm; most common error: "
                                   "'request chatcmpl-#: CUDA out of memory. Tried to allocate # GiB'")
    assert vllm.remediation == f"autoglm-doctor trace {scenarios.T_FAIL} shows where it failed"
    lost = Case(mixed, "logs.traces.lost_hops", {}, profile=MIXED).findings(tmp_path / "2")
    (hop,) = [f for f in lost if f.check_id == "logs.traces.lost_hops"]
    assert hop.message == f"1 of 4 traces seen at auto-glm never reached vllm; e.g. {scenarios.T_LOST}"
    assert hop.observed == {"lost": 1, "upstream_traces": 4, "examples": [scenarios.T_LOST]}
