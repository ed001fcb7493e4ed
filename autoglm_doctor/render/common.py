"""What every renderer says the same way: areas, plurals, the order findings are shown in and the gate
result (passed, the threshold and the findings that failed it)."""

from __future__ import annotations

from typing import Any

from autoglm_doctor.model import Finding, Report, Severity, Status

# Shown first: what breaks the deployment, then what degrades it; passes and skips are summarised.
_STATUS_ORDER = {Status.ERROR: 0, Status.FAIL: 0, Status.WARN: 1}
QUIET_STATUSES = (Status.PASS, Status.SKIP)


def area(f: Finding) -> str:
    return ".".join(f.check_id.split(".")[:2])


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 finding``, ``2 findings``; ``many`` for irregular plurals."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def is_problem(f: Finding) -> bool:
    """A finding the reader has to look at: anything but a pass or a skip (a status added later, such
    as a pending reboot, is shown rather than hidden)."""
    return f.status not in QUIET_STATUSES


def problem_order(f: Finding) -> tuple[Any, ...]:
    """Failures and errors before warnings (and any other status), each by severity, then area."""
    return (_STATUS_ORDER.get(f.status, 2), -f.severity.rank, area(f), f.check_id, f.resource)


def finding_target(f: Finding) -> str:
    """The target a finding was made on, when the report spans several (multi-target runs)."""
    return str(getattr(f, "target", "") or "")


def gate_result(report: Report, fail_on: Severity) -> dict[str, Any]:
    failures = report.gate_failures(fail_on)
    return {
        "passed": not failures and report.evaluated,  # a run that evaluated nothing cannot pass
        "evaluated": report.evaluated,
        "fail_on": fail_on.value,
        "reasons": [
            {"check_id": f.check_id, "resource": f.resource, "status": f.status.value, "severity": f.severity.value}
            for f in sorted(failures, key=problem_order)
        ],
    }
