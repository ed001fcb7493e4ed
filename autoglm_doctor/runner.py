"""Runs checks: requirement ordering, bounded concurrency, per-check and whole-run deadlines
enforced inside every Target call, and the rule that a crash or a hang becomes an ``error`` finding —
never a traceback, never silence."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from graphlib import CycleError, TopologicalSorter
from typing import Any, Callable, Collection, Iterable, Sequence

from autoglm_doctor.check import Check, Context
from autoglm_doctor.model import Finding, Severity, Status
from autoglm_doctor.targets.base import (
    AdapterUnavailable,
    DeadlineExceeded,
    GarbageValue,
    NotCaptured,
    TargetError,
)
from autoglm_doctor.targets.deadline import Clock, DeadlineTarget

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 600.0  # the whole run; generous: a full run on a busy host takes seconds
DEFAULT_JOBS = 4
_BLOCKING = (Status.FAIL, Status.ERROR, Status.SKIP)


def _meta_finding(cls: type[Check], status: Status, message: str, remediation: str = "") -> Finding:
    meta = cls.meta
    return Finding(
        check_id=meta.id,
        status=status,
        severity=meta.severity,
        title=meta.title,
        message=message,
        remediation=remediation,
    )


def run_one(cls: type[Check], ctx: Context) -> list[Finding]:
    """Run a single check and turn every way it can go wrong into findings. What a check yielded
    before it failed is kept, followed by the error. ``DeadlineExceeded`` is left to the caller,
    which knows which budget ran out."""
    findings: list[Finding] = []
    try:
        for item in cls().run(ctx):
            if not isinstance(item, Finding):
                return findings + [_meta_finding(cls, Status.ERROR, f"check returned {type(item).__name__}, not a Finding")]
            findings.append(item)
    except DeadlineExceeded:
        raise
    except NotCaptured as exc:
        return findings + [_meta_finding(cls, Status.SKIP, f"not captured: {exc}")]
    except AdapterUnavailable as exc:
        return findings + [_meta_finding(cls, Status.SKIP, str(exc), remediation=exc.hint)]
    except GarbageValue as exc:
        return findings + [_meta_finding(cls, Status.ERROR, f"unexpected content: {exc}")]
    except TargetError as exc:
        return findings + [_meta_finding(cls, Status.ERROR, f"could not read the target: {exc}")]
    except Exception as exc:  # noqa: BLE001 - the contract: a crash is an error finding
        return findings + [_meta_finding(cls, Status.ERROR, f"check crashed: {type(exc).__name__}: {exc}")]
    if not findings:
        return [_meta_finding(cls, Status.ERROR, "check returned no findings (a check must always say something)")]
    return findings


class _Budget:
    """The time rules of one run: each check gets ``timeout`` seconds, and nothing runs past the
    whole run's ``deadline`` (seconds from the start; None: no run deadline)."""

    def __init__(self, timeout: float, deadline: float | None, clock: Clock) -> None:
        self.timeout = timeout
        self.deadline = deadline
        self.clock = clock
        self.run_end = clock() + deadline if deadline is not None else None

    def check_end(self, started: float) -> float:
        end = started + self.timeout
        return end if self.run_end is None else min(end, self.run_end)

    def run_over(self) -> bool:
        return self.run_end is not None and self.clock() >= self.run_end

    def stopped_message(self, started: float) -> str:
        if self.run_end is not None and started + self.timeout > self.run_end:
            return f"check stopped: the run's deadline of {self.deadline:g}s passed"
        return f"check timed out after {self.timeout:g}s and was stopped"


def _blockers(cls: type[Check], results: dict[str, list[Finding]], by_id: dict[str, type[Check]],
              skipped: Collection[str]) -> tuple[list[str], list[str]]:
    """(requirements left out by --skip, requirements not met with their worst status)."""
    by_skip, unmet = [], []
    for req in cls.meta.requires:
        req_findings = results.get(req) if req in by_id else None
        if req_findings is None and req in skipped:
            by_skip.append(req)
        elif req_findings is None:
            unmet.append(f"{req} (not available)")
        else:
            worst = next((f for f in req_findings if f.status in _BLOCKING), None)
            if worst is not None:
                unmet.append(f"{req} ({worst.status.value})")
    return by_skip, unmet


