"""Human report: grouped by area, a verdict line per finding, remediation under problems, a summary.
rich is imported here only. Colour only on a terminal, and never when NO_COLOR is set."""

from __future__ import annotations

import io
import os
from typing import Any

from autoglm_doctor.model import Report, Severity, Status
from autoglm_doctor.redact import redact

STYLE = {
    Status.PASS: ("PASS", "green"),
    Status.WARN: ("WARN", "yellow"),
    Status.FAIL: ("FAIL", "bold red"),
    Status.ERROR: ("ERROR", "bold magenta"),
    Status.SKIP: ("SKIP", "dim"),
}


def render_console(
    report: Report,
    *,
    fail_on: Severity = Severity.HIGH,
    color: bool | None = None,
    width: int | None = None,
    **_: Any,
) -> str:
    from rich.console import Console
    from rich.markup import escape
    from rich.padding import Padding
    from rich.text import Text

    buf = io.StringIO()
    if color is None:
        color = False
    if os.environ.get("NO_COLOR"):
        color = False
    console = Console(
        file=buf,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        width=width or (None if color else 4000),
        highlight=False,
        soft_wrap=False,
    )
    console.print(f"[bold]autoglm-doctor {escape(report.tool_version)}[/] — target {escape(report.target)}"
                  f" — run {escape(report.run_id)}")
    by_area: dict[str, list] = {}
    for f in report.findings:
        by_area.setdefault(".".join(f.check_id.split(".")[:2]), []).append(f)
    for area in sorted(by_area):
        console.print()
        console.print(f"[bold underline]{escape(area)}[/]")
        for f in by_area[area]:
            label, style = STYLE[f.status]
            line = Text("  ")
            line.append(f"{label:<5}", style=style if not f.ignored else "dim")
            line.append(" ")
            line.append(f.check_id, style="bold")
            if f.resource:
                line.append(f" [{f.resource}]")
            if f.status not in (Status.PASS, Status.SKIP):
                line.append(f" ({f.severity.value})", style="dim")
            if f.ignored:
                line.append(f" IGNORED: {f.ignore_reason}", style="cyan")
            console.print(line)
            console.print(Padding(Text(redact(f.message)), (0, 0, 0, 8), expand=False))
            if f.status in (Status.FAIL, Status.WARN, Status.ERROR) and not f.ignored:
                if f.remediation:
                    console.print(Padding(Text("fix: " + f.remediation, style="cyan"), (0, 0, 0, 8), expand=False))
                if f.fix_id:
                    console.print(Text(f"        plan: autoglm-doctor fix --fix {f.fix_id}", style="dim"))
                if f.ignore_reason:
                    console.print(Text("        note: " + f.ignore_reason, style="yellow"))
    for note in report.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    counts = report.counts()
    console.print()
    gate = report.gate_failures(fail_on)
    verdict = (
        Text("GATE PASSED", style="bold green")
        if not gate
        else Text(f"GATE FAILED ({len(gate)} finding(s) at or above {fail_on.value}, or errors)", style="bold red")
    )
    summary = Text(
        f"{len(report.findings)} findings: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, "
        f"{counts['error']} error, {counts['skip']} skip, {counts['ignored']} ignored in {report.duration_ms / 1000:.2f}s — "
    )
    summary.append(verdict)
    console.print(summary)
    return buf.getvalue()
