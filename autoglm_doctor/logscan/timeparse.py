"""Times: ``--since/--until`` specs (``15m`` ago, ISO, epoch) and the timestamps log lines carry.

ISO 8601 goes through ``datetime.fromisoformat`` after a small shim for what Python 3.10's version
lacks (and so that 3.10 and 3.11+ read the same strings): a ``Z``/``z``/`` UTC`` zone, ``+0000`` and
``+00`` offsets, a comma or more than six fraction digits (nanoseconds are cut to microseconds).
Only date-and-time forms count (``YYYY-MM-DD[T ]HH:MM...``): a bare date or a number is not a log time.
A time without a zone is in the profile's ``logs_timezone`` (UTC by default, as in containers).

vLLM writes ``MM-DD HH:MM:SS`` with neither year nor zone: its year is the latest that does not put
the time after a reference the caller knows (the file's mtime, a snapshot's capture time, now; a day
of slack for zones and clocks), so a file written across New Year reads right.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from functools import lru_cache

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
SHIM = re.compile(r"(?:[.,](\d+))?\s*(Z|z|UTC|[+-]\d\d(?::?\d\d)?)?$")
LEADING_TS = re.compile(rb"^\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|z|[+-]\d\d:?\d\d)?)\]?[\s:]")
UTC = dt.timezone.utc


class TimeSpecError(ValueError):
    pass


@lru_cache(maxsize=64)
def zone(name: str) -> dt.tzinfo:
    """``UTC``, a fixed offset ``+08:00`` or an IANA name (``Asia/Shanghai``); ValueError otherwise."""
    if name.upper() in ("UTC", "Z"):
        return UTC
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)", name)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        return dt.timezone(dt.timedelta(minutes=minutes if m.group(1) == "+" else -minutes))
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError for odd keys
        raise ValueError(f"{name!r} is not a time zone (use UTC, +08:00 or a name like Asia/Shanghai)") from exc


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


def parse_iso(text: str, tz: dt.tzinfo = UTC) -> float | None:
    """An ISO 8601 date and time -> epoch seconds (naive: in ``tz``), None when it is not one.
    The common ``YYYY-MM-DDTHH:MM:SS[.f][zone]`` takes the epoch of its hour from a cache."""
    if (len(text) >= 19 and text[13] == ":" and text[16] == ":" and text[14:19].isascii()
            and text[14:16].isdigit() and text[17:19].isdigit()):
        m = SHIM.match(text, 19)
        if m is not None and text[14] < "6" and text[17] < "6":
            frac, zone_text = m.groups()
            base = _iso_hour(text[:13], zone_text or "", tz)
            if base is not None:  # whole microseconds / 1e6, as datetime.timestamp() computes it
                seconds = int(base) + int(text[14:16]) * 60 + int(text[17:19])
                return (seconds * 1_000_000 + (int(frac[:6].ljust(6, "0")) if frac else 0)) / 1e6
        return None
    return _parse_iso(text, tz)


@lru_cache(maxsize=4096)
def _iso_hour(date_hour: str, zone_text: str, tz: dt.tzinfo) -> float | None:
    return _parse_iso(date_hour + ":00:00" + zone_text, tz)


def _parse_iso(text: str, tz: dt.tzinfo) -> float | None:
    if len(text) < 16 or text[4] != "-" or text[7] != "-" or text[10] not in "Tt " or text[13] != ":":
        return None
    head, tail = text[:16], text[16:]
    if tail[:1] == ":":
        head, tail = text[:19], text[19:]
    m = SHIM.match(tail)
    if m is None:
        return None
    frac, zone_text = m.groups()
    iso_text = head.replace(" ", "T").replace("t", "T") + (f".{frac[:6].ljust(6, '0')}" if frac else "")
    if zone_text in ("Z", "z", "UTC"):
        iso_text += "+00:00"
    elif zone_text:
        iso_text += zone_text[:3] + ":" + (zone_text[-2:] if len(zone_text) > 3 else "00")
    try:
        stamp = dt.datetime.fromisoformat(iso_text)
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=tz)).timestamp()


def parse_timestamp(value: object, tz: dt.tzinfo = UTC) -> float | None:
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
    return parse_iso(text, tz)


def _epoch(number: float) -> float | None:
    # seconds, milliseconds, microseconds (journald) or nanoseconds, by magnitude
    for scale in (1.0, 1e3, 1e6, 1e9):
        seconds = number / scale
        if 1e8 < seconds < 1e10:  # 1973 .. 2286
            return seconds
    return None


def leading_timestamp(line: bytes, tz: dt.tzinfo = UTC) -> tuple[float | None, int]:
    """A timestamp at the start of a plain-text line: (epoch or None, bytes it used)."""
    m = LEADING_TS.match(line)
    if not m:
        return None, 0
    return parse_iso(m.group(1).decode("ascii"), tz), m.end()


@lru_cache(maxsize=4096)
def _hour_base(month_day_hour: str, ref_hour: int, tz: dt.tzinfo) -> float | None:
    """Epoch of ``MM-DD HH`` in the latest year not after the reference (in hours since the epoch)
    plus a day."""
    try:
        month, day, hour = int(month_day_hour[:2]), int(month_day_hour[3:5]), int(month_day_hour[6:8])
    except ValueError:
        return None
    ref = ref_hour * 3600.0
    year = dt.datetime.fromtimestamp(ref, tz).year
    for y in range(year + 1, year - 8, -1):  # 29 February: back to the last leap year
        try:
            when = dt.datetime(y, month, day, hour, tzinfo=tz).timestamp()
        except ValueError:  # 29 February of a common year, month 13, hour 24
            continue
        if when <= ref + 86400:
            return when
    return None


def yearless(text: str, ref: float, tz: dt.tzinfo = UTC) -> float | None:
    """vLLM's ``MM-DD HH:MM:SS[.fff]`` -> epoch seconds, in the latest year not after ``ref``."""
    if len(text) < 14 or text[2] != "-" or text[5] != " " or text[8] != ":" or text[11] != ":":
        return None
    base = _hour_base(text[:8], int(ref // 3600), tz)
    minute, second, frac = text[9:11], text[12:14], text[15:21]
    if (base is None or not (text[9:].isascii() and minute.isdigit() and second.isdigit())
            or int(minute) > 59 or int(second) > 59 or (frac and not frac.isdigit())):
        return None
    return ((int(base) + int(minute) * 60 + int(second)) * 1_000_000 + int(frac.ljust(6, "0") or 0)) / 1e6


def iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
