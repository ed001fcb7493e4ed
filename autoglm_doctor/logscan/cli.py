"""Argument parsers and handlers of the ``trace`` and ``logs`` commands (kept import-light)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any) -> None:
    t = sub.add_parser("trace", help="the timeline of one request across all log sources")
    t.add_argument("trace_id")
    lg = sub.add_parser("logs", help="summary of traces, errors and lost hops in a time window")
    del t, lg


def cmd_trace(args: argparse.Namespace) -> int:
    raise NotImplementedError


def cmd_logs(args: argparse.Namespace) -> int:
    raise NotImplementedError
