"""report merge / report diff: exact fleet verdicts from hand-made reports, agreement with `check`'s own
gate on real reports, and clear refusals for reports that cannot be merged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, SCENARIOS

DOCTOR = [sys.executable, "-m", "autoglm_doctor"]


def finding(check_id: str, status: str, severity: str = "high", resource: str = "", **kw: Any) -> dict[str, Any]:
    return {"check_id": check_id, "status": status, "severity": severity, "title": check_id, "message": f"{check_id} {status}",
            "resource": resource, "evidence": {"observed": None, "expected": None}, "remediation": "", "fix_id": None,
            "duration_ms": 1.0, "ignored": kw.get("ignored", False), "ignore_reason": ""}


def report(host: str, findings: list[dict[str, Any]], *, started: str = "2026-11-30T10:00:00+00:00",
           schema: str = "1.0", run_id: str = "0123456789ab") -> dict[str, Any]:
    return {"schema_version": schema, "tool": {"name": "autoglm-doctor", "version": "0.9.0"}, "hostname": host,
            "target": "local", "run_id": run_id, "started_at": started, "duration_ms": 5.0,
            "summary": {}, "notes": [], "findings": findings}


def write(tmp: Path, name: str, data: Any) -> Path:
    path = tmp / name
    path.write_text(json.dumps(data))
    return path


def doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*DOCTOR, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    d = tmp_path / "reports"
    d.mkdir()
    write(d, "gpu1.json", report("gpu1", [finding("host.kvm.device", "pass"), finding("host.bridge.present", "pass", resource="br0")]))
    write(d, "gpu2.json", report("gpu2", [finding("host.kvm.device", "pass"),
                                          finding("host.bridge.present", "fail", "critical", resource="br0")]))
    write(d, "gpu3.json", report("gpu3", [finding("host.kvm.device", "warn", "medium"),
                                          finding("host.bridge.stp", "fail", "medium", resource="br0")]))
    write(d, "gpu4.json", report("gpu4", [finding("host.kvm.device", "error")]))
    return d


def test_merge_exact_fleet_verdicts(fleet_dir: Path) -> None:
    out = doctor("report", "merge", str(fleet_dir), "--format", "json")
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    hosts = {h["host"]: h for h in data["hosts"]}
    assert {h: v["gate"]["passed"] for h, v in hosts.items()} == {"gpu1": True, "gpu2": False, "gpu3": True, "gpu4": False}
    assert hosts["gpu2"]["areas"] == {"host.bridge": "fail", "host.kvm": "pass"}
    assert hosts["gpu3"]["areas"] == {"host.bridge": "fail", "host.kvm": "warn"}
    assert hosts["gpu2"]["gate"]["reasons"] == ["host.bridge.present [br0]: fail"]
    assert [f["check_id"] for f in hosts["gpu3"]["failing"]] == ["host.bridge.stp", "host.kvm.device"]
    assert data["gate"] == {"passed": False, "fail_on": "high", "max_failing_hosts": 0, "failing_hosts": ["gpu2", "gpu4"]}


def test_fail_on_and_max_failing_hosts_gate_the_fleet(fleet_dir: Path) -> None:
    medium = json.loads(doctor("report", "merge", str(fleet_dir), "--format", "json", "--fail-on", "medium").stdout)
    assert medium["gate"]["failing_hosts"] == ["gpu2", "gpu3", "gpu4"]
    assert doctor("report", "merge", str(fleet_dir), "--max-failing-hosts", "2").returncode == 0
    assert doctor("report", "merge", str(fleet_dir), "--max-failing-hosts", "1").returncode == 1


def test_expected_host_without_report_fails(fleet_dir: Path) -> None:
    out = doctor("report", "merge", str(fleet_dir / "gpu1.json"), "--expect", "gpu1", "--expect", "gpu9", "--format", "json")
    assert out.returncode == 1
    hosts = {h["host"]: h for h in json.loads(out.stdout)["hosts"]}
    assert hosts["gpu9"]["gate"] == {"passed": False, "reasons": ["no report from this host"]}
    assert hosts["gpu1"]["gate"]["passed"] is True


def test_nothing_evaluated_host_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "idle.json", report("idle", [finding("host.kvm.device", "skip")]))
    out = doctor("report", "merge", str(path), "--format", "json")
    assert out.returncode == 1
    assert json.loads(out.stdout)["hosts"][0]["gate"]["reasons"] == [
        "nothing evaluated: no check produced pass, warn or fail"]


def test_two_reports_of_one_host_keep_the_later(tmp_path: Path) -> None:
    old = write(tmp_path, "a.json", report("gpu1", [finding("host.kvm.device", "fail")], started="2026-11-29T10:00:00+00:00"))
    new = write(tmp_path, "b.json", report("gpu1", [finding("host.kvm.device", "pass")], started="2026-11-30T10:00:00+00:00"))
    out = doctor("report", "merge", str(new), str(old), "--format", "json")
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert [h["report"] for h in data["hosts"]] == [str(new)]
    assert "using the later one" in data["notes"][0]


def test_console_table_and_recap(fleet_dir: Path) -> None:
    out = doctor("report", "merge", str(fleet_dir))
    lines = out.stdout.splitlines()
    row = {ln.split()[0]: ln.split()[1:] for ln in lines[3:7]}
    assert row == {"gpu1": ["pass", "ok", "ok"], "gpu2": ["FAIL", "FAIL", "ok"], "gpu3": ["pass", "FAIL", "WARN"],
                   "gpu4": ["FAIL", "-", "ERROR"]}
    assert lines[-1] == "fleet gate FAILED: 2 hosts of 4 failing (fail-on high, at most 0 allowed): gpu2, gpu4"


def test_one_merge_gives_the_table_and_the_json(fleet_dir: Path, tmp_path: Path) -> None:
    out = doctor("report", "merge", str(fleet_dir), "--json-output", str(tmp_path / "fleet.json"))
    assert out.returncode == 1
    assert out.stdout == doctor("report", "merge", str(fleet_dir)).stdout
    assert json.loads((tmp_path / "fleet.json").read_text()) == json.loads(
        doctor("report", "merge", str(fleet_dir), "--format", "json").stdout)


def test_junit_one_suite_per_host(fleet_dir: Path) -> None:
    from junitparser import JUnitXml

    out = doctor("report", "merge", str(fleet_dir), "--format", "junit")
    xml = JUnitXml.fromstring(out.stdout)
    suites = {s.name: s for s in xml}
    assert sorted(suites) == ["gpu1", "gpu2", "gpu3", "gpu4"]
    assert (suites["gpu2"].failures, suites["gpu4"].errors, suites["gpu1"].failures) == (1, 1, 0)


def test_prometheus_parses_with_bounded_host_label(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    path = write(tmp_path, "x.json", report('gpu "7"\nevil' + "x" * 100, [finding("host.kvm.device", "pass")]))
    out = doctor("report", "merge", str(path), "--format", "prometheus")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(out.stdout) for s in fam.samples}
    hosts = {dict(labels).get("host") for (_n, labels) in samples if dict(labels).get("host")}
    assert len(hosts) == 1
    (host,) = hosts
    assert len(host) == 63 and '"' not in host and "\n" not in host
    assert samples[("autoglm_doctor_fleet_gate_passed", ())] == 1.0


@pytest.mark.parametrize("data, message", [
    ({"schema_version": "2.0", "tool": {"name": "autoglm-doctor", "version": "3.0.0"}, "findings": []},
     "report schema 2.0 (tool 3.0.0) is not readable"),
    ({"tool": {"name": "other"}}, "not an autoglm-doctor JSON report"),
    ([1, 2], "top level is not an object"),
    (report("h", [{"check_id": "a.b.c", "status": "weird", "severity": "high"}]), "findings[0].status 'weird'"),
])
def test_incompatible_or_broken_reports_are_refused(tmp_path: Path, data: Any, message: str) -> None:
    path = write(tmp_path, "r.json", data)
    out = doctor("report", "merge", str(path))
    assert out.returncode == 2
    assert message in out.stderr and str(path) in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_newer_minor_schema_is_accepted(tmp_path: Path) -> None:
    data = report("h", [finding("host.kvm.device", "pass")], schema="1.7")
    data["some_future_field"] = {"x": 1}
    assert doctor("report", "merge", str(write(tmp_path, "r.json", data))).returncode == 0


def test_garbage_file_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b"\x00\xff" * 100)
    out = doctor("report", "merge", str(path))
    assert out.returncode == 2 and "not JSON" in out.stderr


SCENARIO_RUNS = [("host-healthy-intel", "host.kvm.*"), ("host-bios-virt-off", "host.cpu.*"), ("host-old-amd", "host.kernel.*")]


def test_merge_agrees_with_each_hosts_own_gate(tmp_path: Path) -> None:
    """Real reports from `check` on scenario snapshots: the fleet's per-host gate equals each run's exit code."""
    own_gate = {}
    for name, only in SCENARIO_RUNS:
        path = tmp_path / f"{name}.json"
        run = doctor("check", "--target", f"snapshot:{SCENARIOS / name}", "--only", only, "--format", "json",
                     "--output", str(path))
        assert run.returncode in (0, 1), run.stderr
        own_gate[json.loads(path.read_text()).get("hostname") or name] = run.returncode == 0
    out = doctor("report", "merge", str(tmp_path), "--format", "json")
    merged = {h["host"]: h["gate"]["passed"] for h in json.loads(out.stdout)["hosts"]}
    assert merged == own_gate
    assert set(own_gate.values()) == {True, False}  # the sample holds a passing and a failing host


# -- report diff -----------------------------------------------------------------------------
def test_diff_new_fixed_gone_changed(tmp_path: Path) -> None:
    old = write(tmp_path, "old.json", report("gpu1", [
        finding("host.kvm.device", "fail"), finding("host.bridge.present", "pass", resource="br0"),
        finding("host.bridge.stp", "fail", "medium", resource="br0"), finding("host.cgroup.controllers", "pass")]))
    new = write(tmp_path, "new.json", report("gpu1", [
        finding("host.kvm.device", "pass"), finding("host.bridge.present", "fail", "critical", resource="br0"),
        finding("host.cgroup.controllers", "warn", "low")]))
    out = doctor("report", "diff", str(old), str(new), "--format", "json")
    assert out.returncode == 1  # something new fails
    data = json.loads(out.stdout)
    assert [(c["check_id"], c["before"], c["after"]) for c in data["new_failures"]] == [("host.bridge.present", "pass", "fail")]
    assert [(c["check_id"], c["after"]) for c in data["fixed"]] == [("host.kvm.device", "pass")]
    assert [(c["check_id"], c["after"]) for c in data["gone"]] == [("host.bridge.stp", None)]
    assert [(c["check_id"], c["before"], c["after"]) for c in data["changed"]] == [("host.cgroup.controllers", "pass", "warn")]
    text = doctor("report", "diff", str(old), str(new)).stdout
    assert "new failures (1):\n  host.bridge.present [br0]: pass -> fail" in text


def test_diff_flapping_over_a_series(tmp_path: Path) -> None:
    series = [write(tmp_path, f"r{i}.json", report("gpu1", [finding("host.kvm.device", s), finding("host.cpu.virtualization", "pass")]))
              for i, s in enumerate(["pass", "fail", "pass", "pass"])]
    out = doctor("report", "diff", *map(str, series), "--format", "json")
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data["flapping"] == [{"target": "", "check_id": "host.kvm.device", "resource": "", "statuses": ["pass", "fail", "pass", "pass"]}]
    assert data["new_failures"] == [] and data["fixed"] == []


def test_diff_needs_two_reports(tmp_path: Path) -> None:
    one = write(tmp_path, "r.json", report("gpu1", []))
    out = doctor("report", "diff", str(one))
    assert out.returncode == 2 and "two or more reports" in out.stderr


def test_host_from_filename_names_hosts_by_inventory_name(tmp_path: Path) -> None:
    for name in ("web-a", "web-b"):
        write(tmp_path, f"{name}.json", report("same-hostname", [finding("host.kvm.device", "pass")]))
    by_report = json.loads(doctor("report", "merge", str(tmp_path), "--format", "json").stdout)
    by_file = json.loads(doctor("report", "merge", str(tmp_path), "--format", "json", "--host-from", "filename").stdout)
    assert [h["host"] for h in by_report["hosts"]] == ["same-hostname"]
    assert [h["host"] for h in by_file["hosts"]] == ["web-a", "web-b"]
