"""Human report, built to be read top-down on one screen: what is broken comes first (failures and
errors, then warnings, each by severity then area), every one with its fix; passing areas are one line
each (``host.kvm ✓ 3 passed``); skips are counted, not listed. ``-v`` (verbosity 1) lists every pass
and skip too, ``-q`` (verbosity -1) keeps only failures and the summary. The last line is a recap
that says what to do next.

rich is imported here only. Colour only on a terminal, and never when NO_COLOR is set."""

from __future__ import annotations

import io
import os
from typing import Any

from autoglm_doctor.model import Finding, Report, Severity, Status
from autoglm_doctor.redact import redact
from autoglm_doctor.render.common import area, finding_target, gate_result, is_problem, plural, problem_order

STYLE = {
    Status.PASS: ("PASS", "green"),
    Status.WARN: ("WARN", "yellow"),
    Status.FAIL: ("FAIL", "bold red"),
    Status.ERROR: ("ERROR", "bold magenta"),
    Status.SKIP: ("SKIP", "dim"),
    Status.PENDING_REBOOT: ("REBOOT", "bold yellow"),
}
INDENT = 6


def _style(status: Status) -> tuple[str, str]:
    return STYLE.get(status, (status.value.upper().replace("_", " "), "yellow"))


def _where(f: Finding) -> str:
    text = f" [{f.resource}]" if f.resource else ""
    target = finding_target(f)
    return text + (f" @{target}" if target else "")


def render_console(
    report: Report,
    *,
    fail_on: Severity = Severity.HIGH,
    color: bool | None = None,
    width: int | None = None,
    verbosity: int = 0,
    **_: Any,
) -> str:
    from rich.console import Console
    from rich.markup import escape
    from rich.padding import Padding
    from rich.text import Text

    buf = io.StringIO()
    color = bool(color) and not os.environ.get("NO_COLOR")
    console = Console(
        file=buf,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        width=width or 4000,
        highlight=False,
        soft_wrap=False,
    )

    def indented(text: str, style: str = "") -> None:
        console.print(Padding(Text(text, style=style), (0, 0, 0, INDENT), expand=False))

    host = f" ({escape(report.hostname)})" if getattr(report, "hostname", "") else ""
    console.print(f"[bold]autoglm-doctor {escape(report.tool_version)}[/] — target {escape(report.target)}{host}"
                  f" — run {escape(report.run_id)}")

    shown = [f for f in report.findings if is_problem(f) and not f.ignored]
    if verbosity < 0:
        shown = [f for f in shown if f.status in (Status.FAIL, Status.ERROR)]
    if shown:
        console.print()
    for f in sorted(shown, key=problem_order):
        label, style = _style(f.status)
        line = Text()
        line.append(f"{label:<5}", style=style)
        line.append(f" {f.severity.value:<8} ", style="dim")
        line.append(f.check_id, style="bold")
        line.append(_where(f))
        console.print(line)
        indented(redact(f.message))
        if f.remediation:
            indented("fix: " + redact(f.remediation), "cyan")
        if f.fix_id:
            indented(f"plan: autoglm-doctor fix --fix {f.fix_id}", "dim")
        if f.ignore_reason:
            indented("note: " + f.ignore_reason, "yellow")

    ignored = [f for f in report.findings if f.ignored]
    if ignored and verbosity >= 0:
        console.print()
        for f in sorted(ignored, key=problem_order):
            line = Text()
            line.append("IGNORED", style="cyan")
            line.append(f" {f.check_id}{_where(f)} ({f.status.value}): {f.ignore_reason}")
            console.print(line)

    if verbosity >= 0:
        _areas(console, report, verbosity, indented)

    for note in report.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    console.print()
    console.print(_summary(report, fail_on))
    console.print(_recap(report))
    return buf.getvalue()


