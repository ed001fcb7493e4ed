"""Reading reports written by ``check --format json``, from any compatible tool version.

A report is accepted when it says it is an autoglm-doctor report and its schema's major version is
one this tool reads; a newer minor version only adds fields, which are ignored. Anything else is
refused with a one-line reason naming the file: a fleet gate must never pass because a report was
silently skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

READABLE_MAJORS = (1,)
MAX_REPORT_BYTES = 64 * 1024 * 1024
STATUSES = ("pass", "warn", "fail", "error", "skip", "pending_reboot")
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
FAILING = ("fail", "error", "pending_reboot")


class ReportError(ValueError):
    """A report that cannot be used: unreadable, not a report, or an incompatible schema."""


@dataclass(frozen=True)
class HostFinding:
    check_id: str
    status: str
    severity: str
    resource: str
    message: str
    target: str = ""
    ignored: bool = False

    @property
    def area(self) -> str:
        return ".".join(self.check_id.split(".")[:2])

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.target, self.check_id, self.resource)

    def gates(self, fail_on: str) -> bool:
        if self.ignored:
            return False
        if self.status == "error":
            return True
        return self.status in ("fail", "pending_reboot") and SEVERITY_RANK[self.severity] >= SEVERITY_RANK[fail_on]


@dataclass(frozen=True)
class HostReport:
    host: str
    path: str
    schema_version: str
    tool_version: str
    started_at: str
    run_id: str
    findings: tuple[HostFinding, ...] = field(default_factory=tuple)

    def gate_reasons(self, fail_on: str) -> list[str]:
        reasons = [f"{f.check_id}{' [' + f.resource + ']' if f.resource else ''}: {f.status}"
                   for f in self.findings if f.gates(fail_on)]
        if not any(f.status in ("pass", "warn", "fail", "pending_reboot") for f in self.findings):
            reasons.append("nothing evaluated: no check produced pass, warn or fail")
        return reasons

    def passed(self, fail_on: str) -> bool:
        return not self.gate_reasons(fail_on)


def _text(value: Any, what: str, path: str) -> str:
    if not isinstance(value, str):
        raise ReportError(f"{path}: {what} is {type(value).__name__}, not a string")
    return value


def _finding(raw: Any, path: str, index: int) -> HostFinding:
    where = f"findings[{index}]"
    if not isinstance(raw, dict):
        raise ReportError(f"{path}: {where} is not an object")
    status = _text(raw.get("status"), f"{where}.status", path)
    severity = _text(raw.get("severity"), f"{where}.severity", path)
    if status not in STATUSES:
        raise ReportError(f"{path}: {where}.status {status!r} is not one of {', '.join(STATUSES)}")
    if severity not in SEVERITY_RANK:
        raise ReportError(f"{path}: {where}.severity {severity!r} is unknown")
    return HostFinding(
        check_id=_text(raw.get("check_id"), f"{where}.check_id", path),
        status=status,
        severity=severity,
        resource=_text(raw.get("resource", ""), f"{where}.resource", path),
        message=_text(raw.get("message", ""), f"{where}.message", path),
        target=_text(raw.get("target", "") or "", f"{where}.target", path),
        ignored=raw.get("ignored") is True,
    )


def parse_report(data: Any, path: str, *, host_from: str = "report") -> HostReport:
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not an autoglm-doctor JSON report (top level is not an object)")
    tool = data.get("tool")
    if not isinstance(tool, dict) or tool.get("name") != "autoglm-doctor":
        raise ReportError(f"{path}: not an autoglm-doctor JSON report (no tool.name 'autoglm-doctor')")
    version = data.get("schema_version")
    if not isinstance(version, str) or not version.split(".")[0].isdigit():
        raise ReportError(f"{path}: report has no schema_version")
    major = int(version.split(".")[0])
    if major not in READABLE_MAJORS:
        raise ReportError(f"{path}: report schema {version} (tool {tool.get('version')}) is not readable by this "
                          f"tool, which reads schema {'/'.join(f'{m}.x' for m in READABLE_MAJORS)}: merge reports "
                          "of one major version, or upgrade the controller's autoglm-doctor")
    findings = data.get("findings")
    if not isinstance(findings, list):
        raise ReportError(f"{path}: findings is not a list")
    host = data.get("hostname") if host_from == "report" else None
    if not isinstance(host, str) or not host:
        host = os.path.basename(path).removesuffix(".json")
    return HostReport(
        host=host,
        path=path,
        schema_version=version,
        tool_version=str(tool.get("version", "")),
        started_at=str(data.get("started_at", "")),
        run_id=str(data.get("run_id", "")),
        findings=tuple(_finding(f, path, i) for i, f in enumerate(findings)),
    )


def load_report(path: str, *, host_from: str = "report") -> HostReport:
    try:
        with open(path, "rb") as fh:
            if not os.path.isfile(path):
                raise ReportError(f"{path}: not a regular file")
            raw = fh.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_REPORT_BYTES:
        raise ReportError(f"{path}: larger than {MAX_REPORT_BYTES // (1024 * 1024)} MiB; not a report")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ReportError(f"{path}: not JSON ({' '.join(str(exc).split())[:120]})") from exc
    return parse_report(data, path, host_from=host_from)


def expand(paths: list[str]) -> list[str]:
    """Files as given; a directory contributes its *.json files (sorted), not recursively."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(p, n) for n in os.listdir(p) if n.endswith(".json"))
            if not found:
                raise ReportError(f"{p}: directory holds no *.json report")
            out.extend(found)
        else:
            out.append(p)
    return out
