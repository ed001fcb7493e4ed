"""The sub-commands: turn parsed arguments into app calls, outputs and exit codes."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any

from autoglm_doctor.errors import EXIT_GATE, EXIT_OK, UsageError

if TYPE_CHECKING:
    from autoglm_doctor.app import RunOptions
    from autoglm_doctor.config import Config
    from autoglm_doctor.model import Finding, Report
    from autoglm_doctor.registry import Registry
    from autoglm_doctor.targets.base import Target


def _open_target(spec: str, args: argparse.Namespace | None = None) -> Target:
    from autoglm_doctor.targets import TargetSpecError, open_target
    from autoglm_doctor.targets.base import SnapshotError, TargetError

    try:
        return open_target(spec, identity=getattr(args, "identity", None), ssh_config=getattr(args, "ssh_config", None))
    except (TargetSpecError, SnapshotError, TargetError) as exc:
        raise UsageError(" ".join(str(exc).split())) from exc


def _ready(target: Target) -> None:
    """Wait for a remote target's session (ssh connects in the background while checks load); a session
    that cannot be had is a one-line usage error."""
    from autoglm_doctor.targets.base import TargetError

    try:
        target.ready()
    except TargetError as exc:
        raise UsageError(" ".join(str(exc).split())) from exc


def _open_guests(specs: list[str], args: argparse.Namespace) -> tuple[list[Target], list[Finding]]:
    """Open every guest target; one that cannot be reached becomes an error finding of that target."""
    from autoglm_doctor.model import Finding, Severity, Status

    guests: list[Target] = []
    unreachable: list[Finding] = []
    opened: list[tuple[str, Target | UsageError]] = []
    for spec in specs:  # remote sessions connect in the background, all at once
        try:
            opened.append((spec, _open_target(spec, args)))
        except UsageError as exc:
            opened.append((spec, exc))
    for spec, guest in opened:
        try:
            if isinstance(guest, UsageError):
                raise guest
            try:
                _ready(guest)
            except UsageError:
                guest.close()
                raise
            guests.append(guest)
        except UsageError as exc:
            unreachable.append(Finding(
                check_id="doctor.target.connect", status=Status.ERROR, severity=Severity.HIGH,
                title="The target can be reached", message=str(exc), target=spec,
                remediation="start the domain or container, or fix the address (see README: Targets)"))
    return guests, unreachable


def _run_with_guests(args: argparse.Namespace, target: Target) -> Report:
    """The primary target and its guests (--guest, else the profile's ``guests``) in one report, every
    finding labelled with its target. Targets named on the command line are checked at once."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from autoglm_doctor.app import merge_reports

    specs = [s for s in dict.fromkeys(getattr(args, "guest", None) or []) if s != args.target]
    if not specs:
        config = _config(args.config)
        specs = [s for s in dict.fromkeys(config.profile.get("guests") or []) if s != args.target]
        if not specs:
            return _run(args, target)[0]
    guests, unreachable = _open_guests(specs, args)
    try:
        # the primary run sees the guests as peers: the cross checks (xcheck.*) compare host, domain and guest
        peers = {g.name: g for g in guests}
        with ThreadPoolExecutor(max_workers=1 + len(guests)) as pool:
            futures = [pool.submit(_run, args, target, peers)] + [pool.submit(_run, args, g) for g in guests]
            reports = [f.result()[0] for f in futures]
    finally:
        for guest in guests:
            guest.close()
    report = merge_reports(reports)
    if unreachable:
        report = replace(report, findings=report.findings + tuple(unreachable),
                         targets=report.targets + tuple(f.target for f in unreachable))
    return report


def _config(path: str | None) -> Config:
    from autoglm_doctor.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


def _with_libvirt_uri(config: Config, uri: str | None) -> Config:
    """--libvirt-uri sets profile.libvirt_uri (validated like the profile key)."""
    if not uri:
        return config
    from dataclasses import replace

    from autoglm_doctor.config import PROFILE_KEYS, Profile

    try:
        uri = PROFILE_KEYS["libvirt_uri"].check(uri)
    except ValueError as exc:
        raise UsageError(f"--libvirt-uri: {exc}") from exc
    return replace(config, profile=Profile({**config.profile.values, "libvirt_uri": uri}))


def _options(args: argparse.Namespace) -> RunOptions:
    from autoglm_doctor.app import RunOptions

    for flag, value in (("--timeout", args.timeout), ("--deadline", args.deadline)):
        if not math.isfinite(value) or value <= 0:
            raise UsageError(f"{flag} must be positive (seconds), got {value:g}")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    return RunOptions(only=args.only, skip=args.skip, scopes=args.scope, timeout=args.timeout, jobs=args.jobs,
                      deadline=args.deadline,
                      allow_pending_reboot=getattr(args, "allow_pending_reboot", False))


def _check_patterns(registry: Registry, args: argparse.Namespace, config: Config) -> None:
    unmatched = registry.unmatched(list(args.only) + list(args.skip))
    if unmatched:
        raise UsageError(f"no check matches {', '.join(repr(p) for p in unmatched)} (see: autoglm-doctor list)")
    for ignore in config.ignores:  # an ignore that matches nothing is a typo that would silence nothing
        if ignore.check != "doctor.plugins.load" and registry.unmatched([ignore.check]):
            raise UsageError(f"[[ignore]] check {ignore.check!r} matches no check"
                             f"{registry.suggestion(ignore.check)} (see: autoglm-doctor list)")


class _Progress:
    """A progress line on stderr, shown only on a terminal and only once a run lasts over a second."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.shown = False
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.start < 1.0:
            return
        self.shown = True
        sys.stderr.write(f"\rchecking… {done}/{total}")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _run(args: argparse.Namespace, target: Target, peers: dict[str, Target] | None = None) -> tuple[Report, Config, Registry]:
    from autoglm_doctor.app import build_report, new_run_id
    from autoglm_doctor.logs import configure
    from autoglm_doctor.registry import load_registry

    # the whole config is validated against the profile schema before any check is selected
    config = _config(args.config)
    registry = load_registry(args.only, args.skip, fixes=args.command == "fix")
    config = _with_libvirt_uri(config, getattr(args, "libvirt_uri", None))
    _check_patterns(registry, args, config)
    opts = _options(args)
    run_id = new_run_id()
    log = configure(run_id, args.log_format, args.log_level)
    _ready(target)  # a remote session was connecting while the checks loaded
    progress = _Progress()
    try:
        report = build_report(target, config, opts, registry=registry, run_id=run_id, on_progress=progress, log=log,
                              peers=peers)
    finally:
        progress.finish()
    log.info("run_end", findings=len(report.findings), duration_ms=report.duration_ms)
    return report, config, registry


def _write(text: str, output: str | None) -> None:
    from autoglm_doctor.output import write_report

    write_report(text, output)


def cmd_check(args: argparse.Namespace) -> int:
    from autoglm_doctor.model import Severity
    from autoglm_doctor.render import renderer

    target = _open_target(args.target, args)
    try:
        report = _run_with_guests(args, target)
    finally:
        target.close()
    fail_on = Severity(args.fail_on)
    terminal = not args.output and sys.stdout.isatty()
    color = args.color == "always" or (args.color == "auto" and terminal)
    width = shutil.get_terminal_size().columns if terminal else None
    text = renderer(args.format)(report, fail_on=fail_on, color=color, width=width, verbosity=args.verbosity,
                                 junit_warn_as=args.junit_warn_as)
    _write(text, args.output)
    if not report.evaluated:
        print("autoglm-doctor: gate failed: nothing evaluated (every selected check was skipped or errored)",
              file=sys.stderr)
    return EXIT_OK if report.passed_gate(fail_on) else EXIT_GATE


def cmd_list(args: argparse.Namespace) -> int:
    from autoglm_doctor.app import catalogue
    from autoglm_doctor.registry import load_registry

    from autoglm_doctor.remedy.nofix import no_fix_reason

    registry = load_registry()
    rows = catalogue(registry)
    for r in rows:
        if not r["fix"]:
            r["no_fix"] = no_fix_reason(r["id"])
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    elif args.format == "markdown":
        from autoglm_doctor.render.catalogue import markdown_catalogue

        sys.stdout.write(markdown_catalogue(rows))
    else:
        width = max((len(r["id"]) for r in rows), default=10)
        for r in rows:
            fix = f"fix: {r['fix']}" if r["fix"] else f"no fix: {r['no_fix']}"
            sys.stdout.write(f"{r['id']:<{width}}  {r['severity']:<8}  {','.join(r['scope']):<16}  {r['title']}"
                             f"  [{fix}]\n")
    for problem in registry.problems:
        print(f"autoglm-doctor: warning: {problem}", file=sys.stderr)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from autoglm_doctor.app import catalogue
    from autoglm_doctor.registry import load_registry

    registry = load_registry()
    row = next((r for r in catalogue(registry) if r["id"] == args.check_id), None)
    if row is None:
        fix = registry.fixes.get(args.check_id)
        if fix is None:
            raise UsageError(f"no check or fix with id {args.check_id!r} (see: autoglm-doctor list)")
        m = fix.meta
        sys.stdout.write(
            f"{m.id}: {m.title}\n  fixes: {', '.join(m.fixes)}\n  risk: {m.risk.value}\n"
            f"  reboot required: {'yes' if m.reboot_required else 'no'}\n"
            + (f"  {m.description}\n" if m.description else "")
        )
        return EXIT_OK
    lines = [f"{row['id']}: {row['title']}"]
    if row["description"]:
        lines.append(f"  {row['description']}")
    lines += [
        f"  severity: {row['severity']}",
        f"  scope: {', '.join(row['scope'])}",
        f"  runs on: {', '.join(row['runs_on'])}",
        f"  requires: {', '.join(row['requires']) or '-'}",
        f"  fix: {row['fix'] or '-'}",
        f"  remediation: {row['remediation']}",
        f"  docs: {row['docs']}",
        f"  from: {row['origin']}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def _log_window_start(config: Any, now: float) -> float:
    """Where the log checks' window starts: logs older than that are not kept in a snapshot."""
    from autoglm_doctor.logscan.timeparse import parse_duration

    return now - parse_duration(config.profile.get("logs_window"))


def cmd_collect(args: argparse.Namespace) -> int:
    from autoglm_doctor.targets.recorder import RecordingTarget

    if not args.output.endswith((".tar.gz", ".tgz")) and os.path.exists(args.output) and os.listdir(args.output):
        raise UsageError(f"{args.output}: exists and is not empty")
    if args.no_logs:
        args.skip = [*args.skip, "logs.*"]
    inner = _open_target(args.target, args)
    recorder = RecordingTarget(inner)
    try:
        report, config, _reg = _run(args, recorder)
        recorder.keep_logs(None if args.no_logs else _log_window_start(config, recorder.now()))
        try:
            path = recorder.save(args.output)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc}") from exc
    finally:
        recorder.close()
    counts = report.counts()
    print(
        f"collected {len(report.checks)} checks' reads from {inner.name} into {path} "
        f"({counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, {counts['error']} error, {counts['skip']} skip)",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_fix(args: argparse.Namespace) -> int:
    import fnmatch

    from autoglm_doctor.app import plan_fixes
    from autoglm_doctor.remedy import command as remedy
    from autoglm_doctor.remedy.journal import journal_root

    root = journal_root(args.journal_dir)
    target = _open_target(args.target, args)
    try:
        if args.history:
            return remedy.history(args, target, root)
        if args.rollback:
            return remedy.rollback(args, target, root)
        if args.apply and not args.yes and not sys.stdin.isatty():
            raise UsageError("stdin is not a terminal: pass --yes to apply without confirmation")
        if args.apply and not target.writable:
            raise UsageError(f"{target.name} cannot be changed (a snapshot is read-only): plan with 'fix', apply on "
                             "the machine itself")
        remedy.offer_interrupted(args, target, root)
        report, config, registry = _run(args, target)
        unknown = [p for p in args.fix if not any(fnmatch.fnmatchcase(f, p) for f in registry.fixes)]
        if unknown:
            raise UsageError(f"no fix matches {', '.join(map(repr, unknown))}")
        plans = plan_fixes(registry, target, config, report, args.fix)
        if not args.apply:
            return remedy.dry_run(args, target, plans)

        def verify(applied: Any) -> list[str]:
            return remedy.verify_checks(target, config, registry, _options(args), applied)

        return remedy.apply(args, target, plans, root, report.run_id, verify)
    finally:
        target.close()


def cmd_report(args: argparse.Namespace) -> int:
    from autoglm_doctor.fleet.command import cmd_report as run_report

    return run_report(args, _write)