def _areas(console: Any, report: Report, verbosity: int, indented: Any) -> None:
    """One line per area: its passes collapsed, its other verdicts counted; with -v every pass and skip."""
    from rich.text import Text

    by_area: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_area.setdefault(area(f), []).append(f)
    if not by_area:
        return
    console.print()
    width = max(len(a) for a in by_area)
    for name in sorted(by_area):
        findings = by_area[name]
        passed = sum(1 for f in findings if f.status is Status.PASS)
        line = Text(f"{name:<{width}}  ")
        line.append("✓" if passed else "·", style="green" if passed else "dim")
        parts = [f"{passed} passed"] if passed else []
        failed = sum(1 for f in findings if f.status in (Status.FAIL, Status.ERROR) and not f.ignored)
        warned = sum(1 for f in findings if is_problem(f) and f.status not in (Status.FAIL, Status.ERROR)
                     and not f.ignored)
        skipped = sum(1 for f in findings if f.status is Status.SKIP)
        ignored = sum(1 for f in findings if f.ignored)
        if failed:
            parts.append(f"{failed} failed")
        if warned:
            parts.append(plural(warned, "warning"))
        if skipped:
            parts.append(f"{skipped} skipped")
        if ignored:
            parts.append(f"{ignored} ignored")
        line.append(" " + ", ".join(parts))
        console.print(line)
        if verbosity > 0:
            for f in findings:
                if f.status in (Status.PASS, Status.SKIP) and not f.ignored:
                    label, style = _style(f.status)
                    row = Text("  ")
                    row.append(f"{label:<5}", style=style)
                    row.append(f" {f.check_id}{_where(f)}")
                    console.print(row)
                    indented(redact(f.message), "dim" if f.status is Status.SKIP else "")


def _summary(report: Report, fail_on: Severity) -> Any:
    from rich.text import Text

    counts = report.counts()
    statuses = ", ".join(f"{counts[s.value]} {s.value.replace('_', ' ')}" for s in Status
                         if s is not Status.PENDING_REBOOT or counts[s.value])
    summary = Text(f"{plural(len(report.findings), 'finding')}: {statuses}, {counts['ignored']} ignored "
                   f"in {report.duration_ms / 1000:.2f}s — ")
    gate = gate_result(report, fail_on)
    if gate["passed"]:
        summary.append("GATE PASSED", style="bold green")
        return summary
    if not gate["reasons"]:
        summary.append("GATE FAILED (nothing evaluated: every selected check was skipped or errored)", style="bold red")
        return summary
    fails = sum(1 for r in gate["reasons"] if r["status"] == Status.FAIL.value)
    errors = len(gate["reasons"]) - fails
    why = [plural(fails, "failure") + f" at or above {fail_on.value}"] if fails else []
    why += [plural(errors, "error")] if errors else []
    summary.append(f"GATE FAILED ({' and '.join(why)})", style="bold red")
    return summary


def _recap(report: Report) -> Any:
    """What to do next, in one line: '2 critical, 3 high in 3 areas — run `autoglm-doctor fix` …'."""
    from rich.text import Text

    live = [f for f in report.findings if not f.ignored]
    failing = [f for f in live if f.status in (Status.FAIL, Status.ERROR)]
    warnings = [f for f in live if is_problem(f) and f not in failing]
    if not failing and not warnings:
        return Text(f"nothing to fix: {plural(len(live), 'finding')}, none failing or warning", style="green")
    by_sev = [f"{sum(1 for f in failing if f.severity is s)} {s.value}" for s in Severity
              if any(f.severity is s for f in failing)]
    areas = {area(f) for f in failing + warnings}
    head = ", ".join(by_sev) if by_sev else "no failures"
    if warnings:
        head += (" and " if by_sev else ", ") + plural(len(warnings), "warning")
    text = f"{head} in {plural(len(areas), 'area')}"
    if any(f.fix_id for f in failing + warnings):
        text += " — run `autoglm-doctor fix` to see the plans"
    elif failing:
        text += " — each failure above says how to fix it"
    return Text(text, style="bold")
