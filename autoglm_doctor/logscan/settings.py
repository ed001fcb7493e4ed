"""Validators of the log-correlation family's profile keys (declared in ``profile_schema``) and the
immutable settings a scan runs with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


DEFAULT_SERVICES = ("auto-glm", "vllm")
DEFAULT_TRACE_FIELDS = (
    "trace_id", "traceId", "trace.id", "otelTraceID", "traceparent", "request_id", "x_request_id", "X-Request-ID",
)
DEFAULT_SERVICE_FIELDS = ("service", "service.name", "service_name", "app")
DEFAULT_LEVEL_FIELDS = ("level", "levelname", "severity", "lvl", "log.level", "PRIORITY")
DEFAULT_MESSAGE_FIELDS = ("message", "msg", "MESSAGE", "event", "log")
DEFAULT_TIME_FIELDS = ("timestamp", "time", "ts", "@timestamp", "asctime", "__REALTIME_TIMESTAMP")
DEFAULT_STATUS_FIELDS = ("status", "status_code", "http.status_code", "http_status")
# Plain-text lines: each pattern has exactly one group, the id. Order = priority.
DEFAULT_TRACE_PATTERNS = (
    r"\b00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b",                     # W3C traceparent
    r"(?i)\btrace[_.-]?id[\"']?\s*[=:]\s*[\"']?([0-9A-Za-z_-]{8,64})",     # trace_id=..., traceId: ...
    r"(?i)\b(?:x[_-])?request[_-]?id[\"']?\s*[=:]\s*[\"']?([0-9A-Za-z._-]{8,64})",
    r"\b(?:chat)?cmpl-([0-9A-Za-z-]{8,64})",                               # vLLM / OpenAI request ids
    r"\brid=['\"]?([0-9A-Za-z_-]{8,64})",                                   # SGLang's request id
)
FIELD_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@-]{0,63}$")
SOURCE_KINDS = ("docker", "journald", "libvirt", "file")


def _string_list(value: Any, what: str = "entry") -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"must be a list of non-empty strings (each {what})")
    return [v.strip() for v in value]


def validate_fields(value: Any) -> list[str]:
    names = _string_list(value, "a field name")
    bad = [n for n in names if not FIELD_NAME.match(n) or '"' in n]
    if bad:
        raise ValueError(f"not a JSON/logfmt field name: {', '.join(map(repr, bad))}")
    if not names:
        raise ValueError("needs at least one field name")
    return names


def validate_patterns(value: Any) -> list[str]:
    out = []
    for text in _string_list(value, "a regular expression with one group"):
        try:
            rx = re.compile(text)
        except re.error as exc:
            raise ValueError(f"{text!r} is not a valid regular expression: {exc}") from exc
        if rx.groups != 1:
            raise ValueError(f"{text!r} must have exactly one capturing group (the id), has {rx.groups}")
        out.append(text)
    return out


def validate_hops(value: Any) -> list[str]:
    out = []
    for hop in _string_list(value, "'upstream>downstream'"):
        up, sep, down = hop.partition(">")
        if not sep or not up.strip() or not down.strip() or ">" in down:
            raise ValueError(f"hop {hop!r} must look like 'agent>model-server'")
        out.append(f"{up.strip()}>{down.strip()}")
    return out


def validate_sources(value: Any) -> list[str]:
    from autoglm_doctor.logscan.sources import SourceSpecError, parse_source_spec

    names = _string_list(value, "a source: PATH, docker:NAME, journald:UNIT or libvirt:DOMAIN")
    for spec in names:
        try:
            parse_source_spec(spec)
        except SourceSpecError as exc:
            raise ValueError(str(exc)) from exc
    return names


def validate_window(value: Any) -> str:
    from autoglm_doctor.logscan.timeparse import TimeSpecError, parse_duration

    try:
        parse_duration(value)
    except TimeSpecError as exc:
        raise ValueError(str(exc)) from exc
    return value


def validate_timezone(value: Any) -> str:
    from autoglm_doctor.logscan.timeparse import zone

    if not isinstance(value, str):
        raise ValueError(f"must be a time zone name, got {value!r}")
    zone(value)
    return value


def validate_share(value: Any) -> float:
    if not 0 <= float(value) <= 1:
        raise ValueError(f"must be between 0 and 1, got {value}")
    return float(value)


def validate_positive(value: Any) -> Any:
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")
    return value


@dataclass(frozen=True)
class ScanSettings:
    """Everything a scan needs from the profile, picklable for worker processes."""

    trace_fields: tuple[str, ...] = DEFAULT_TRACE_FIELDS
    trace_patterns: tuple[str, ...] = DEFAULT_TRACE_PATTERNS
    service_fields: tuple[str, ...] = DEFAULT_SERVICE_FIELDS
    level_fields: tuple[str, ...] = DEFAULT_LEVEL_FIELDS
    message_fields: tuple[str, ...] = DEFAULT_MESSAGE_FIELDS
    time_fields: tuple[str, ...] = DEFAULT_TIME_FIELDS
    status_fields: tuple[str, ...] = DEFAULT_STATUS_FIELDS
    services: tuple[str, ...] = DEFAULT_SERVICES
    hops: tuple[tuple[str, str], ...] = ()
    max_traces: int = 2_000_000
    gap_seconds: float = 5.0
    untraced_max_share: float = 0.5
    timezone: str = "UTC"
    skew_seconds: float = 1.0
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, inclusive
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hop_pairs(self) -> tuple[tuple[str, str], ...]:
        if self.hops:
            return self.hops
        return tuple(zip(self.services, self.services[1:]))

    def in_window(self, ts: float | None) -> bool:
        if ts is None:
            return True  # no timestamp: cannot be excluded; counted in the summary as undated
        return (self.since is None or ts >= self.since) and (self.until is None or ts <= self.until)

    @property
    def windowed(self) -> bool:
        return self.since is not None or self.until is not None


def settings_from_profile(profile: Any, since: float | None = None, until: float | None = None) -> ScanSettings:
    hops = profile.get("logs_hops")
    return ScanSettings(
        trace_fields=tuple(profile.get("logs_trace_fields")),
        trace_patterns=tuple(profile.get("logs_trace_patterns")),
        service_fields=tuple(profile.get("logs_service_fields")),
        level_fields=tuple(profile.get("logs_level_fields")),
        message_fields=tuple(profile.get("logs_message_fields")),
        time_fields=tuple(profile.get("logs_time_fields")),
        status_fields=tuple(profile.get("logs_status_fields")),
        services=tuple(profile.get("logs_services")),
        hops=tuple(tuple(h.split(">", 1)) for h in hops) if hops else (),  # type: ignore[misc]
        max_traces=int(profile.get("logs_max_traces")),
        gap_seconds=float(profile.get("logs_gap_seconds")),
        untraced_max_share=float(profile.get("logs_untraced_max_share")),
        timezone=str(profile.get("logs_timezone")),
        skew_seconds=float(profile.get("logs_skew_seconds")),
        since=since,
        until=until,
    )
