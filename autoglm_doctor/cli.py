"""Argument parsing and exit codes only. Exit 0: gate passed; 1: gate failed; 2: usage error or the
tool itself broke. Everything heavy is imported after parsing, so --version stays fast."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from autoglm_doctor import __version__

from autoglm_doctor.errors import EXIT_GATE, EXIT_OK, EXIT_USAGE, UsageError

SEVERITIES = ("critical", "high", "medium", "low", "info")
LOG_COMMANDS = ("trace", "logs")


__all__ = ["EXIT_GATE", "EXIT_OK", "EXIT_USAGE", "UsageError", "main"]

# The command table: each sub-command and the function that runs it ("module:function", imported only
# when that command runs). Arrows point down: the CLI imports the commands, never the other way round.
COMMAND_TABLE: dict[str, str] = {
    "check": "autoglm_doctor.commands:cmd_check",
    "list": "autoglm_doctor.commands:cmd_list",
    "explain": "autoglm_doctor.commands:cmd_explain",
    "collect": "autoglm_doctor.commands:cmd_collect",
    "fix": "autoglm_doctor.commands:cmd_fix",
    "report": "autoglm_doctor.commands:cmd_report",
    "trace": "autoglm_doctor.logcommands:cmd_trace",
    "logs": "autoglm_doctor.logcommands:cmd_logs",
}
COMMANDS = tuple(COMMAND_TABLE)


def _parser(only_command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only_command``, only that command's sub-parser is built (argparse is
    slow to build, and a run needs one)."""
    p = argparse.ArgumentParser(
        prog="autoglm-doctor",
        description="Preflight diagnostics and remediation for AutoGLM deployments (KVM, VFIO, bridges, Docker, SELinux, logs).",
    )
    p.add_argument("--version", action="version", version=f"autoglm-doctor {__version__}")
    def logging_options(parser: argparse.ArgumentParser, default: Any) -> None:
        parser.add_argument("--log-format", choices=("auto", "console", "json"),
                            default="auto" if default is None else default,
                            help="the tool's own logs on stderr (default: JSON unless stderr is a terminal)")
        parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                            default="warning" if default is None else default)

    logging_options(p, None)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        logging_options(sp, argparse.SUPPRESS)  # accepted after the command too
        sp.add_argument("--target", default="local", help="local (default), local:/SYSROOT, snapshot:PATH, "
                        "ssh://[USER@]HOST[:PORT], libvirt:DOMAIN (guest agent) or docker:CONTAINER")
        sp.add_argument("--identity", metavar="KEY", help="ssh targets: private key file (ssh -i)")
        sp.add_argument("--ssh-config", metavar="FILE", help="ssh targets: ssh client configuration file (ssh -F)")
        sp.add_argument("--only", action="append", default=[], metavar="ID", help="check ids or globs (repeatable)")
        sp.add_argument("--skip", action="append", default=[], metavar="ID", help="check ids or globs to leave out")
        sp.add_argument("--scope", action="append", default=[], choices=("host", "vm", "guest", "container", "device"),
                        help="only checks that inspect this (repeatable): host, vm, guest, container, device")
        sp.add_argument("--config", metavar="FILE",
                        help="TOML config, read after /etc/autoglm-doctor/config.toml and ./autoglm-doctor.toml")
        sp.add_argument("--timeout", type=float, default=30.0, help="per-check timeout in seconds (default 30)")
        sp.add_argument("--deadline", type=float, default=600.0, metavar="SECONDS",
                        help="whole-run deadline: then the report is written with what finished (default 600)")
        sp.add_argument("--jobs", type=int, default=4, help="checks run at once (default 4)")
        sp.add_argument("--libvirt-uri", metavar="URI", help="libvirt connection the vm.* checks review "
                        "(overrides profile.libvirt_uri; default qemu:///system)")

    def wanted(name: str) -> bool:
        return only_command is None or only_command == name

    if wanted("check"):
        c = sub.add_parser("check", help="run the checks and report; exit code gates CI")
        common(c)
        c.add_argument("--format", choices=("console", "json", "junit", "prometheus"), default="console")
        c.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
        c.add_argument("--fail-on", choices=SEVERITIES, default="high",
                       help="fail the gate on a fail at or above this severity (default high); errors always fail")
        c.add_argument("--color", choices=("auto", "always", "never"), default="auto")
        loud = c.add_mutually_exclusive_group()
        loud.add_argument("-v", "--verbose", action="store_const", const=1, dest="verbosity", default=0,
                          help="console: list every pass and skip too")
        loud.add_argument("-q", "--quiet", action="store_const", const=-1, dest="verbosity",
                          help="console: only failures and the summary")
        c.add_argument("--junit-warn-as", choices=("system-err", "failure"), default="system-err",
                       help="junit: how a warning shows (default: <system-err> and a property; failure: a failed test)")
        c.add_argument("--allow-pending-reboot", action="store_true",
                       help="a fix applied that needs a reboot (status pending_reboot) does not fail the gate")
        c.add_argument("--guest", action="append", default=[], metavar="TARGET",
                       help="also check this guest or container in the same report, e.g. libvirt:DOMAIN "
                            "(repeatable; default: the profile's guests)")
    if wanted("list"):
        ls = sub.add_parser("list", help="the check catalogue")
        ls.add_argument("--format", choices=("console", "json", "markdown"), default="console")
    if wanted("explain"):
        ex = sub.add_parser("explain", help="everything about one check")
        ex.add_argument("check_id")
    if wanted("collect"):
        co = sub.add_parser("collect", help="record what the checks read into a snapshot")
        common(co)
        co.add_argument("--output", "-o", required=True, metavar="PATH", help="a .tar.gz file or an empty directory")
        co.add_argument("--no-logs", action="store_true",
                        help="record no container or journal logs (the logs.* checks are left out)")
    if wanted("fix"):
        fx = sub.add_parser("fix", help="plan the fixes for current findings (dry run); --apply, --rollback, --history")
        common(fx)
        from autoglm_doctor.remedy.options import add_fix_options

        add_fix_options(fx)
    if wanted("report"):
        from autoglm_doctor.fleet.command import add_parser as add_report_parser

        add_report_parser(sub)
    if only_command is None or only_command in LOG_COMMANDS:
        from autoglm_doctor.logcommands import add_parsers as add_log_parsers

        add_log_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if a in COMMANDS), None)
    parser = _parser(command)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    restore = _stop_on_signals()
    try:
        import importlib

        module, _, function = COMMAND_TABLE[args.command].partition(":")
        return int(getattr(importlib.import_module(module), function)(args))
    except UsageError as exc:
        print(f"autoglm-doctor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("autoglm-doctor: interrupted", file=sys.stderr)
        return EXIT_USAGE
    except Stopped as exc:
        print(f"autoglm-doctor: stopped by {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the tool itself broke: one line, exit 2, no traceback
        print(f"autoglm-doctor: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        restore()


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C, so every ``finally`` (temporary trees of collect,
    open targets) runs before the process ends."""


def _stop_on_signals() -> Any:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals are delivered to the main thread only (an embedding caller)

    def stop(signum: int, _frame: Any) -> None:
        raise Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    return lambda: [signal.signal(sig, handler) for sig, handler in previous.items()]

