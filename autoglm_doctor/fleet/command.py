"""The ``report`` command: ``report merge`` and ``report diff`` over JSON reports."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from autoglm_doctor.errors import EXIT_GATE, EXIT_OK, UsageError

SEVERITIES = ("critical", "high", "medium", "low", "info")


def add_parser(sub: Any) -> None:
    rp = sub.add_parser("report", help="merge many hosts' JSON reports into a fleet view, or diff two runs")
    rsub = rp.add_subparsers(dest="report_command", metavar="SUBCOMMAND")
    rsub.required = True
    m = rsub.add_parser("merge", help="one fleet view (hosts x areas) and a fleet gate from many JSON reports")
    m.add_argument("reports", nargs="+", metavar="REPORT", help="JSON reports, or directories of *.json reports")
    m.add_argument("--format", choices=("console", "json", "junit", "prometheus"), default="console")
    m.add_argument("--fail-on", choices=SEVERITIES, default="high",
                   help="a host fails on a fail at or above this severity (default high); errors always fail")
    m.add_argument("--max-failing-hosts", type=int, default=0, metavar="N",
                   help="the fleet gate passes while at most N hosts fail (default 0)")
    m.add_argument("--expect", action="append", default=[], metavar="HOST",
                   help="a host that must have sent a report (repeatable); a missing one fails")
    m.add_argument("--host-from", choices=("report", "filename"), default="report",
                   help="name each host by the report's hostname (default) or by its file name without .json "
                        "(what the Ansible role writes: the inventory name)")
    m.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    m.add_argument("--json-output", metavar="FILE",
                   help="also write the fleet view as JSON here (one merge gives the table and the JSON)")
    d = rsub.add_parser("diff", help="what changed between runs of one host: new failures, fixed, flapping")
    d.add_argument("reports", nargs="+", metavar="REPORT", help="two or more JSON reports of one host, oldest first")
    d.add_argument("--format", choices=("console", "json"), default="console")
    d.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")


def _load(paths: list[str], host_from: str = "report") -> list[Any]:
    from autoglm_doctor.fleet.load import ReportError, expand, load_report

    try:
        return [load_report(p, host_from=host_from) for p in expand(paths)]
    except ReportError as exc:
        raise UsageError(str(exc)) from exc


def cmd_report(args: argparse.Namespace, write: Callable[[str, str | None], None]) -> int:
    if args.report_command == "merge":
        from autoglm_doctor.fleet.merge import merge
        from autoglm_doctor.fleet.render import FLEET_RENDERERS

        if args.max_failing_hosts < 0:
            raise UsageError("--max-failing-hosts must be 0 or more")
        fleet = merge(_load(args.reports, args.host_from), fail_on=args.fail_on, max_failing_hosts=args.max_failing_hosts,
                      expect=args.expect)
        if args.json_output:
            write(FLEET_RENDERERS["json"](fleet), args.json_output)
        write(FLEET_RENDERERS[args.format](fleet), args.output)
        return EXIT_OK if fleet.passed else EXIT_GATE
    from autoglm_doctor.fleet.diff import diff
    from autoglm_doctor.fleet.render import DIFF_RENDERERS

    reports = _load(args.reports)
    if len(reports) < 2:
        raise UsageError("report diff needs two or more reports, oldest first")
    result = diff(reports)
    write(DIFF_RENDERERS[args.format](result), args.output)
    return EXIT_GATE if result.worse else EXIT_OK
