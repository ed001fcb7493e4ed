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
    assert json_report["gate"]["passed"] is False and json_report["gate"]["fail_on"] == "high"
    reasons = json_report["gate"]["reasons"]
    assert len(reasons) == 7 and reasons[0] == {"check_id": "host.kvm.device", "resource": "/dev/kvm",
                                               "status": "fail", "severity": "critical"}
    manifest = json.loads((ROOT / "tests/scenarios/host-old-amd/.autoglm-doctor/manifest.json").read_text())
    assert json_report["hostname"] == (manifest.get("hostname") or "")
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
    report = json.loads((tmp_path / "r.json").read_text())
    validate(report)
    import socket

    assert report["hostname"] == socket.gethostname()
    assert report["gate"]["passed"] is (out.returncode == 0)


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


JUNIT_XSD = ROOT / "tests" / "schemas" / "junit-10.xsd"


def junit_of(tmp_path, *extra):
    path = tmp_path / "r.xml"
    out = doctor("check", "--target", f"snapshot:{SNAP}", "--format", "junit", "--output", str(path), *HOST_BASICS,
                 *extra)
    assert out.returncode == 1, out.stderr
    return path


def test_junit_is_valid_against_the_xunit_schema_with_hostname_and_visible_warnings(tmp_path):
    import xml.etree.ElementTree as ET

    import xmlschema

    path = junit_of(tmp_path)
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(path))  # raises with the reason when invalid
    root = ET.parse(path).getroot()
    assert "skipped" not in root.attrib
    manifest = json.loads((ROOT / "tests/scenarios/host-old-amd/.autoglm-doctor/manifest.json").read_text())
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    expected_host = manifest.get("hostname") or ""
    assert all(s.get("hostname", "") == expected_host for s in suites.values())
    swap = next(c for c in root.iter("testcase") if c.get("name") == "host.resources.swap[swap]")
    err = swap.find("system-err")
    assert err is not None and err.text.startswith("WARN (MEDIUM): ") and "swap in use" in err.text
    props = {p.get("name"): p.get("value") for p in suites["host.resources"].iter("property")}
    assert props["warnings"] == "1" and props["gate_passed"] == "false" and props["fail_on"] == "high"


def test_junit_warn_as_failure_makes_warnings_failed_tests(tmp_path):
    import xml.etree.ElementTree as ET

    import xmlschema

    path = junit_of(tmp_path, "--junit-warn-as", "failure")
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(path))
    root = ET.parse(path).getroot()
    swap = next(c for c in root.iter("testcase") if c.get("name") == "host.resources.swap[swap]")
    assert swap.find("failure").get("type") == "warning"
    warns = sum(1 for c in root.iter("testcase") if c.find("failure") is not None
                and c.find("failure").get("type") == "warning")
    assert warns == 5 and int(root.get("failures")) == 7 + 5


def test_junit_hostname_is_the_machine_for_a_live_run(tmp_path):
    import socket
    import xml.etree.ElementTree as ET

    path = tmp_path / "r.xml"
    doctor("check", "--only", "host.kvm.*", "--format", "junit", "--output", str(path))
    hosts = {s.get("hostname") for s in ET.parse(path).getroot().iter("testsuite")}
    assert hosts == {socket.gethostname()}


