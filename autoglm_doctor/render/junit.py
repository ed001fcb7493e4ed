"""JUnit XML: a testsuite per area, a testcase per finding."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from autoglm_doctor.model import Report, Severity, Status
from autoglm_doctor.redact import redact


def render_junit(report: Report, fail_on: Severity = Severity.HIGH, **_: Any) -> str:
    suites = ET.Element("testsuites", name="autoglm-doctor", time=f"{report.duration_ms / 1000:.3f}")
    by_area: dict[str, list] = {}
    for f in report.findings:
        by_area.setdefault(".".join(f.check_id.split(".")[:2]), []).append(f)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for area, findings in sorted(by_area.items()):
        suite = ET.SubElement(suites, "testsuite", name=area, timestamp=report.started_at,
                              hostname=report.target)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for f in findings:
            counts["tests"] += 1
            name = f.check_id + (f"[{f.resource}]" if f.resource else "")
            case = ET.SubElement(suite, "testcase", classname=f.check_id, name=name,
                                 time=f"{f.duration_ms / 1000:.3f}")
            message = redact(f.message)
            detail = "\n".join(x for x in (message, f"remediation: {f.remediation}" if f.remediation else "") if x)
            if f.ignored:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"ignored: {f.ignore_reason}").text = message
            elif f.status is Status.ERROR:
                counts["errors"] += 1
                ET.SubElement(case, "error", message=message, type="error").text = detail
            elif f.status is Status.FAIL and f.gates(fail_on):
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=message, type=f.severity.value).text = detail
            elif f.status is Status.SKIP:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=message)
            elif f.status in (Status.WARN, Status.FAIL):
                ET.SubElement(case, "system-out").text = f"{f.status.value} ({f.severity.value}): {detail}"
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{sum(f.duration_ms for f in findings) / 1000:.3f}")
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