def run_checks(
    classes: Sequence[type[Check]],
    ctx: Context,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = DEFAULT_JOBS,
    on_progress: Callable[[int, int], Any] | None = None,
    skipped: Collection[str] = (),
    deadline: float | None = None,
    clock: Clock = time.monotonic,
) -> list[Finding]:
    """Run ``classes`` (``jobs`` at a time) in requirement order (``graphlib``), each reading through
    the target wrapped in its own deadline (``DeadlineTarget``): a check past ``timeout`` seconds, or
    past the whole run's ``deadline``, is reported as an error and gets ``DeadlineExceeded`` from its
    next read. When the run's deadline passes, checks not started are reported as not run.

    A check whose ``runs_on`` excludes the target's role is skipped with the reason; one that
    requires a check in ``skipped`` (left out by ``--skip``) is skipped too."""
    by_id = {cls.meta.id: cls for cls in classes}
    role = ctx.target.role
    budget = _Budget(timeout, deadline, clock)
    sorter: TopologicalSorter[str] = TopologicalSorter(
        {cid: [r for r in cls.meta.requires if r in by_id] for cid, cls in by_id.items()})
    results: dict[str, list[Finding]] = {}
    running: dict[str, float] = {}  # check id -> when it started
    ready: deque[str] = deque()
    settled: queue.Queue[tuple[str, list[Finding]]] = queue.Queue()
    try:
        sorter.prepare()
    except CycleError as exc:
        cycle = set(exc.args[1])
        for cid in sorted(cycle):
            results[cid] = [_meta_finding(by_id[cid], Status.ERROR, "requirement cycle: " + " -> ".join(exc.args[1]))]
        sorter = TopologicalSorter({cid: [r for r in by_id[cid].meta.requires if r in by_id and r not in cycle]
                                    for cid in by_id if cid not in cycle})
        sorter.prepare()

    def settle(cid: str, findings: list[Finding]) -> None:
        results[cid] = findings
        sorter.done(cid)

    def worker(cid: str, check_ctx: Context, started: float) -> None:
        cls = by_id[cid]
        try:
            findings = run_one(cls, check_ctx)
        except DeadlineExceeded:
            findings = [_meta_finding(cls, Status.ERROR, budget.stopped_message(started))]
        elapsed = (clock() - started) * 1000.0
        settled.put((cid, [f.with_(duration_ms=round(elapsed, 3)) for f in findings]))

    def start(cid: str) -> None:
        cls = by_id[cid]
        if not cls.meta.runs_on_role(role):
            where = ", ".join(r.value for r in cls.meta.roles)
            settle(cid, [_meta_finding(cls, Status.SKIP, f"not applicable: runs on {where}; this target is a {role}")])
            return
        by_skip, unmet = _blockers(cls, results, by_id, skipped)
        if unmet:
            settle(cid, [_meta_finding(cls, Status.SKIP, "requirement not met: " + ", ".join(unmet))])
            return
        if by_skip:
            settle(cid, [_meta_finding(cls, Status.SKIP, "requirement skipped by --skip: " + ", ".join(by_skip))])
            return
        started = clock()
        running[cid] = started
        check_ctx = ctx if ctx.target is None else ctx.view(DeadlineTarget(ctx.target, budget.check_end(started), clock=clock))
        threading.Thread(target=worker, args=(cid, check_ctx, started), name=f"check:{cid}", daemon=True).start()

    total = len(by_id)
    while sorter.is_active() and not budget.run_over():
        ready.extend(sorter.get_ready())
        while ready and len(running) < max(1, jobs):
            start(ready.popleft())
            ready.extend(sorter.get_ready())
        if running:
            now = clock()
            wait = min(0.25, *(budget.check_end(t) - now for t in running.values()))
            try:
                cid, findings = settled.get(timeout=max(0.0, wait))
                if cid in running:  # else: it was already reported as timed out
                    del running[cid]
                    settle(cid, findings)
            except queue.Empty:
                pass
        now = clock()
        for cid, started in list(running.items()):
            if now >= budget.check_end(started):
                del running[cid]
                settle(cid, [_meta_finding(by_id[cid], Status.ERROR, budget.stopped_message(started))
                             .with_(duration_ms=round((now - started) * 1000.0, 3))])
        if on_progress:
            on_progress(len(results), total)
    for cid, started in running.items():  # the run's deadline passed: what still runs is stopped
        results[cid] = [_meta_finding(by_id[cid], Status.ERROR, budget.stopped_message(started))]
    for cid in by_id:
        if cid not in results:
            results[cid] = [_meta_finding(by_id[cid], Status.ERROR, f"not run: the run's deadline of {deadline:g}s passed")]
    if on_progress:
        on_progress(len(results), total)

    out: list[Finding] = []
    for cid in sorted(by_id):
        out.extend(results[cid])
    return out


def plugin_problem_findings(problems: Iterable[str]) -> list[Finding]:
    """Broken plugins are reported, not hidden."""
    return [
        Finding(
            check_id="doctor.plugins.load",
            status=Status.ERROR,
            severity=Severity.HIGH,
            title="Plugins load",
            message=problem,
            remediation="reinstall or remove the broken plugin package",
        )
        for problem in problems
    ]