def promtool(text: str) -> str:
    import shutil
    import subprocess

    exe = shutil.which("promtool")
    assert exe, "promtool is missing: .ci/services.sh installs Debian's prometheus package"
    proc = subprocess.run([exe, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_prometheus_parses_with_prometheus_client_and_promtool():
    out = doctor("check", "--target", f"snapshot:{SNAP}", "--format", "prometheus", *HOST_BASICS)
    assert promtool(out.stdout) == ""
    families = {f.name: f for f in text_string_to_metric_families(out.stdout)}
    status = families["autoglm_doctor_check_status"]
    by_key = {(s.labels["check_id"], s.labels["resource"]): s.value for s in status.samples}
    assert by_key[("host.kvm.device", "/dev/kvm")] == 2
    assert by_key[("host.resources.swap", "swap")] == 1
    assert by_key[("host.kvm.vhost_net", "/dev/vhost-net")] == 1
    # stable series: no run id anywhere, the status only as the value
    for family in families.values():
        for sample in family.samples:
            assert "run_id" not in sample.labels and "status" not in sample.labels or family.name == \
                "autoglm_doctor_findings", sample
    findings = {(s.labels["severity"], s.labels["status"]): s.value for s in families["autoglm_doctor_findings"].samples}
    assert len(findings) == 5 * 6  # every severity x status combination, zeros too: series do not come and go
    assert sum(v for (sev, st), v in findings.items() if st == "fail") == 7
    assert findings[("critical", "fail")] == 1  # /dev/kvm
    assert families["autoglm_doctor_gate_passed"].samples[0].value == 0
    assert families["autoglm_doctor_last_run_timestamp_seconds"].samples[0].value > 1.7e9
    durations = {s.labels["check_id"] for s in families["autoglm_doctor_check_duration_seconds"].samples}
    assert "host.kvm.device" in durations
    assert "autoglm_doctor_run_duration_seconds" in families


def test_prometheus_series_are_identical_across_runs_and_resources_are_ids():
    from autoglm_doctor.model import Finding, Report, Severity, Status
    from autoglm_doctor.render.prometheus import render_prometheus, resource_id

    def series(run_id: str) -> set[str]:
        out = doctor("check", "--target", f"snapshot:{SNAP}", "--format", "prometheus", *HOST_BASICS)
        return {line.rsplit(" ", 1)[0] for line in out.stdout.splitlines()
                if not line.startswith("#") and "timestamp" not in line and "duration" not in line}

    assert series("a") == series("b")
    assert resource_id("http://user:pw@127.0.0.1:8000/v1/models?x=1") == "127.0.0.1:8000"
    assert resource_id("model server (image matching vllm|sglang)") == "model_server_image_matching_vllm_sglang"
    assert len(resource_id("x" * 500)) == 64
    f = Finding("container.deploy.model_endpoint", Status.FAIL, Severity.CRITICAL, "t", "m",
                resource="http://127.0.0.1:8000/v1/models")
    text = render_prometheus(Report("0.1.0", "local", "0123456789ab", "2026-01-01T00:00:00+00:00", 1.0, (f,)))
    assert promtool(text) == ""
    assert 'resource="127.0.0.1:8000"' in text and "/v1/models" not in text


def test_console_puts_failures_first_with_fixes_and_collapses_passes():
    out = doctor("check", "--target", f"snapshot:{SNAP}", *HOST_BASICS, env={"NO_COLOR": "1"})
    text = out.stdout
    assert "\x1b[" not in text
    lines = text.splitlines()
    problems = [line for line in lines if line.startswith(("FAIL ", "ERROR", "WARN "))]
    assert problems[0] == "FAIL  critical host.kvm.device [/dev/kvm]"
    ranks = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    keys = [(line.startswith("WARN"), ranks[line.split()[1]], line.split()[2].rsplit(".", 1)[0]) for line in problems]
    assert keys == sorted(keys), problems
    assert len(problems) == 7 + 5
    assert "      fix: give /dev/kvm to group kvm" in text
    assert "      plan: autoglm-doctor fix --fix fix.kvm.device_access" in text
    assert not any(line.lstrip().startswith(("PASS", "SKIP")) for line in lines)  # collapsed, not listed
    area_lines = [line for line in lines if line.startswith("host.")]
    assert area_lines == ["host.cgroup     ✓ 7 passed, 1 failed, 1 warning", "host.cpu        ✓ 1 passed",
                          "host.kernel     ✓ 17 passed, 1 failed, 2 warnings", "host.kvm        · 2 failed, 1 warning",
                          "host.resources  ✓ 1 passed, 3 failed, 1 warning"]
    assert lines[-2].startswith("38 findings: 26 pass, 5 warn, 7 fail, 0 error, 0 skip, 0 ignored")
    assert lines[-2].endswith("GATE FAILED (7 failures at or above high)")
    assert lines[-1] == "1 critical, 6 high and 5 warnings in 4 areas — run `autoglm-doctor fix` to see the plans"


def test_console_verbose_lists_everything_and_quiet_only_failures():
    loud = doctor("check", "--target", f"snapshot:{SNAP}", *HOST_BASICS, "-v", env={"NO_COLOR": "1"}).stdout
    assert sum(1 for line in loud.splitlines() if line.startswith("  PASS  ")) == 26
    quiet = doctor("check", "--target", f"snapshot:{SNAP}", *HOST_BASICS, "-q", env={"NO_COLOR": "1"}).stdout
    labels = [line.split()[0] for line in quiet.splitlines() if line.startswith(("FAIL", "WARN", "ERROR", "PASS"))]
    assert labels == ["FAIL"] * 7
    assert "✓" not in quiet and quiet.splitlines()[-1].startswith("1 critical")


def test_console_grammar_singular_and_plural():
    from autoglm_doctor.model import Finding, Report, Severity, Status
    from autoglm_doctor.render.console import render_console

    one = Finding("host.kvm.device", Status.FAIL, Severity.CRITICAL, "t", "m", resource="/dev/kvm", fix_id="fix.x")
    text = render_console(Report("0.1.0", "local", "0123456789ab", "2026-01-01T00:00:00+00:00", 1.0, (one,)))
    assert "1 finding: " in text and "1 findings" not in text
    assert "GATE FAILED (1 failure at or above high)" in text
    assert text.splitlines()[-1] == "1 critical in 1 area — run `autoglm-doctor fix` to see the plans"
    ok = Finding("host.kvm.device", Status.PASS, Severity.CRITICAL, "t", "m")
    text = render_console(Report("0.1.0", "local", "0123456789ab", "2026-01-01T00:00:00+00:00", 1.0, (ok,)))
    assert "host.kvm  ✓ 1 passed" in text and text.splitlines()[-1].startswith("nothing to fix: 1 finding")


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
