"""Trace-id log correlation in the check run: failing requests, requests lost between services, and
services that log without trace ids, over the profile's window (``logs_window``, default 1h) of the
profile's sources (``logs_sources``, default the containers of ``logs_services``).

The scan is one fact shared by the three checks. It reads through the Target; big files of a
local or sysroot target are streamed from disk by ``autoglm_doctor.logscan`` (never loaded whole).
"""

from __future__ import annotations

from typing import Any, Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.logscan.settings import settings_from_profile
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity

SCOPES = (Scope.HOST, Scope.GUEST, Scope.CONTAINER)


def _reference_time(ctx: Context) -> float | None:
    """'Now' for the window: the run's now (a recorded snapshot's capture time); none for a hand-made
    snapshot, whose lines are shown whatever their age."""
    return ctx.now if ctx.clock_known else None


def log_window_report(ctx: Context) -> dict[str, Any]:
    """The ``logs`` summary of the profile's sources over its window (computed once per run)."""
    from autoglm_doctor.logscan.engine import summarize
    from autoglm_doctor.logscan.sources import default_specs, resolve
    from autoglm_doctor.logscan.timeparse import parse_duration

    now = _reference_time(ctx)
    since = now - parse_duration(ctx.profile.get("logs_window")) if now is not None else None
    settings = settings_from_profile(ctx.profile, since, None)
    notes: list[str] = []
    specs = default_specs(ctx.profile)
    streams = resolve(ctx.target, specs, notes)
    summary = summarize(ctx.target, streams, settings, jobs=1, notes=notes)
    report = summary.report()
    report["specs"] = [str(s) for s in specs]
    return report


class _WindowCheck(Check):
    """The logs.traces checks share one scan of the window (a fact); with no lines to judge they skip,
    saying why."""

    def run(self, ctx: Context) -> Iterable[Finding]:
        report = ctx.fact(log_window_report)
        if not report["lines"]:
            why = "; ".join(report["notes"]) or "the sources are empty"
            window = report["window"]["since"]
            yield self.skip(f"no log lines since {window} from {', '.join(report['specs'])}: {why}",
                            observed=report["notes"], expected="log lines from the deployment's services")
            return
        yield from self.judge(ctx, report)

    def judge(self, ctx: Context, report: dict[str, Any]) -> Iterable[Finding]:
        raise NotImplementedError


class TraceErrors(_WindowCheck):
    meta = CheckMeta(
        id="logs.traces.errors",
        title="Requests that failed (error level or 5xx status), by the service of their first error",
        severity=Severity.HIGH,
        scope=SCOPES,
        runs_on=SCOPES,  # log files are read wherever the services run, a container included
        remediation="follow one failing request with `autoglm-doctor trace TRACE_ID` and fix the first error it shows",
        docs=docs_link("logs.traces.errors"),
        description="Groups the traces of the window by the service where their first error line was logged.",
    )

    def judge(self, ctx: Context, report: dict[str, Any]) -> Iterable[Finding]:
        failing = report["failing_by_service"]
        untraced = report["errors"]["without_trace_id"]
        examples: dict[str, list[str]] = {}
        for f in report["failing"]:
            examples.setdefault(f["service"], []).append(f["trace"])
        top: dict[str, str] = {}
        for e in report["top_errors"]:
            top.setdefault(e["service"], e["message"])
        seen = [p["service"] for p in report["propagation"]]
        for svc in seen:
            n = failing.get(svc, 0)
            if n:
                yield self.fail(
                    f"{n} of {report['traces']['seen']} traces failed first at {svc}; most common error: "
                    f"{top.get(svc, '?')!r}; e.g. {', '.join(examples.get(svc, [])[:3]) or '(see autoglm-doctor logs)'}",
                    resource=svc, observed={"failing_traces": n, "top_error": top.get(svc)}, expected="0 failing traces",
                    remediation=f"autoglm-doctor trace {examples[svc][0]} shows where it failed" if examples.get(svc) else None)
            elif untraced.get(svc) and svc in report["services"]:
                yield self.warn(
                    f"{untraced[svc]} error lines at {svc} carry no trace id, so the failing requests cannot be told; "
                    f"most common: {top.get(svc, '?')!r}",
                    resource=svc, observed={"error_lines_without_id": untraced[svc]}, expected="errors tied to a trace",
                    remediation=f"log the trace id on {svc}'s error lines (see logs.traces.propagation)")
            elif untraced.get(svc):
                yield self.warn(
                    f"{untraced[svc]} error lines in {svc}'s log (not a request service, so no trace ids): "
                    f"most common: {top.get(svc, '?')!r}",
                    resource=svc, observed={"error_lines": untraced[svc]}, expected="0 error lines",
                    remediation=f"read {svc}'s log around these errors: they may explain failing requests")
            else:
                yield self.passed(f"no trace failed at {svc}", resource=svc, observed={"failing_traces": 0},
                                  expected="0 failing traces")


