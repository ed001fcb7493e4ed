"""The JSON report (schema: autoglm_doctor/schema/report.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from autoglm_doctor.model import Finding, Report, Severity
from autoglm_doctor.redact import redact
from autoglm_doctor.render.common import gate_result

# 1.1: hostname and gate; 1.2: status "pending_reboot", summary.pending_reboot, finding.staged_by;
# 1.3: targets, and each finding's target
SCHEMA_VERSION = "1.3"


def finding_dict(f: Finding, target: str = "") -> dict[str, Any]:
    return {
        "check_id": f.check_id,
        "status": f.status.value,
        "severity": f.severity.value,
        "title": f.title,
        "message": redact(f.message),
        "resource": f.resource,
        "evidence": redact({"observed": f.observed, "expected": f.expected}),
        "remediation": redact(f.remediation),
        "fix_id": f.fix_id,
        "duration_ms": f.duration_ms,
        "ignored": f.ignored,
        "ignore_reason": f.ignore_reason,
        "staged_by": f.staged_by,
        "target": f.target or target,
    }


def report_dict(report: Report, fail_on: Severity = Severity.HIGH) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "autoglm-doctor", "version": report.tool_version},
        "target": report.target,
        "targets": list(report.targets or (report.target,)),
        "hostname": report.hostname,
        "run_id": report.run_id,
        "started_at": report.started_at,
        "duration_ms": report.duration_ms,
        "summary": report.counts(),
        "gate": gate_result(report, fail_on),
        "notes": list(report.notes),
        "findings": [finding_dict(f, report.target) for f in report.findings],
    }


def render_json(report: Report, fail_on: Severity = Severity.HIGH, **_: Any) -> str:
    return json.dumps(report_dict(report, fail_on), indent=2, default=str) + "\n"
