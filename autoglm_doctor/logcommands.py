"""Argument parsers and handlers of the ``trace`` and ``logs`` commands. Module level stays
import-light (argparse only): the main parser imports it on every start.

Exit codes as for ``check``: 0 clean, 1 something to look at (the trace failed, stopped at a hop or
was not found; the window has failing/lost traces or a service without ids), 2 usage or tool error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

SOURCE_HELP = ("a log source, repeatable: PATH (file or directory, rotated .1/.gz included), docker:NAME, "
               "journald:UNIT, libvirt:DOMAIN; prefix SERVICE= to name the service (default: the profile's "
               "logs_sources, else the containers of logs_services)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default="local", help="local (default), local:/SYSROOT or snapshot:PATH")
    p.add_argument("--config", metavar="FILE", help="TOML config (profile keys logs_*)")
    p.add_argument("--source", action="append", default=[], metavar="SOURCE", help=SOURCE_HELP)
    p.add_argument("--since", metavar="TIME", help="start of the window: 15m, 2h, 1d (ago) or an ISO time")
    p.add_argument("--until", metavar="TIME", help="end of the window (same forms)")
    p.add_argument("--format", choices=("console", "json"), default="console")
    p.add_argument("--jobs", type=int, default=0, help="worker processes for big local files (default: one per CPU)")


def add_parsers(sub: Any) -> None:
    t = sub.add_parser("trace", help="the timeline of one request across all log sources")
    t.add_argument("trace_id", help="a trace id, W3C traceparent, X-Request-ID or vLLM request id")
    _common(t)
    lg = sub.add_parser("logs", help="summary of traces, errors and lost hops in a time window")
    _common(lg)
    lg.add_argument("--engine", choices=("auto", "line"), default="auto",
                    help="auto = the native scanner (files, docker: and journald: sources) when it is built, else the per-line parser; "
                         "line = the per-line parser (pure Python) even where the native scanner is built")


def _prepare(args: argparse.Namespace) -> tuple[Any, Any, list, list[str], Any]:
    """(target, settings, streams, notes, logger) from the arguments; UsageError on bad input."""
    from autoglm_doctor.errors import UsageError
    from autoglm_doctor.config import ConfigError, load_config
    from autoglm_doctor.logs import configure, new_run_id
    from autoglm_doctor.logscan import settings as settings_mod
    from autoglm_doctor.logscan.sources import SourceSpecError, default_specs, parse_source_spec, resolve
    from autoglm_doctor.logscan.timeparse import TimeSpecError, parse_time_spec
    from autoglm_doctor.targets import TargetSpecError, open_target
    from autoglm_doctor.targets.base import SnapshotError

    if args.jobs < 0:
        raise UsageError("--jobs must be 0 (one per CPU) or more")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    try:
        since = parse_time_spec(args.since) if args.since else None
        until = parse_time_spec(args.until) if args.until else None
    except TimeSpecError as exc:
        raise UsageError(str(exc)) from exc
    if since is not None and until is not None and since > until:
        raise UsageError("--since is after --until")
    try:
        specs = [parse_source_spec(s) for s in args.source] if args.source else default_specs(config.profile)
    except SourceSpecError as exc:
        raise UsageError(str(exc)) from exc
    try:
        target = open_target(args.target)
    except (TargetSpecError, SnapshotError) as exc:
        raise UsageError(str(exc)) from exc
    run_id = new_run_id()
    log = configure(run_id, args.log_format, args.log_level)
    settings = settings_mod.settings_from_profile(config.profile, since, until)
    notes: list[str] = []
    streams = resolve(target, specs, notes)
    if not streams:
        target.close()
        raise UsageError("no log source could be read: " + ("; ".join(notes) or "none given"))
    log.info("logscan_start", command=args.command, target=target.name, sources=[str(s) for s in specs],
             streams=len(streams), bytes=sum(s.size for s in streams))
    return target, settings, streams, notes, log


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _early_searches(args: argparse.Namespace, trace_id: str) -> dict[tuple[str, int, tuple[bytes, ...]], Any]:
    """The search of big local files given with --source starts at once, in forked children, and runs
    while the configuration and the sources are loaded (``find_trace`` takes its results when the
    resolved streams and the needles are the same; otherwise it is cancelled)."""
    import os
    import posixpath

    from autoglm_doctor.logscan import bigfile
    from autoglm_doctor.logscan.ids import needles

    if args.target != "local" or not args.source:
        return {}
    wanted = needles(trace_id)
    jobs = args.jobs or os.cpu_count() or 1
    early = {}
    for spec in args.source:
        path = posixpath.normpath(spec.strip())
        try:
            size = os.stat(path).st_size if path.startswith("/") and not path.endswith(".gz") else 0
        except OSError:
            continue
        if size >= bigfile.PARALLEL_MIN and os.path.isfile(path):
            early[(path, size, tuple(wanted))] = bigfile.start_search(path, wanted, size, jobs)
    return early


def cmd_trace(args: argparse.Namespace) -> int:
    from autoglm_doctor.errors import EXIT_GATE, EXIT_OK, UsageError
    from autoglm_doctor.logscan.progress import TerminalProgress
    from autoglm_doctor.logscan.render import as_json, timeline_text
    from autoglm_doctor.logscan.timeline import find_trace
    from autoglm_doctor.redact import redact

    trace_id = args.trace_id.strip()
    if len(trace_id) < 4 or any(c.isspace() for c in trace_id):
        raise UsageError(f"{args.trace_id!r} is not a trace or request id")
    early = _early_searches(args, trace_id)
    target, settings, streams, notes, log = _prepare(args)
    progress = TerminalProgress("searching")
    try:
        result = find_trace(target, streams, settings, trace_id, jobs=args.jobs, progress=progress, notes=notes,
                            early=early)
    finally:
        progress.finish()
        target.close()
    log.info("trace_done", trace=trace_id, lines=result["lines"], services=result["services"])
    _write(as_json(redact(result)) if args.format == "json" else redact(timeline_text(result)))
    failed = not result["found"] or result["first_error"] is not None or bool(result["lost_hops"])
    return EXIT_GATE if failed else EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    from autoglm_doctor.errors import EXIT_GATE, EXIT_OK
    from autoglm_doctor.logscan.engine import summarize
    from autoglm_doctor.logscan.progress import TerminalProgress
    from autoglm_doctor.logscan.render import as_json, summary_text
    from autoglm_doctor.redact import redact

    target, settings, streams, notes, log = _prepare(args)
    progress = TerminalProgress("scanning")
    try:
        summary = summarize(target, streams, settings, jobs=args.jobs, progress=progress, notes=notes,
                            engine=args.engine)
    finally:
        progress.finish()
        target.close()
    report = summary.report()
    log.info("logs_done", lines=report["lines"], traces=report["traces"]["seen"],
             failing=report["traces"]["failing"], lost=report["traces"]["lost"])
    _write(as_json(redact(report)) if args.format == "json" else redact(summary_text(report)))
    broken = any(p["lines"] and not p["with_id"] and p["service"] in report["services"] for p in report["propagation"])
    bad = report["traces"]["failing"] or report["traces"]["lost"] or broken
    return EXIT_GATE if bad else EXIT_OK
