"""What a snapshot keeps, scrubbed: secrets are removed where data is *recorded*, with the rules the
reports use (autoglm_doctor.redact), because snapshots are made to be shared — a collected archive
must not carry a container's ``HF_TOKEN``, a ``*_PASSWORD`` from its environment, a VNC password
from domain XML or a bearer token a service logged.

Log text is kept only as far back as the log checks look (``profile.logs_window``): a container's
log is history, and the doctor needs only the window it judges."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from autoglm_doctor.redact import redact


def scrub_bytes(data: bytes) -> bytes:
    """UTF-8 text with secrets masked; binary data (sysfs attributes, gzip) as it is."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    clean = redact(text)
    return data if clean == text else clean.encode("utf-8")


def scrub_value(value: Any) -> Any:
    """A JSON-able API answer (docker inspect, libvirt XML, HTTP bodies) with secrets masked."""
    return redact(value)


def scrub_command(result: Any) -> Any:
    """A CommandResult whose output is masked."""
    return dataclasses.replace(result, stdout=redact(result.stdout or ""), stderr=redact(result.stderr or ""))


def _docker_time(line: str) -> float | None:
    """The time of a ``docker logs --timestamps`` line (RFC 3339 with nanoseconds), or None."""
    stamp = line.split(" ", 1)[0]
    if len(stamp) < 20 or stamp[4:5] != "-" or "T" not in stamp:
        return None
    stamp = stamp.replace("Z", "+00:00")
    head, _, rest = stamp.partition(".")
    if rest:  # fromisoformat takes at most microseconds
        digits = "".join(c for c in rest if c.isdigit())
        stamp = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def trim_docker_log(text: str, since: float) -> str:
    """Lines of a timestamped container log from ``since`` on (untimed lines follow the line before)."""
    kept: list[str] = []
    keep = False
    for line in text.splitlines(keepends=True):
        when = _docker_time(line)
        if when is not None:
            keep = when >= since
        if keep:
            kept.append(line)
    return "".join(kept)


def trim_journal(text: str, since: float) -> str:
    """``journalctl -o json`` lines from ``since`` on (by __REALTIME_TIMESTAMP, microseconds)."""
    import json

    kept = []
    for line in text.splitlines(keepends=True):
        try:
            stamp = int(json.loads(line).get("__REALTIME_TIMESTAMP", 0)) / 1e6
        except (ValueError, AttributeError, TypeError):
            continue
        if stamp >= since:
            kept.append(line)
    return "".join(kept)
