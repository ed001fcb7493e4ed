"""Runs checks: requirement ordering, bounded concurrency, per-check timeout, and the rule that a
crash or a hang becomes an ``error`` finding — never a traceback, never silence."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Collection, Iterable, Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.model import Finding, Severity, Status
from autoglm_doctor.targets.base import AdapterUnavailable, GarbageValue, NotCaptured, TargetError

DEFAULT_TIMEOUT = 30.0
DEFAULT_JOBS = 4
_BLOCKING = (Status.FAIL, Status.ERROR, Status.SKIP)


def _meta_finding(cls: type, status: Status, message: str, remediation: str = "") -> Finding:
    meta = cls.meta
    return Finding(
        check_id=meta.id,
        status=status,
        severity=meta.severity,
        title=meta.title,
        message=message,
        remediation=remediation,
    )


def run_one(cls: type, ctx: Context) -> list[Finding]:
    """Run a single check and turn every way it can go wrong into findings. What a check yielded
    before it failed is kept, followed by the error."""
    findings: list[Finding] = []
    try:
        for item in cls().run(ctx):
            if not isinstance(item, Finding):
                return findings + [_meta_finding(cls, Status.ERROR, f"check returned {type(item).__name__}, not a Finding")]
            findings.append(item)
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


class _Slot:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.started_at: float | None = None
        self.findings: list[Finding] | None = None
        self.holds_slot = False


def run_checks(
    classes: Sequence[type],
    ctx: Context,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = DEFAULT_JOBS,
    on_progress: Callable[[int, int], Any] | None = None,
    skipped: Collection[str] = (),
) -> list[Finding]:
    """Run ``classes`` concurrently (``jobs`` at a time) honouring ``requires``. A check still
    running after ``timeout`` seconds is reported as an error and abandoned (its thread is a
    daemon; whatever it returns later is dropped). A check whose ``runs_on`` excludes the target's
    role is skipped with the reason; one that requires a check in ``skipped`` (left out by
    ``--skip``) is skipped too."""
    role = getattr(ctx.target, "role", None)
    by_id = {cls.meta.id: cls for cls in classes}
    slots = {cid: _Slot() for cid in by_id}
    lock = threading.Lock()
    changed = threading.Condition(lock)  # notified whenever a check settles
    sem = threading.Semaphore(max(1, jobs))

    def settle(cid: str, findings: list[Finding]) -> bool:
        with lock:
            slot = slots[cid]
            if slot.findings is not None:
                return False
            slot.findings = findings
            slot.done.set()
            changed.notify_all()
        return True

    def worker(cid: str) -> None:
        cls = by_id[cid]
        if not cls.meta.runs_on_role(role):
            where = ", ".join(r.value for r in cls.meta.roles)
            settle(cid, [_meta_finding(cls, Status.SKIP, f"not applicable: runs on {where}; this target is a {role}")])
            return
        for req in cls.meta.requires:
            if req in slots:
                slots[req].done.wait()
        blocked = []
        for req in cls.meta.requires:
            req_findings = slots[req].findings if req in slots else None
            if req_findings is None and req in skipped:
                blocked.append(f"{req} (skipped by --skip)")
            elif req_findings is None:
                blocked.append(f"{req} (not available)")
            elif any(f.status in _BLOCKING for f in req_findings):
                worst = next(f for f in req_findings if f.status in _BLOCKING)
                blocked.append(f"{req} ({worst.status.value})")
        if blocked and all(b.endswith("(skipped by --skip)") for b in blocked):
            settle(cid, [_meta_finding(cls, Status.SKIP, "requirement skipped by --skip: "
                                       + ", ".join(b.split(" ")[0] for b in blocked))])
            return
        if blocked:
            settle(cid, [_meta_finding(cls, Status.SKIP, "requirement not met: " + ", ".join(blocked))])
            return
        sem.acquire()
        with lock:
            slots[cid].started_at = time.monotonic()
            slots[cid].holds_slot = True
        start = time.perf_counter()
        findings = run_one(cls, ctx)
        elapsed = (time.perf_counter() - start) * 1000.0
        findings = [f.with_(duration_ms=round(elapsed, 3)) for f in findings]
        with lock:
            release = slots[cid].holds_slot
            slots[cid].holds_slot = False
        if release:
            sem.release()
        settle(cid, findings)

    for cid in by_id:
        threading.Thread(target=worker, args=(cid,), name=f"check:{cid}", daemon=True).start()

    total = len(by_id)
    while True:
        with lock:
            finished = sum(1 for s in slots.values() if s.done.is_set())
            if finished < total:
                now = time.monotonic()
                running = [s.started_at + timeout - now for s in slots.values()
                           if s.started_at is not None and not s.done.is_set()]
                changed.wait(timeout=max(0.0, min([0.25, *running])))
                finished = sum(1 for s in slots.values() if s.done.is_set())
        if on_progress:
            on_progress(finished, total)
        if finished == total:
            break
        now = time.monotonic()
        for cid, slot in slots.items():
            if slot.done.is_set() or slot.started_at is None or now - slot.started_at <= timeout:
                continue
            msg = f"check timed out after {timeout:g}s and was abandoned"
            if settle(cid, [_meta_finding(by_id[cid], Status.ERROR, msg).with_(duration_ms=timeout * 1000.0)]):
                with lock:
                    release = slot.holds_slot
                    slot.holds_slot = False
                if release:
                    sem.release()

    out: list[Finding] = []
    for cid in sorted(by_id):
        out.extend(slots[cid].findings or [])
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