class LostHops(_WindowCheck):
    meta = CheckMeta(
        id="logs.traces.lost_hops",
        title="Requests that never reached the next service (lost at a hop)",
        severity=Severity.HIGH,
        scope=SCOPES,
        runs_on=SCOPES,  # log files are read wherever the services run, a container included
        remediation="check the upstream's client errors and timeouts, the downstream's URL/port and the network "
                    "between them (bridge, firewall); `autoglm-doctor trace TRACE_ID` shows the last hop",
        docs=docs_link("logs.traces.lost_hops"),
        description="For each hop upstream>downstream (profile logs_hops, default consecutive logs_services), "
                    "traces logged by the upstream and never by the downstream. Requests still in flight at the "
                    "end of the window count too: re-run with a window that ends a minute ago if in doubt.",
    )

    def judge(self, ctx: Context, report: dict[str, Any]) -> Iterable[Finding]:
        for hop in report["lost_hops"]:
            name = hop["hop"]
            if not hop["upstream_traces"]:
                yield self.skip(f"{hop['upstream']} logged no line with a trace id in the window: nothing to follow "
                                f"across {name}", resource=name, observed=0, expected="traced lines at the upstream")
            elif hop["lost"]:
                yield self.fail(
                    f"{hop['lost']} of {hop['upstream_traces']} traces seen at {hop['upstream']} never reached "
                    f"{hop['downstream']}" + ("" if hop["downstream_seen"] else f" ({hop['downstream']} logged no traced line at all)")
                    + f"; e.g. {', '.join(hop['examples'][:3])}",
                    resource=name, observed={"lost": hop["lost"], "upstream_traces": hop["upstream_traces"],
                                             "examples": hop["examples"]}, expected="0 lost traces")
            else:
                yield self.passed(f"all {hop['upstream_traces']} traces seen at {hop['upstream']} reached "
                                  f"{hop['downstream']}", resource=name, observed={"lost": 0}, expected="0 lost traces")


class Propagation(_WindowCheck):
    meta = CheckMeta(
        id="logs.traces.propagation",
        title="Every service logs trace ids (propagation works) and its logs are readable",
        severity=Severity.MEDIUM,
        scope=SCOPES,
        runs_on=SCOPES,  # log files are read wherever the services run, a container included
        remediation="propagate the W3C traceparent / X-Request-ID header into the service and log it as trace_id "
                    "(OpenTelemetry logging instrumentation, or a request-id middleware); for vLLM pass X-Request-Id",
        docs=docs_link("logs.traces.propagation"),
        description="Share of each service's lines without any trace/request id, lines no parser could read, and "
                    "service clocks that disagree by more than logs_skew_seconds (estimated from the requests two "
                    "services share; the timelines are shown corrected).",
    )

    def judge(self, ctx: Context, report: dict[str, Any]) -> Iterable[Finding]:
        limit = float(ctx.profile.get("logs_untraced_max_share"))
        by_service = {p["service"]: p for p in report["propagation"]}
        for svc in report["services"]:
            if svc not in by_service:
                yield self.warn(f"no log line from {svc} in the window (sources: {', '.join(report['specs'])})",
                                resource=svc, observed=0, expected="log lines",
                                remediation=f"add {svc}'s logs to profile.logs_sources, or check that it is running")
        for svc, p in by_service.items():
            share = p["share_without_id"]
            msg = f"{p['without_id']} of {p['lines']} lines from {svc} carry no trace/request id ({share * 100:.1f} %)"
            observed = {"lines": p["lines"], "without_id": p["without_id"], "share": share}
            if svc not in report["services"] and not p["with_id"]:
                yield self.passed(f"{svc} is not one of logs_services (not on the request path): no trace ids "
                                  f"expected in its {p['lines']} lines", resource=svc, observed=observed,
                                  expected="nothing (not a request service)")
            elif p["lines"] and not p["with_id"]:
                yield self.fail(msg + ": propagation is broken here", resource=svc, observed=observed,
                                expected="trace ids on request lines")
            elif share > limit:
                yield self.warn(msg + f", over the {limit * 100:.0f} % limit", resource=svc, observed=observed,
                                expected=f"<= {limit * 100:.0f} % without id")
            else:
                yield self.passed(msg, resource=svc, observed=observed, expected=f"<= {limit * 100:.0f} % without id")
        limit_s = float(ctx.profile.get("logs_skew_seconds"))
        for svc, skew in report.get("clock_skew", {}).items():
            if abs(skew["offset_s"]) > limit_s:
                yield self.warn(f"{svc}'s clock is {abs(skew['offset_s']):.3f} s "
                                f"{'ahead of' if skew['offset_s'] > 0 else 'behind'} {skew['reference']}'s (estimated "
                                f"from {skew['pairs']} requests they share)", resource=f"clock:{svc}",
                                observed=skew, expected=f"clocks within {limit_s:g} s",
                                remediation=f"synchronise {svc}'s clock (chrony/NTP on its host or VM; a container "
                                            "shares its host's clock); until then `trace` shows corrected times")
        for src in report["sources"]:
            if src["unparsable"]:
                yield self.warn(f"{src['unparsable']} lines unparsable in {src['name']} "
                                f"({', '.join(f'{k}: {v}' for k, v in sorted(src['problems'].items()))})",
                                resource=src["name"], observed=src["problems"], expected="0 unparsable lines",
                                remediation="make the service log one JSON object (or logfmt) per line; "
                                            "look for binary output or truncated writes")


CHECKS = (TraceErrors, LostHops, Propagation)
