"""Prometheus text exposition format, for node_exporter's textfile collector."""

from __future__ import annotations

from typing import Any

from autoglm_doctor.model import Report, Status

STATUS_VALUE = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3, Status.SKIP: -1}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_prometheus(report: Report, **_: Any) -> str:
    lines = [
        "# HELP autoglm_doctor_check_status Finding status: 0 pass, 1 warn, 2 fail, 3 error, -1 skip.",
        "# TYPE autoglm_doctor_check_status gauge",
    ]
    seen = set()
    for f in report.findings:
        key = (f.check_id, f.resource)
        if key in seen:  # one series per (check, resource): the first, worst-ordered finding wins
            continue
        seen.add(key)
        labels = (
            f'check_id="{_label(f.check_id)}",resource="{_label(f.resource)}",'
            f'severity="{f.severity.value}",status="{f.status.value}",ignored="{str(f.ignored).lower()}"'
        )
        lines.append(f"autoglm_doctor_check_status{{{labels}}} {STATUS_VALUE[f.status]}")
    lines += [
        "# HELP autoglm_doctor_findings Findings per status in the last run.",
        "# TYPE autoglm_doctor_findings gauge",
    ]
    counts = report.counts()
    for status in Status:
        lines.append(f'autoglm_doctor_findings{{status="{status.value}"}} {counts[status.value]}')
    lines += [
        "# HELP autoglm_doctor_run_duration_seconds Wall time of the last run.",
        "# TYPE autoglm_doctor_run_duration_seconds gauge",
        f"autoglm_doctor_run_duration_seconds {report.duration_ms / 1000:.3f}",
        "# HELP autoglm_doctor_info Tool version, target and run id of the last run.",
        "# TYPE autoglm_doctor_info gauge",
        f'autoglm_doctor_info{{version="{_label(report.tool_version)}",target="{_label(report.target)}",'
        f'run_id="{_label(report.run_id)}"}} 1',
    ]
    return "\n".join(lines) + "\n"
