"""Apply plans: capture every before-state, journal them, apply step by step (each read back), re-run
the addressed checks, and on any failure revert what was done, in reverse. Rollback of a past or
interrupted run replays the same reverts from the journal on disk.

A reverted ``RunCommand`` that regenerates derived state (update-grub, dracut) is not "undone": it
is run again after everything else is reverted, so it sees the restored inputs.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from autoglm_doctor.changes import Change, RunCommand, change_from_dict
from autoglm_doctor.remedy import journal as jn
from autoglm_doctor.remedy.lock import acquire
from autoglm_doctor.targets.base import Mutator, Target, TargetError, mutator_of

if TYPE_CHECKING:
    from autoglm_doctor.plan import Plan

# seconds to pause after each applied step (only for crash-recovery tests: a kill lands between steps)
STEP_DELAY_ENV = "AUTOGLM_DOCTOR_STEP_DELAY"
# make the N-th step to apply fail before it touches anything, or the verification when N is past the
# last step (only for the fault tests: a failure in the middle of a real plan, after the steps before
# it really changed the system, must roll everything back)
FAIL_STEP_ENV = "AUTOGLM_DOCTOR_FAIL_STEP"


class JournalUnwritable(Exception):
    """The journal could not be written before the first change: nothing was touched."""


@dataclass
class Outcome:
    run_id: str
    state: str  # applied | unchanged | rolled_back | rollback_incomplete | refused
    reason: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    reboot_pending: bool = False
    journal: str = ""
    lock_recovered: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "state": self.state, "reason": self.reason, "journal": self.journal,
                "reboot_pending": self.reboot_pending, "lock_recovered": self.lock_recovered,
                "steps": [{k: s.get(k) for k in ("fix_id", "index", "describe", "status", "error", "info")}
                          for s in self.steps]}


def _save(j: jn.Journal, mut: Mutator, errors: list[str]) -> None:
    """Journal updates after the first one are best effort during a rollback: a full disk must not
    stop the rollback itself."""
    try:
        j.save(mut)
    except (TargetError, OSError) as exc:
        errors.append(f"journal not updated: {exc}")


def _untouched(change: Change, target: Target, before: dict[str, Any]) -> bool:
    if isinstance(change, RunCommand):
        return False  # a command's effect cannot be read back
    try:
        return change.capture(target) == before
    except (TargetError, OSError, ValueError):
        return False


def revert_steps(mut: Mutator, target: Target, j: jn.Journal, errors: list[str]) -> bool:
    deferred: list[tuple[dict[str, Any], Change]] = []
    ok = True
    for step in reversed(j.steps):
        if step["status"] not in ("applied", "applying", "failed"):
            continue
        change = change_from_dict(step["change"])
        if step["status"] in ("failed", "applying") and _untouched(change, target, step["before"]):
            step["status"] = "reverted"  # the step never changed anything: nothing to undo
            _save(j, mut, errors)
            continue
        try:
            if isinstance(change, RunCommand) and change.regenerate:
                deferred.append((step, change))
                continue
            if isinstance(change, RunCommand) and step["status"] == "failed":
                change = RunCommand(change.argv, outputs=change.outputs)  # it failed: nothing to undo but files
            change.revert(mut, target, step["before"])
            step["status"] = "reverted"
        except (TargetError, OSError, ValueError) as exc:
            step["status"] = "revert_failed"
            step["error"] = str(exc)
            ok = False
        _save(j, mut, errors)
    for step, change in reversed(deferred):
        try:
            change.redo(mut)
            step["status"] = "reverted"
        except (TargetError, OSError) as exc:
            step["status"] = "revert_failed"
            step["error"] = str(exc)
            ok = False
        _save(j, mut, errors)
    return ok


def _drop_pending(mut: Mutator, target: Target, root: str, run_id: str) -> None:
    entries = jn.read_pending(target, root)
    kept = [e for e in entries if e.get("run_id") != run_id]
    if len(kept) != len(entries):
        jn.write_pending(mut, target, root, kept)


def apply_plans(target: Target, plans: Sequence[Plan], *, root: str, run_id: str,
                verify: Callable[[Sequence[Plan]], list[str]],
                on_step: Callable[[dict[str, Any]], Any] | None = None) -> Outcome:
    mut = mutator_of(target)
    lock = acquire(mut, root, run_id)
    try:
        return _apply_locked(mut, target, plans, root, run_id, verify, on_step, lock.recovered)
    finally:
        lock.release()


def _apply_locked(mut: Mutator, target: Target, plans: Sequence[Plan], root: str, run_id: str,
                  verify: Callable[[Sequence[Plan]], list[str]], on_step: Callable[[dict[str, Any]], Any] | None,
                  recovered: dict[str, Any] | None) -> Outcome:
    steps: list[dict[str, Any]] = []
    for plan in plans:
        for i, change in enumerate(plan.changes, 1):
            step: dict[str, Any] = {"fix_id": plan.fix_id, "index": i, "describe": change.describe(), "change": change.to_dict(),
                    "status": "pending", "error": "", "info": None}
            try:
                step["before"] = change.capture(target)
                if change.satisfied(target, step["before"]):
                    step["status"] = "already"
            except (TargetError, OSError, ValueError) as exc:
                step["status"] = "refused"
                step["error"] = str(exc)
                return Outcome(run_id, "refused", f"cannot read the before-state of step {i} of {plan.fix_id}: "
                               f"{exc}; nothing was changed", steps + [step], lock_recovered=recovered)
            steps.append(step)
    todo = [s for s in steps if s["status"] == "pending"]
    if not todo:
        return Outcome(run_id, "unchanged", "every step is already as planned: nothing changed", steps,
                       lock_recovered=recovered)
    j = jn.Journal(root, run_id, {
        "version": 1, "run_id": run_id, "started_at": time.time(), "pid": os.getpid(),
        "host": socket.gethostname(), "target": target.name, "state": "applying",
        "fixes": [p.fix_id for p in plans], "checks": sorted({f.check_id for p in plans for f in p.addresses}),
        "reboot_required": any(p.needs_reboot for p in plans), "steps": steps, "boot_id": jn.boot_id(target)})
    try:
        j.save(mut)
    except (TargetError, OSError) as exc:
        raise JournalUnwritable(f"cannot write the journal {j.path}: {exc}; nothing was changed") from exc
    errors: list[str] = []
    delay = float(os.environ.get(STEP_DELAY_ENV, "0") or 0)
    fail_at = int(os.environ.get(FAIL_STEP_ENV, "0") or 0)
    reason = ""
    for n, step in enumerate(todo, 1):
        change = change_from_dict(step["change"])
        step["status"] = "applying"
        try:
            j.save(mut)
            if n == fail_at:
                raise TargetError(f"injected failure ({FAIL_STEP_ENV}={n})")
            step["info"] = change.apply(mut, target, step["before"])
            if not change.verify(target, step["before"]):
                raise TargetError("read back after the change, the state is not as planned")
            step["status"] = "applied"
            j.save(mut)
        except (TargetError, OSError, ValueError) as exc:
            step["status"] = "failed"
            step["error"] = str(exc)
            reason = f"step {step['index']} of {step['fix_id']} ({step['describe']}) failed: {exc}"
            break
        if on_step:
            on_step(step)
        if delay:
            time.sleep(delay)
    # a plan whose commands a sysroot only recorded cannot be verified there: what the command would
    # have done (load a module, restart a daemon) did not happen
    recorded = {s["fix_id"] for s in steps if isinstance(s.get("info"), dict) and s["info"].get("recorded")}
    if not reason:
        j.set_state(mut, "verifying", unverified=sorted(recorded))
        verified = [p for p in plans if not p.needs_reboot and p.fix_id not in recorded]
        problems = verify(verified)
        settle_until = time.monotonic() + max((p.settle_s for p in verified), default=0.0)
        while problems and time.monotonic() < settle_until:  # a state that takes time to appear (STP)
            time.sleep(min(1.0, max(0.0, settle_until - time.monotonic())))
            problems = verify(verified)
        if fail_at > len(todo):
            problems.append(f"injected failure ({FAIL_STEP_ENV}={fail_at})")
        if problems:
            reason = "verification failed: " + "; ".join(problems)
    if reason:
        j.data["state"] = "rolling_back"
        j.data["reason"] = reason
        _save(j, mut, errors)
        ok = revert_steps(mut, target, j, errors)
        j.data["state"] = "rolled_back" if ok else "rollback_incomplete"
        _save(j, mut, errors)
        return Outcome(run_id, j.data["state"], reason + ("; " + "; ".join(errors) if errors else ""), steps,
                       journal=j.path, lock_recovered=recovered)
    pending = [p for p in plans if p.needs_reboot]
    if pending:
        entries = jn.read_pending(target, root) + [
            {"run_id": run_id, "fix_id": p.fix_id, "checks": sorted({f.check_id for f in p.addresses}),
             "resources": sorted({f"{f.check_id}|{f.resource}" for f in p.addresses}),
             "boot_id": j.data["boot_id"], "staged_at": time.time()} for p in pending]
        jn.write_pending(mut, target, root, entries)
    j.set_state(mut, "applied", reboot_pending=bool(pending))
    note = (f"not verified: {', '.join(sorted(recorded))} (commands recorded on a sysroot, not run)"
            if recorded else "")
    return Outcome(run_id, "applied", note, steps, reboot_pending=bool(pending), journal=j.path,
                   lock_recovered=recovered)


def rollback(target: Target, root: str, run_id: str) -> Outcome:
    mut = mutator_of(target)
    lock = acquire(mut, root, f"rollback-{run_id}")
    try:
        j = jn.load(target, root, run_id)
        if j is None:
            return Outcome(run_id, "refused", f"no journal for run {run_id!r} under {root} (see: fix --history)")
        if j.state in ("rolled_back",):
            return Outcome(run_id, "unchanged", f"run {run_id} was already rolled back", j.steps, journal=j.path)
        errors: list[str] = []
        j.data["state"] = "rolling_back"
        _save(j, mut, errors)
        ok = revert_steps(mut, target, j, errors)
        j.data["state"] = "rolled_back" if ok else "rollback_incomplete"
        j.data["rolled_back_at"] = time.time()
        _save(j, mut, errors)
        _drop_pending(mut, target, root, run_id)
        return Outcome(run_id, j.data["state"], "; ".join(errors), j.steps, journal=j.path)
    finally:
        lock.release()
