"""Fleet and diff output: console table, JSON, JUnit (one testsuite per host) and Prometheus text.
Pure functions of a Fleet / HostDiff."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from xml.etree import ElementTree as ET

from autoglm_doctor.fleet.diff import Change, HostDiff
from autoglm_doctor.fleet.load import STATUSES, SEVERITY_RANK
from autoglm_doctor.fleet.merge import Fleet

FLEET_SCHEMA_VERSION = "1.0"
MARK = {"pass": "ok", "warn": "WARN", "fail": "FAIL", "error": "ERROR", "skip": "-", "pending_reboot": "REBOOT"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def fleet_console(fleet: Fleet, **_: Any) -> str:
    hosts_w = max([len("host"), *(len(r.host) for r in fleet.rows)])
    # two header lines (family over group: "host" over "kvm") keep a 16-area table within a screen
    groups = [a.split(".", 1)[1] if "." in a else a for a in fleet.areas]
    widths = [max(len(g), 6) for g in groups]
    families, last = [], None
    for area, w in zip(fleet.areas, widths):
        fam = area.split(".")[0]
        families.append((fam if fam != last else "").ljust(w))
        last = fam
    lead = " " * hosts_w + "      "
    lines = [(lead + "  ".join(families)).rstrip(),
             "host".ljust(hosts_w) + "  gate  " + "  ".join(g.ljust(w) for g, w in zip(groups, widths))]
    lines.append("-" * len(lines[1]))
    for row in fleet.rows:
        cells = [MARK.get(row.cells.get(a, "skip"), "?").ljust(w) if row.report else "".ljust(w)
                 for a, w in zip(fleet.areas, widths)]
        gate = "pass" if row.passed else "FAIL"
        text = row.host.ljust(hosts_w) + f"  {gate}  " + "  ".join(cells)
        lines.append((text.rstrip() + ("  (no report)" if not row.report else "")))
    for row in fleet.rows:
        if row.passed and not any(row.failing.values()):
            continue
        lines.append("")
        lines.append(f"{row.host}:")
        if row.report is None:
            lines.append("  no report from this host")
            continue
        for area in sorted(row.failing):
            for f in sorted(row.failing[area], key=lambda f: (-SEVERITY_RANK[f.severity], f.check_id)):
                where = f" [{f.resource}]" if f.resource else ""
                lines.append(f"  {MARK[f.status]:<6} {f.severity:<8} {f.check_id}{where}: {f.message}")
        for reason in row.reasons:
            if reason.startswith("nothing evaluated"):
                lines.append(f"  {reason}")
    failing = fleet.failing_hosts
    lines.append("")
    lines.extend(f"note: {n}" for n in fleet.notes)
    verdict = "passed" if fleet.passed else "FAILED"
    lines.append(f"fleet gate {verdict}: {_plural(len(failing), 'host')} of {len(fleet.rows)} failing "
                 f"(fail-on {fleet.fail_on}, at most {fleet.max_failing_hosts} allowed)"
                 + (f": {', '.join(failing)}" if failing else ""))
    return "\n".join(lines) + "\n"


def fleet_dict(fleet: Fleet) -> dict[str, Any]:
    hosts = []
    for row in fleet.rows:
        counts = {s: 0 for s in STATUSES}
        for f in row.report.findings if row.report else ():
            counts[f.status] += 1
        hosts.append({
            "host": row.host,
            "report": row.report.path if row.report else None,
            "tool_version": row.report.tool_version if row.report else None,
            "started_at": row.report.started_at if row.report else None,
            "gate": {"passed": row.passed, "reasons": list(row.reasons)},
            "summary": counts,
            "areas": dict(sorted(row.cells.items())),
            "failing": [
                {"check_id": f.check_id, "resource": f.resource, "target": f.target, "status": f.status,
                 "severity": f.severity, "message": f.message}
                for area in sorted(row.failing) for f in row.failing[area]
            ],
        })
    return {
        "schema_version": FLEET_SCHEMA_VERSION,
        "kind": "autoglm-doctor-fleet",
        "gate": {"passed": fleet.passed, "fail_on": fleet.fail_on, "max_failing_hosts": fleet.max_failing_hosts,
                 "failing_hosts": fleet.failing_hosts},
        "areas": list(fleet.areas),
        "hosts": hosts,
        "notes": list(fleet.notes),
    }


def fleet_json(fleet: Fleet, **_: Any) -> str:
    return json.dumps(fleet_dict(fleet), indent=2) + "\n"


def fleet_junit(fleet: Fleet, **_: Any) -> str:
    root = ET.Element("testsuites", name="autoglm-doctor fleet")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for row in fleet.rows:
        suite = ET.SubElement(root, "testsuite", name=row.host, hostname=row.host)
        n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        findings = row.report.findings if row.report else ()
        if row.report is None:
            case = ET.SubElement(suite, "testcase", classname="fleet", name="report")
            ET.SubElement(case, "error", message="no report from this host", type="missing-report")
            n["tests"] += 1
            n["errors"] += 1
        for f in findings:
            name = f.check_id + (f"[{f.resource}]" if f.resource else "")
            case = ET.SubElement(suite, "testcase", classname=f.area, name=(f.target + ": " if f.target else "") + name)
            n["tests"] += 1
            if f.ignored:
                ET.SubElement(case, "skipped", message="ignored: " + f.message)
                n["skipped"] += 1
            elif f.status == "error":
                ET.SubElement(case, "error", message=f.message, type="error")
                n["errors"] += 1
            elif f.status in ("fail", "pending_reboot"):
                ET.SubElement(case, "failure", message=f.message,
                              type="pending-reboot" if f.status == "pending_reboot" else f.severity)
                n["failures"] += 1
            elif f.status == "skip":
                ET.SubElement(case, "skipped", message=f.message)
                n["skipped"] += 1
            elif f.status == "warn":
                ET.SubElement(case, "system-err").text = "warning: " + f.message
        for k, v in n.items():
            suite.set(k, str(v))
        for k in totals:
            totals[k] += n[k]
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_LABEL_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def host_label(host: str) -> str:
    """Hostnames as bounded, stable label values (at most 63 characters of a safe alphabet)."""
    return _LABEL_SAFE.sub("_", host)[:63] or "_"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _epoch(started_at: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(started_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def fleet_prometheus(fleet: Fleet, **_: Any) -> str:
    out = [
        "# HELP autoglm_doctor_fleet_gate_passed 1 when at most max_failing_hosts hosts fail their gate.",
        "# TYPE autoglm_doctor_fleet_gate_passed gauge",
        f"autoglm_doctor_fleet_gate_passed {int(fleet.passed)}",
        "# HELP autoglm_doctor_fleet_hosts Hosts in the merged reports, by gate state.",
        "# TYPE autoglm_doctor_fleet_hosts gauge",
        f'autoglm_doctor_fleet_hosts{{state="passing"}} {len(fleet.rows) - len(fleet.failing_hosts)}',
        f'autoglm_doctor_fleet_hosts{{state="failing"}} {len(fleet.failing_hosts)}',
        "# HELP autoglm_doctor_fleet_host_gate_passed 1 when the host passes its gate.",
        "# TYPE autoglm_doctor_fleet_host_gate_passed gauge",
    ]
    for row in fleet.rows:
        out.append(f'autoglm_doctor_fleet_host_gate_passed{{host="{_esc(host_label(row.host))}"}} {int(row.passed)}')
    out += ["# HELP autoglm_doctor_fleet_host_findings Findings per host by severity and status.",
            "# TYPE autoglm_doctor_fleet_host_findings gauge"]
    for row in fleet.rows:
        counts: dict[tuple[str, str], int] = {}
        for f in row.report.findings if row.report else ():
            counts[(f.severity, f.status)] = counts.get((f.severity, f.status), 0) + 1
        for (sev, status), n in sorted(counts.items()):
            out.append(f'autoglm_doctor_fleet_host_findings{{host="{_esc(host_label(row.host))}",severity="{sev}",'
                       f'status="{status}"}} {n}')
    out += ["# HELP autoglm_doctor_fleet_host_last_run_timestamp_seconds When the host's merged report was started.",
            "# TYPE autoglm_doctor_fleet_host_last_run_timestamp_seconds gauge"]
    for row in fleet.rows:
        ts = _epoch(row.report.started_at) if row.report else None
        if ts is not None:
            out.append(f'autoglm_doctor_fleet_host_last_run_timestamp_seconds{{host="{_esc(host_label(row.host))}"}} '
                       f"{ts:.0f}")
    return "\n".join(out) + "\n"


FLEET_RENDERERS = {"console": fleet_console, "json": fleet_json, "junit": fleet_junit, "prometheus": fleet_prometheus}


def _change_dict(c: Change) -> dict[str, Any]:
    target, check_id, resource = c.key
    return {"target": target, "check_id": check_id, "resource": resource,
            "before": c.before.status if c.before else None, "after": c.after.status if c.after else None,
            "severity": f.severity if (f := c.after or c.before) else None,
            "message": f.message if f else ""}


def diff_json(d: HostDiff, **_: Any) -> str:
    return json.dumps({
        "schema_version": FLEET_SCHEMA_VERSION,
        "kind": "autoglm-doctor-diff",
        "host": d.host,
        "old": {"report": d.old.path, "run_id": d.old.run_id, "started_at": d.old.started_at},
        "new": {"report": d.new.path, "run_id": d.new.run_id, "started_at": d.new.started_at},
        "new_failures": [_change_dict(c) for c in d.new_failures],
        "fixed": [_change_dict(c) for c in d.fixed],
        "gone": [_change_dict(c) for c in d.gone],
        "changed": [_change_dict(c) for c in d.changed],
        "flapping": [{"target": k[0], "check_id": k[1], "resource": k[2], "statuses": list(s)} for k, s in d.flapping],
        "notes": list(d.notes),
    }, indent=2) + "\n"


def diff_console(d: HostDiff, **_: Any) -> str:
    lines = [f"{d.host}: {d.old.started_at or d.old.path} -> {d.new.started_at or d.new.path}"]
    lines.extend(f"note: {n}" for n in d.notes)

    def section(title: str, changes: tuple[Change, ...]) -> None:
        if changes:
            lines.append(f"{title} ({len(changes)}):")
            for c in changes:
                b = c.before.status if c.before else "absent"
                a = c.after.status if c.after else "absent"
                msg = f.message if (f := c.after or c.before) else ""
                lines.append(f"  {c.label}: {b} -> {a}  {msg}")

    section("new failures", d.new_failures)
    section("fixed", d.fixed)
    section("no longer reported", d.gone)
    section("other changes", d.changed)
    if d.flapping:
        lines.append(f"flapping ({len(d.flapping)}):")
        for key, statuses in d.flapping:
            lines.append(f"  {Change(key, None, None).label}: {' -> '.join(statuses)}")
    if len(lines) == 1 + len(d.notes):
        lines.append("no change")
    return "\n".join(lines) + "\n"


DIFF_RENDERERS = {"console": diff_console, "json": diff_json}
