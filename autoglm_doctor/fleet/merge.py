"""``report merge``: one fleet view from many hosts' reports, and the fleet gate.

A host fails the gate by the same rule ``check`` uses (an error, or a fail at or above ``fail_on``,
or nothing evaluated); the fleet passes while at most ``max_failing_hosts`` hosts fail. A host that
was expected but sent no report fails: silence is not health.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autoglm_doctor.fleet.load import HostFinding, HostReport

# worst first when a cell holds several statuses
STATUS_RANK = {"skip": 0, "pass": 1, "warn": 2, "pending_reboot": 3, "fail": 4, "error": 5}


@dataclass(frozen=True)
class HostRow:
    host: str
    report: HostReport | None
    reasons: tuple[str, ...]
    cells: dict[str, str] = field(default_factory=dict)  # area -> worst status
    failing: dict[str, tuple[HostFinding, ...]] = field(default_factory=dict)  # area -> failing findings

    @property
    def passed(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class Fleet:
    rows: tuple[HostRow, ...]
    areas: tuple[str, ...]
    fail_on: str
    max_failing_hosts: int
    notes: tuple[str, ...] = ()

    @property
    def failing_hosts(self) -> list[str]:
        return [r.host for r in self.rows if not r.passed]

    @property
    def passed(self) -> bool:
        return len(self.failing_hosts) <= self.max_failing_hosts


def worst(statuses: list[str]) -> str:
    return max(statuses, key=STATUS_RANK.__getitem__) if statuses else "skip"


def _row(report: HostReport, fail_on: str) -> HostRow:
    cells: dict[str, list[str]] = {}
    failing: dict[str, list[HostFinding]] = {}
    for f in report.findings:
        status = "pass" if f.ignored else f.status
        cells.setdefault(f.area, []).append(status)
        if f.status in ("warn", "fail", "error", "pending_reboot") and not f.ignored:
            failing.setdefault(f.area, []).append(f)
    return HostRow(
        host=report.host,
        report=report,
        reasons=tuple(report.gate_reasons(fail_on)),
        cells={a: worst(s) for a, s in cells.items()},
        failing={a: tuple(fs) for a, fs in failing.items()},
    )


def merge(reports: list[HostReport], *, fail_on: str = "high", max_failing_hosts: int = 0,
          expect: list[str] | None = None) -> Fleet:
    notes: list[str] = []
    latest: dict[str, HostReport] = {}
    for r in reports:
        prior = latest.get(r.host)
        if prior is not None:
            keep, drop = (r, prior) if r.started_at >= prior.started_at else (prior, r)
            notes.append(f"{r.host}: two reports ({prior.path}, {r.path}); using the later one, {keep.path}")
            latest[r.host] = keep
            del drop
        else:
            latest[r.host] = r
    rows = [_row(latest[h], fail_on) for h in sorted(latest)]
    for host in sorted(set(expect or ()) - set(latest)):
        rows.append(HostRow(host=host, report=None, reasons=("no report from this host",)))
    rows.sort(key=lambda r: r.host)
    areas = sorted({a for r in rows for a in r.cells})
    return Fleet(tuple(rows), tuple(areas), fail_on, max_failing_hosts, tuple(notes))
