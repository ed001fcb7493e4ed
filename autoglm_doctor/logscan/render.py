"""Text renderings of a trace timeline and a logs summary (JSON output is the dicts themselves)."""

from __future__ import annotations

import json
from typing import Any


def as_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def timeline_text(t: dict[str, Any]) -> str:
    if not t["found"]:
        out = [f"trace {t['trace']}: no line carries this id in {len(t['sources_searched'])} source(s): "
               f"{', '.join(t['sources_searched']) or '-'}"]
        out += [f"  note: {n}" for n in t["notes"]]
        return "\n".join(out) + "\n"
    out = [f"trace {t['trace']}: {t['lines']} lines in {len(t['services'])} service(s) "
           f"({', '.join(t['services'])}), {t['start']} -> {t['end']}"
           + (f", {t['duration_ms']:.0f} ms" if t["duration_ms"] is not None else "")]
    if t["aliases"]:
        out.append(f"  also followed (ids logged with it): {', '.join(t['aliases'])}")
    svc_w = max([7] + [len(e["service"]) for e in t["events"]])
    src_w = min(28, max([6] + [len(e["source"]) for e in t["events"]]))
    out.append(f"  {'TIME':<24} {'+MS':>9}  {'SERVICE':<{svc_w}}  {'LEVEL':<7} {'SOURCE':<{src_w}}  MESSAGE")
    last_index = len(t["events"]) - 1
    for i, e in enumerate(t["events"]):
        if e.get("gap_before_s"):
            out.append(f"  {'':<24} {'':>9}  -- gap of {e['gap_before_s']:.3f} s --")
        mark = "!" if e["error"] else ("?" if e["problem"] else " ")
        if i == last_index:
            mark = ">" if not e["error"] else "!"
        offset = f"{e['offset_ms']:.1f}" if e["offset_ms"] is not None else "-"
        via = f" [via {e['via']}]" if e["via"] != t["trace"] else ""
        source = e["source"] if len(e["source"]) <= src_w else "…" + e["source"][-(src_w - 1):]
        out.append(f"{mark} {e['time']:<24} {offset:>9}  {e['service']:<{svc_w}}  {e['level']:<7} {source:<{src_w}}  "
                   f"{_clip(e['message'], 140)}{via}")
    lh = t["last_hop"]
    out.append("")
    out.append(f"last hop: {lh['service']} at {lh['time']}: {_clip(lh['message'], 120)}")
    if t["first_error"]:
        fe = t["first_error"]
        out.append(f"first error: {fe['service']} at {fe['time']}: {_clip(fe['message'], 120)}")
    for lost in t["lost_hops"]:
        out.append(f"lost hop {lost['hop']}: {lost['message']}")
    for gap in t["gaps"]:
        out.append(f"gap: {gap['seconds']:.3f} s after {gap['after']} ({gap['from']} -> {gap['to']})")
    out += [f"note: {n}" for n in t["notes"]]
    return "\n".join(out) + "\n"


def summary_text(r: dict[str, Any]) -> str:
    tr = r["traces"]
    window = f"{r['window']['since']} -> {r['window']['until']}"
    out = [f"logs: {r['lines']} lines from {len(r['sources'])} source(s), window {window}",
           f"traces: {tr['seen']} seen, {tr['failing']} failing, {tr['lost']} lost at a hop"
           + (f", {tr['untracked']} not tracked" if tr["untracked"] else "")]
    if r["failing"]:
        out.append("")
        by = ", ".join(f"{svc}: {n}" for svc, n in r["failing_by_service"].items())
        out.append(f"failing traces (first error by service: {by}):")
        for f in r["failing"]:
            out.append(f"  {f['trace']}  {f['time']}  {f['service']}: {_clip(f['message'], 100)}")
        if tr["failing"] > len(r["failing"]):
            out.append(f"  ... and {tr['failing'] - len(r['failing'])} more (--format json lists the first 20 too; "
                       f"use: autoglm-doctor trace ID)")
    out.append("")
    out.append("hops:")
    for h in r["lost_hops"]:
        if not h["upstream_traces"]:
            out.append(f"  {h['hop']}: no traced lines from {h['upstream']} in the window")
        elif h["lost"]:
            out.append(f"  {h['hop']}: {h['lost']} of {h['upstream_traces']} traces seen at {h['upstream']} never reached "
                       f"{h['downstream']}, e.g. {', '.join(h['examples'][:3])}")
        else:
            out.append(f"  {h['hop']}: all {h['upstream_traces']} traces seen at {h['upstream']} reached {h['downstream']}")
    out.append("")
    out.append("propagation (lines without any trace/request id):")
    for p in r["propagation"]:
        out.append(f"  {p['service']:<20} {p['without_id']:>10} of {p['lines']:>10} lines  ({p['share_without_id'] * 100:.1f} %)")
    if r["top_errors"]:
        out.append("")
        out.append("top error messages:")
        for e in r["top_errors"]:
            out.append(f"  {e['count']:>8}  {e['service']}: {_clip(e['message'], 110)}")
    untraced = r["errors"]["without_trace_id"]
    if untraced:
        out.append("errors without a trace id: " + ", ".join(f"{s}: {n}" for s, n in untraced.items()))
    out.append("")
    out.append("sources:")
    for s in r["sources"]:
        extra = f", {s['unparsable']} unparsable" if s["unparsable"] else ""
        extra += f", {s['outside_window']} outside the window" if s["outside_window"] else ""
        out.append(f"  {s['name']} ({s['service']}): {s['lines']} lines, {s['bytes'] / 1e6:.1f} MB{extra}")
    out += [f"note: {n}" for n in r["notes"]]
    return "\n".join(out) + "\n"
