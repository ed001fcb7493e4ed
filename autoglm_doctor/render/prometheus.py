"""Prometheus text exposition format, for node_exporter's textfile collector.

Series must stay the same from run to run, or every run mints new ones: there is no run id label, the
status is the value (never also a label), and ``resource`` is an identifier (a URL becomes its
host:port, free text a slug, both bounded in length). A run is described by
``autoglm_doctor_last_run_timestamp_seconds``, ``autoglm_doctor_gate_passed``, the
``autoglm_doctor_findings{severity,status}`` counts (every combination, zeros included) and each
check's duration. Output passes ``promtool check metrics``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

from autoglm_doctor.model import Finding, Report, Severity, Status
from autoglm_doctor.redact import redact
from autoglm_doctor.render.common import finding_target, gate_result

STATUS_VALUE = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3, Status.SKIP: -1, Status.PENDING_REBOOT: 4}
# when two findings share (check, resource), the worse one is the series' value
_BADNESS = {Status.ERROR: 5, Status.FAIL: 4, Status.PENDING_REBOOT: 3, Status.WARN: 2, Status.PASS: 1, Status.SKIP: 0}
MAX_RESOURCE = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/@\[\]-]+")


def status_values() -> dict[Status, int]:
    """0 pass, 1 warn, 2 fail, 3 error, -1 skip; statuses added later get 4, 5, … in declaration order."""
    values = dict(STATUS_VALUE)
    for status in Status:
        if status not in values:
            values[status] = max(values.values()) + 1
    return values


def resource_id(resource: str) -> str:
    """A bounded, stable label value: URLs reduce to host:port (never credentials, paths or queries),
    free text to a slug."""
    text = resource.strip()
    if "://" in text:
        parts = urlsplit(text)
        host = parts.hostname or ""
        text = f"{host}:{parts.port}" if parts.port else host
    text = re.sub(r"_*([:/@])_*", r"\1", _UNSAFE.sub("_", text)).strip("_")
    return text[:MAX_RESOURCE]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**pairs: str) -> str:
    return ",".join(f'{k}="{_label(v)}"' for k, v in pairs.items())


def _finished_at(report: Report) -> float:
    try:
        started = dt.datetime.fromisoformat(report.started_at)
    except ValueError:
        return 0.0
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.timezone.utc)
    return started.timestamp() + report.duration_ms / 1000


def _metric(lines: list[str], name: str, help_text: str, samples: list[tuple[str, float | int | str]]) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        lines.append(f"{name}{{{labels}}} {value}" if labels else f"{name} {value}")


def render_prometheus(report: Report, fail_on: Severity = Severity.HIGH, **_: Any) -> str:
    values = status_values()
    multi = any(finding_target(f) for f in report.findings)
    worst: dict[tuple[str, str, str], Finding] = {}
    durations: dict[str, float] = {}
    for f in report.findings:
        key = (finding_target(f), f.check_id, resource_id(f.resource))
        kept = worst.get(key)
        if kept is None or _BADNESS.get(f.status, 3) > _BADNESS.get(kept.status, 3):
            worst[key] = f
        durations[f.check_id] = max(durations.get(f.check_id, 0.0), f.duration_ms / 1000)

    def series(key: tuple[str, str, str], **extra: str) -> str:
        target, check_id, resource = key
        pairs = {"target": target} if multi else {}
        return _labels(**pairs, check_id=check_id, resource=resource, **extra)

    meaning = ", ".join(f"{v} {s.value}" for s, v in sorted(values.items(), key=lambda kv: kv[1]))
    lines: list[str] = []
    _metric(lines, "autoglm_doctor_check_status", f"Verdict of a check on a resource in the last run: {meaning}.",
            [(series(k, severity=f.severity.value), values[f.status]) for k, f in sorted(worst.items())])
    _metric(lines, "autoglm_doctor_check_ignored",
            "1 for a verdict muted by an [[ignore]] of the configuration (absent otherwise).",
            [(series(k), 1) for k, f in sorted(worst.items()) if f.ignored])
    _metric(lines, "autoglm_doctor_check_duration_seconds", "Wall time of each check in the last run.",
            [(_labels(check_id=c), f"{d:.3f}") for c, d in sorted(durations.items())])
    counts = {(sev, st): 0 for sev in Severity for st in Status}
    for f in report.findings:
        counts[(f.severity, f.status)] += 1
    _metric(lines, "autoglm_doctor_findings", "Findings of the last run per severity and status.",
            [(_labels(severity=sev.value, status=st.value), n) for (sev, st), n in counts.items()])
    gate = gate_result(report, fail_on)
    _metric(lines, "autoglm_doctor_gate_passed",
            "1 when the last run passed the gate (no fail at or above fail_on, no error), else 0.",
            [("", int(gate["passed"]))])
    _metric(lines, "autoglm_doctor_last_run_timestamp_seconds", "When the last run finished (Unix time).",
            [("", f"{_finished_at(report):.3f}")])
    _metric(lines, "autoglm_doctor_run_duration_seconds", "Wall time of the last run.",
            [("", f"{report.duration_ms / 1000:.3f}")])
    _metric(lines, "autoglm_doctor_info", "Tool version, target, host name and gate threshold of the last run.",
            [(_labels(version=report.tool_version, target=redact(report.target), hostname=report.hostname,
                      fail_on=fail_on.value), 1)])
    return "\n".join(lines) + "\n"
