"""``autoglm-doctor fix``: dry run (default), ``--apply``, ``--rollback RUN_ID``, ``--history``, in
text or ``--format json`` (schema: autoglm_doctor/schema/fix.schema.json). Exit codes: 0 applied
and verified (or nothing to do, or a dry run), 1 rolled back (the reason is printed), 2 usage or
privilege problems (nothing was changed)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable, Sequence

from autoglm_doctor.errors import EXIT_GATE, EXIT_OK, EXIT_USAGE, UsageError
from autoglm_doctor.remedy import journal as jn
from autoglm_doctor.targets.base import Target, WritableTarget

FIX_SCHEMA_VERSION = "1.0"


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if getattr(args, "format", "text") == "json":
        sys.stdout.write(json.dumps(dict(payload, schema_version=FIX_SCHEMA_VERSION), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _when(ts: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(ts)))
    except (TypeError, ValueError):
        return "?"


def interrupted_note(target: Target, root: str) -> list[str]:
    try:
        runs = jn.interrupted(target, root)
    except Exception:  # noqa: BLE001 - an unreadable journal root must not hide the report
        return []
    notes = []
    for j in runs:
        done = sum(1 for s in j.steps if s.get("status") in ("applied", "applying"))
        notes.append(f"run {j.run_id} ({', '.join(j.data.get('fixes', []))}) was interrupted while "
                     f"{j.state.replace('_', ' ')} ({done} step(s) may be applied): roll it back with "
                     f"autoglm-doctor fix --rollback {j.run_id}")
    return notes


def offer_interrupted(args: argparse.Namespace, target: Target, root: str) -> None:
    """An apply killed mid-run (SIGKILL, power loss) leaves a journal in a live state. On a terminal
    each such run is offered for rollback ("roll back interrupted run RUN_ID? [y/N]"); otherwise,
    or when declined, the exact rollback command is printed, and ``apply`` refuses to start a new
    run until the interrupted one is resolved."""
    try:
        runs = jn.interrupted(target, root)
    except Exception:  # noqa: BLE001 - an unreadable journal root must not hide the report
        return
    notes = dict(zip((j.run_id for j in runs), interrupted_note(target, root)))
    for j in runs:
        note = notes.get(j.run_id, f"run {j.run_id} was interrupted: autoglm-doctor fix --rollback {j.run_id}")
        if not (sys.stdin.isatty() and target.writable):
            sys.stderr.write(f"autoglm-doctor: warning: {note}\n")
            continue
        sys.stderr.write(f"autoglm-doctor: {note}\nroll back interrupted run {j.run_id}? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            sys.stderr.write(f"autoglm-doctor: left as it is; roll it back later with: "
                             f"autoglm-doctor fix --rollback {j.run_id}\n")
            continue
        from autoglm_doctor.remedy.engine import rollback as do_rollback

        outcome = _guarded(lambda: do_rollback(target, root, j.run_id))  # noqa: B023 - called at once
        sys.stderr.write(_outcome_text(outcome, "rolled back") + "\n")
        if outcome.state not in ("rolled_back", "unchanged"):
            raise UsageError(f"the rollback of run {j.run_id} is incomplete: nothing new is applied")
    sys.stderr.flush()


def history(args: argparse.Namespace, target: Target, root: str) -> int:
    runs = jn.history(target, root)
    pending = {e.get("run_id") for e in jn.read_pending(target, root)}
    rows = [{"run_id": j.run_id, "started_at": j.data.get("started_at"), "fixes": j.data.get("fixes", []),
             "state": j.state, "reason": j.data.get("reason", ""), "reboot_pending": j.run_id in pending,
             "target": j.data.get("target", "")} for j in runs]
    lines = [f"journal: {root}"] if runs else [f"no fix runs journalled under {root}"]
    for r in rows:
        lines.append(f"{r['run_id']}  {_when(r['started_at'])}  {r['state']:<19} "
                     f"{'reboot pending  ' if r['reboot_pending'] else ''}{', '.join(r['fixes'])}"
                     + (f"\n    {r['reason']}" if r["reason"] else ""))
    _emit(args, {"mode": "history", "journal_root": root, "runs": rows}, "\n".join(lines))
    return EXIT_OK


def _outcome_text(outcome: Any, verb: str) -> str:
    lines = []
    for s in outcome.steps:
        mark = {"applied": "ok", "already": "already as planned", "reverted": "reverted", "failed": "FAILED",
                "revert_failed": "REVERT FAILED", "refused": "refused", "pending": "not run"}.get(s["status"], s["status"])
        extra = ""
        if isinstance(s.get("info"), dict) and s["info"].get("recorded"):
            extra = "  (sysroot: command recorded, not run)"
        lines.append(f"[{s['fix_id']} {s['index']}] {s['describe']}: {mark}{extra}"
                     + (f"\n    {s['error']}" if s.get("error") else ""))
    if outcome.lock_recovered:
        lines.append(f"note: recovered the lock of run {outcome.lock_recovered.get('run_id')} "
                     f"(pid {outcome.lock_recovered.get('pid')}, no longer running)")
    summary = {
        "applied": f"{verb}: every step applied and read back"
                   + ("" if outcome.reason or outcome.reboot_pending else ", and the addressed checks now pass")
                   + f" (run {outcome.run_id}; undo with: autoglm-doctor fix --rollback {outcome.run_id})",
        "unchanged": outcome.reason,
        "rolled_back": (f"rolled back: {outcome.reason}" if verb == "applied" else
                        f"rolled back run {outcome.run_id}: every applied step reverted"
                        + (f" ({outcome.reason})" if outcome.reason else "")),
        "rollback_incomplete": f"ROLLBACK INCOMPLETE: {outcome.reason}; the journal {outcome.journal} "
                               "holds the before-state of every step",
        "refused": f"refused: {outcome.reason}",
    }[outcome.state]
    if outcome.state == "applied" and outcome.reason:
        summary += f"\n{outcome.reason}"
    if outcome.reboot_pending:
        summary += "\nreboot required: the kernel command line / initramfs changes take effect at the next boot " \
                   "(check reports them as pending_reboot until then)"
    return "\n".join(lines + [summary])


def rollback(args: argparse.Namespace, target: Target, root: str) -> int:
    from autoglm_doctor.remedy.engine import rollback as do_rollback

    outcome = _guarded(lambda: do_rollback(target, root, args.rollback))
    _emit(args, dict(outcome.to_dict(), mode="rollback"), _outcome_text(outcome, "rolled back"))
    if outcome.state == "refused":
        return EXIT_USAGE
    return EXIT_OK if outcome.state in ("rolled_back", "unchanged") else EXIT_GATE


def _guarded(fn: Callable[[], Any]) -> Any:
    from autoglm_doctor.remedy.engine import JournalUnwritable
    from autoglm_doctor.remedy.lock import LockHeld
    from autoglm_doctor.targets.base import ReadOnlyTarget, TargetError

    try:
        return fn()
    except ReadOnlyTarget as exc:
        raise UsageError(f"{exc}: plan on it with 'fix', apply on the machine itself") from None
    except LockHeld as exc:
        raise UsageError(str(exc)) from None
    except JournalUnwritable as exc:
        raise UsageError(str(exc)) from None
    except (TargetError, OSError) as exc:
        raise UsageError(f"cannot start the apply: {exc}; nothing was changed") from None


def dry_run(args: argparse.Namespace, target: Target, plans: Sequence[Any]) -> int:
    if not plans:
        _emit(args, {"mode": "dry_run", "plans": []}, "nothing to fix: no failing finding has a fix")
        return EXIT_OK
    text = "DRY RUN: nothing below has been applied.\n\n" + "\n\n".join(p.render(target) for p in plans)
    _emit(args, {"mode": "dry_run", "plans": [p.to_dict(target) for p in plans]}, text)
    return EXIT_OK


def _confirm(args: argparse.Namespace, plans: Sequence[Any], target: Target) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("stdin is not a terminal: pass --yes to apply without confirmation")
    sys.stderr.write("\n\n".join(p.render(target) for p in plans) + "\n\n")
    sys.stderr.write(f"apply {len(plans)} fix(es) to {target.name}? [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise UsageError("not confirmed: nothing was changed")


def apply(args: argparse.Namespace, target: Target, plans: Sequence[Any], root: str, run_id: str,
          verify: Callable[[Sequence[Any]], list[str]]) -> int:
    from autoglm_doctor.remedy import guards, privileges
    from autoglm_doctor.remedy.engine import apply_plans

    if not target.writable or not isinstance(target, WritableTarget):
        raise UsageError(f"{target.name} cannot be changed (a snapshot is read-only): nothing was applied")
    notes = interrupted_note(target, root)
    if notes:
        raise UsageError("; ".join(notes) + " (before applying anything new)")
    from autoglm_doctor.remedy.lock import ensure_free

    _guarded(lambda: ensure_free(target, root))
    plans = [p for p in plans if not p.empty]
    if not plans:
        _emit(args, {"mode": "apply", "run_id": run_id, "state": "unchanged", "steps": []},
              "nothing to apply: no failing finding has a fix with changes")
        return EXIT_OK
    refusal = guards.refusal(target, list(plans))
    if refusal and not args.yes_i_have_console:
        raise UsageError(refusal)
    lacking = privileges.missing(target, [c for p in plans for c in p.changes], root)
    if lacking:
        raise UsageError("missing privileges (nothing was changed): " + "; ".join(lacking))
    _confirm(args, plans, target)
    outcome = _guarded(lambda: apply_plans(target, plans, root=root, run_id=run_id, verify=verify))
    _emit(args, dict(outcome.to_dict(), mode="apply", plans=[p.to_dict() for p in plans]),
          _outcome_text(outcome, "applied"))
    if outcome.state in ("applied", "unchanged"):
        return EXIT_OK
    return EXIT_GATE


def verify_checks(target: Target, config: Any, registry: Any, opts: Any, plans: Sequence[Any]) -> list[str]:
    """Re-run exactly the checks the applied plans address, on the live target (a fresh run: no fact
    is reused from before the change). A finding that still fails, warns or errors is a problem."""
    from dataclasses import replace

    from autoglm_doctor.app import build_report
    from autoglm_doctor.model import Status

    wanted = {(f.check_id, f.resource) for p in plans for f in p.addresses}
    checks = sorted({c for c, _r in wanted})
    if not checks:
        return []
    report = build_report(target, config, replace(opts, only=checks, skip=()), registry=registry)
    problems = []
    for f in report.findings:
        if (f.check_id, f.resource) in wanted and f.status in (Status.FAIL, Status.WARN, Status.ERROR):
            problems.append(f"{f.check_id}{' [' + f.resource + ']' if f.resource else ''} still {f.status.value}: "
                            f"{f.message}")
    return problems
