"""Times: ``--since/--until`` specs (relative ``15m`` or absolute) and the timestamps log lines carry
(ISO 8601 / RFC 3339 with any fraction, epoch seconds/ms/us/ns, journald microseconds, libvirt's
``2026-01-01 10:00:00.123+0000``). Naive timestamps are taken as UTC."""

from __future__ import annotations

import datetime as dt
import re
import time

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
ISO_LIKE = re.compile(
    r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d(?::\d\d)?)([.,]\d+)?\s*(Z|z|UTC|[+-]\d\d(?::?\d\d)?)?$"
)
LEADING_TS = re.compile(
    rb"^\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|z|[+-]\d\d:?\d\d)?)\]?[\s:]"
)


class TimeSpecError(ValueError):
    pass


def parse_duration(text: object) -> float:
    if not isinstance(text, str):
        raise TimeSpecError(f"a duration is text like 15m, 1h or 2d, got {text!r}")
    m = DURATION.match(text)
    if not m:
        raise TimeSpecError(f"{text!r} is not a duration: use a number and s, m, h, d or w (15m, 1h, 2d)")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_time_spec(text: str, now: float | None = None) -> float:
    """``15m`` (ago), an ISO date/time, or epoch seconds -> epoch seconds."""
    now = time.time() if now is None else now
    if DURATION.match(text or ""):
        return now - parse_duration(text)
    value = parse_timestamp(text.strip()) if text else None
    if value is None:
        raise TimeSpecError(f"{text!r} is not a time: use 15m/1h/2d (ago), 2026-01-31T10:00:00Z or epoch seconds")
    return value


def _iso(text: str) -> float | None:
    m = ISO_LIKE.match(text)
    if not m:
        return None
    date, clock, frac, zone = m.groups()
    if clock.count(":") == 1:
        clock += ":00"
    frac = (frac or "").replace(",", ".")[:7]  # datetime takes microseconds; drop nanoseconds
    if zone in (None, "Z", "z", "UTC"):
        tz = "+00:00"
    elif len(zone) == 3:
        tz = zone + ":00"
    elif ":" not in zone:
        tz = f"{zone[:3]}:{zone[3:]}"
    else:
        tz = zone
    try:
        return dt.datetime.fromisoformat(f"{date}T{clock}{frac}{tz}").timestamp()
    except ValueError:
        return None


def parse_timestamp(value: object) -> float | None:
    """A log timestamp -> epoch seconds, None when it is not one (never raises)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _epoch(float(value))
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        try:
            return _epoch(float(text))
        except ValueError:
            return None
    return _iso(text)


def _epoch(number: float) -> float | None:
    # seconds, milliseconds, microseconds (journald) or nanoseconds, by magnitude
    for scale in (1.0, 1e3, 1e6, 1e9):
        seconds = number / scale
        if 1e8 < seconds < 1e10:  # 1973 .. 2286
            return seconds
    return None


def leading_timestamp(line: bytes) -> tuple[float | None, int]:
    """A timestamp at the start of a plain-text line: (epoch or None, bytes it used)."""
    m = LEADING_TS.match(line)
    if not m:
        return None, 0
    return _iso(m.group(1).decode("ascii")), m.end()


def iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
