"""The ``fix`` command's own options (kept here so the CLI module stays argument plumbing only)."""

from __future__ import annotations

import argparse


def add_fix_options(fx: argparse.ArgumentParser) -> None:
    fx.add_argument("--fix", action="append", default=[], metavar="FIX_ID", help="only these fixes (ids or globs)")
    fx.add_argument("--apply", action="store_true",
                    help="apply the plans: journal, apply in order, re-run the addressed checks, roll back on failure")
    fx.add_argument("--yes", action="store_true", help="apply without asking (required when stdin is not a terminal)")
    fx.add_argument("--yes-i-have-console", action="store_true",
                    help="apply a plan that may cut the SSH session running it (you have a console)")
    fx.add_argument("--rollback", metavar="RUN_ID", help="restore the state before the fix run RUN_ID")
    fx.add_argument("--history", action="store_true", help="list the journalled fix runs")
    fx.add_argument("--journal-dir", metavar="DIR",
                    help="journal root on the target (default /var/lib/autoglm-doctor/journal, or $AUTOGLM_DOCTOR_JOURNAL)")
    fx.add_argument("--format", choices=("text", "json"), default="text",
                    help="json: plans and apply results as described by schema/fix.schema.json")
