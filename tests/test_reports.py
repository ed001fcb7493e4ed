"""Reports: JSON valid against the published schema, JUnit parsed by a real JUnit parser, Prometheus text
parsed by prometheus_client, secrets redacted, console grouped with a summary."""

import json

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import ROOT, doctor

SCHEMA = json.loads((ROOT / "autoglm_doctor" / "schema" / "report.schema.json").read_text())
SNAP = str(ROOT / "tests" / "scenarios" / "host-old-amd")
HOST_BASICS = ["--only", "host.kernel.*", "--only", "host.cpu.*", "--only", "host.kvm.*", "--only", "host.cgroup.*",
               "--only", "host.resources.*"]


def validate(report: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(report)


@pytest.fixture(scope="module")
def json_report():
    out = doctor("check", "--target", f"snapshot:{SNAP}", "--format", "json", *HOST_BASICS)
    assert out.returncode == 1, out.stderr
    return json.loads(out.stdout)


def test_json_report_matches_schema_and_counts(json_report):
    validate(json_report)
    counts = {s: sum(1 for f in json_report["findings"] if f["status"] == s) for s in ("pass", "warn", "fail", "error", "skip")}
    assert {k: json_report["summary"][k] for k in counts} == counts
    assert json_report["target"] == f"snapshot:{SNAP}"
    kvm = next(f for f in json_report["findings"] if f["check_id"] == "host.kvm.device")
    assert kvm["status"] == "fail" and kvm["fix_id"] == "fix.kvm.device_access"
    assert kvm["evidence"]["observed"] == "crw------- root:root"
    assert kvm["remediation"]


def test_json_report_of_live_host_matches_schema(tmp_path):
    out = doctor("check", "--format", "json", "--output", str(tmp_path / "r.json"))
    assert out.returncode in (0, 1), out.stderr
    assert out.stdout == ""
    validate(json.loads((tmp_path / "r.json").read_text()))


def test_junit_parses_with_a_real_junit_parser(tmp_path):
    out = doctor("check", "--target", f"snapshot:{SNAP}", "--format", "junit", "--output", str(tmp_path / "r.xml"), *HOST_BASICS)
    assert out.returncode == 1
    xml = JUnitXml.fromfile(str(tmp_path / "r.xml"))
    cases = {c.name: c for suite in xml for c in suite}
    kvm = cases["host.kvm.device[/dev/kvm]"]
    assert any(isinstance(r, Failure) for r in kvm.result)
    mem = cases["host.resources.memory[memory]"]
    assert any(isinstance(r, Failure) for r in mem.result)
    swap = cases["host.resources.swap[swap]"]  # a warn is not a JUnit failure
    assert not swap.result
    assert xml.failures == 7 and xml.errors == 0
    assert any(isinstance(r, Skipped) for r in cases["host.resources.disk[/var/lib/docker]"].result) is False
    assert not any(isinstance(r, Error) for c in cases.values() for r in c.result)


def test_prometheus_parses_with_prometheus_client():
    out = doctor("check", "--target", f"snapshot:{SNAP}", "--format", "prometheus", *HOST_BASICS)
    families = {f.name: f for f in text_string_to_metric_families(out.stdout)}
    status = families["autoglm_doctor_check_status"]
    by_key = {(s.labels["check_id"], s.labels["resource"]): s.value for s in status.samples}
    assert by_key[("host.kvm.device", "/dev/kvm")] == 2
    assert by_key[("host.resources.swap", "swap")] == 1
    assert by_key[("host.kvm.vhost_net", "/dev/vhost-net")] == 1
    findings = {s.labels["status"]: s.value for s in families["autoglm_doctor_findings"].samples}
    assert findings["fail"] == 7
    assert "autoglm_doctor_run_duration_seconds" in families


def test_console_groups_by_area_with_remediation_and_summary():
    out = doctor("check", "--target", f"snapshot:{SNAP}", *HOST_BASICS, env={"NO_COLOR": "1"})
    text = out.stdout
    assert "\x1b[" not in text
    areas = [line for line in text.splitlines() if line and not line.startswith(" ") and line.startswith("host.")]
    assert areas == sorted(areas) and "host.kvm" in areas and "host.resources" in areas
    assert "  FAIL  host.kvm.device [/dev/kvm] (critical)" in text
    assert "fix: give /dev/kvm to group kvm" in text
    assert "plan: autoglm-doctor fix --fix fix.kvm.device_access" in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("38 findings: 26 pass, 5 warn, 7 fail, 0 error, 0 skip, 0 ignored")
    assert "GATE FAILED" in last


def test_color_only_when_asked_and_never_with_no_color():
    coloured = doctor("check", "--target", f"snapshot:{SNAP}", "--only", "host.kvm.*", "--color", "always")
    assert "\x1b[" in coloured.stdout
    plain = doctor("check", "--target", f"snapshot:{SNAP}", "--only", "host.kvm.*", "--color", "always", env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain.stdout


def test_secrets_are_redacted_in_every_format():
    from autoglm_doctor.model import Finding, Report, Severity, Status
    from autoglm_doctor.render import renderer

    f = Finding("x.y.z", Status.FAIL, Severity.HIGH, "t", "endpoint said token=abc123secret Authorization: Bearer abcdefghijkl",
                observed={"env": "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123"})
    report = Report("0.1.0", "local", "0123456789ab", "2026-01-01T00:00:00+00:00", 1.0, (f,))
    for fmt in ("json", "junit", "console"):
        text = renderer(fmt)(report)
        assert "abc123secret" not in text and "abcdefghijkl" not in text, fmt
        assert "hf_abcdefghijklmnop" not in text or fmt != "json", fmt
        assert "***REDACTED***" in text


def test_structlog_lines_carry_the_report_run_id():
    out = doctor("check", "--target", f"snapshot:{SNAP}", "--format", "json", "--log-level", "info", *HOST_BASICS)
    report = json.loads(out.stdout)
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert lines and all(line["run_id"] == report["run_id"] for line in lines)
    assert {"run_start", "run_end"} <= {line["event"] for line in lines}
