"""JUnit XML: a testsuite per area, a testcase per finding, valid against the schema CI servers check
reports with (Jenkins xunit's junit-10.xsd: ``<testsuites>`` carries name, time, tests, failures,
errors and disabled only — no ``skipped``; a testsuite carries properties, testcases, then
system-out/system-err).

A warning, and a fail below ``--fail-on``, does not fail the build but must be visible to CI: it is a
``<system-err>`` of its testcase and counted in the suite's ``warnings`` property — or, with
``--junit-warn-as failure``, a ``<failure type="warning">``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from autoglm_doctor.model import Finding, Report, Severity, Status
from autoglm_doctor.redact import redact
from autoglm_doctor.render.common import area, finding_target, gate_result


def _detail(f: Finding, message: str) -> str:
    lines = [message]
    if f.remediation:
        lines.append(f"remediation: {redact(f.remediation)}")
    if f.fix_id:
        lines.append(f"plan: autoglm-doctor fix --fix {f.fix_id}")
    return "\n".join(lines)


def _case(suite: ET.Element, f: Finding, fail_on: Severity, warn_as: str, counts: dict[str, int]) -> None:
    target = finding_target(f)
    name = f.check_id + (f"[{f.resource}]" if f.resource else "") + (f"@{target}" if target else "")
    case = ET.SubElement(suite, "testcase", classname=f.check_id, name=redact(name), time=f"{f.duration_ms / 1000:.3f}")
    message = redact(f.message)
    counts["tests"] += 1
    if f.ignored:
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=f"ignored: {f.ignore_reason}").text = message
    elif f.status is Status.ERROR:
        counts["errors"] += 1
        ET.SubElement(case, "error", message=message, type="error").text = _detail(f, message)
    elif f.status is Status.PENDING_REBOOT and f.gates(fail_on):
        counts["failures"] += 1
        ET.SubElement(case, "failure", message=message, type="pending-reboot").text = _detail(f, message)
    elif f.status is Status.FAIL and f.gates(fail_on):
        counts["failures"] += 1
        ET.SubElement(case, "failure", message=message, type=f.severity.value).text = _detail(f, message)
    elif f.status is Status.SKIP:
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=message)
    elif f.status is not Status.PASS:  # a warning, a fail below the gate, or any later status
        counts["warnings"] += 1
        kind = f"{f.status.value} ({f.severity.value})"
        if warn_as == "failure":
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=f"{kind}: {message}", type="warning").text = _detail(f, message)
        else:
            ET.SubElement(case, "system-err").text = f"{kind.upper()}: {_detail(f, message)}"


def render_junit(report: Report, fail_on: Severity = Severity.HIGH, junit_warn_as: str = "system-err",
                 **_: Any) -> str:
    suites = ET.Element("testsuites", name="autoglm-doctor", time=f"{report.duration_ms / 1000:.3f}")
    by_area: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_area.setdefault(area(f), []).append(f)
    gate = gate_result(report, fail_on)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for name, findings in sorted(by_area.items()):
        suite = ET.SubElement(suites, "testsuite", name=name, timestamp=report.started_at[:19])
        if report.hostname:
            suite.set("hostname", report.hostname)
        props = ET.SubElement(suite, "properties")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "warnings": 0}
        for f in findings:
            _case(suite, f, fail_on, junit_warn_as, counts)
        for key, value in (("target", report.target), ("run_id", report.run_id),
                           ("tool_version", report.tool_version), ("fail_on", fail_on.value),
                           ("gate_passed", str(gate["passed"]).lower()), ("warnings", str(counts["warnings"]))):
            ET.SubElement(props, "property", name=key, value=redact(value))
        for key in ("tests", "failures", "errors", "skipped"):
            suite.set(key, str(counts[key]))
        for key in totals:
            totals[key] += counts[key]
        suite.set("time", f"{sum(f.duration_ms for f in findings) / 1000:.3f}")
    for key, total in totals.items():
        suites.set(key, str(total))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
