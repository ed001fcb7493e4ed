"""What the commands do, independent of argument parsing: build a report, collect a snapshot,
list the catalogue, plan fixes."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from autoglm_doctor import __version__
from autoglm_doctor.check import Context
from autoglm_doctor.config import Config, apply_ignores
from autoglm_doctor.logs import new_run_id
from autoglm_doctor.model import Finding, Report, Scope, Status
from autoglm_doctor.registry import Registry, load_registry
from autoglm_doctor.targets.base import TargetError
from autoglm_doctor.runner import DEFAULT_DEADLINE, DEFAULT_JOBS, DEFAULT_TIMEOUT, plugin_problem_findings, run_checks

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target


@dataclass
class RunOptions:
    only: Sequence[str] = ()
    skip: Sequence[str] = ()
    scopes: Sequence[str] = ()
    timeout: float = DEFAULT_TIMEOUT
    deadline: float | None = DEFAULT_DEADLINE
    jobs: int = DEFAULT_JOBS
    today: dt.date | None = None
    allow_pending_reboot: bool = False


def select(registry: Registry, opts: RunOptions) -> list[type[Any]]:
    """The checks a run evaluates: ``--only``/``--skip`` and their requirements, then ``--scope``
    (what a check inspects; where it can run is decided per target by the runner)."""
    classes = registry.select(opts.only, opts.skip)
    if opts.scopes:
        wanted = {Scope(s) for s in opts.scopes}
        classes = [c for c in classes if wanted & set(c.meta.scope)]
    return classes


def build_report(
    target: Target,
    config: Config,
    opts: RunOptions,
    *,
    registry: Registry | None = None,
    run_id: str | None = None,
    on_progress: Callable[[int, int], Any] | None = None,
    log: Any = None,
    peers: Mapping[str, Any] | None = None,
) -> Report:
    registry = registry or load_registry()
    run_id = run_id or new_run_id()
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    classes = select(registry, opts)
    if log:
        for warning in registry.warnings:
            log.warning("plugin_clash", detail=warning)
        log.info("run_start", target=target.name, checks=len(classes))
    ctx = Context(target, config.profile, peers=peers)
    findings: list[Finding] = plugin_problem_findings(registry.problems)
    findings += run_checks(classes, ctx, timeout=opts.timeout, jobs=opts.jobs, on_progress=on_progress,
                           skipped=registry.skipped(opts.skip), deadline=opts.deadline)
    from autoglm_doctor.remedy.pending import mark_pending

    findings = mark_pending(findings, target, allow=opts.allow_pending_reboot)
    findings, notes = apply_ignores(findings, config.ignores, opts.today)
    if log:
        for note in notes:
            log.warning("ignore_expired", detail=note)
        for f in findings:
            if f.status in (Status.ERROR,):
                log.warning("check_error", check_id=f.check_id, message=f.message)
    duration = (time.perf_counter() - t0) * 1000.0
    return Report(
        tool_version=__version__,
        target=target.name,
        run_id=run_id,
        started_at=started.isoformat(timespec="seconds"),
        duration_ms=round(duration, 3),
        findings=tuple(findings),
        checks={c.meta.id: c.meta for c in classes},
        notes=tuple(registry.warnings) + tuple(notes),
        hostname=target.hostname(),
        targets=(target.name,),
    )


def merge_reports(reports: Sequence[Report]) -> Report:
    """One report for a run over several targets (the host and its guests): the first report's identity,
    every finding (each labelled with its target), every check, the longest wall time (they ran at once)."""
    first = reports[0]
    if len(reports) == 1:
        return first
    checks: dict[str, Any] = {}
    for r in reports:
        checks.update(r.checks)
    notes = tuple(dict.fromkeys(n for r in reports for n in r.notes))
    return Report(
        tool_version=first.tool_version,
        target=first.target,
        run_id=first.run_id,
        started_at=first.started_at,
        duration_ms=max(r.duration_ms for r in reports),
        findings=tuple(f.with_(target=f.target or r.target) for r in reports for f in r.findings),
        checks=checks,
        notes=notes,
        targets=tuple(r.target for r in reports),
    )


def catalogue(registry: Registry) -> list[dict[str, Any]]:
    out = []
    for cid in sorted(registry.checks):
        m = registry.checks[cid].meta
        out.append(
            {
                "id": m.id,
                "title": m.title,
                "severity": m.severity.value,
                "scope": [s.value for s in m.scope],
                "runs_on": [s.value for s in m.roles],
                "requires": list(m.requires),
                "fix": m.fix,
                "remediation": m.remediation,
                "docs": m.docs,
                "description": m.description,
                "origin": registry.origins.get(cid, ""),
            }
        )
    return out


def plan_fixes(registry: Registry, target: Target, config: Config, report: Report, only: Sequence[str] = ()) -> list[Any]:
    """A Plan per fix that has failing/warning findings to address (dry run: nothing is applied)."""
    import fnmatch

    ctx = Context(target, config.profile)
    plans = []
    for fid in sorted(registry.fixes):
        if only and not any(fnmatch.fnmatchcase(fid, p) for p in only):
            continue
        fix_cls = registry.fixes[fid]
        relevant = [
            f for f in report.findings
            if f.check_id in fix_cls.meta.fixes and f.status in (Status.FAIL, Status.WARN) and not f.ignored
        ]
        if not relevant:
            continue
        try:
            plans.append(fix_cls().plan(ctx, relevant))
        except TargetError as exc:  # a read the plan needs failed (or a snapshot never recorded it)
            from autoglm_doctor.plan import Plan

            plans.append(Plan(fid, fix_cls.meta.title, (), tuple(relevant), notes=(f"cannot plan: {exc}",)))
    return plans
