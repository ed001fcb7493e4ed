"""The exact line parser: JSON lines (any key order, nested objects), journald JSON entries (with
a JSON/logfmt/plain MESSAGE inside), logfmt and plain text. One line -> a ``Record`` with timestamp,
level, service, ids, message - or a named problem ("malformed JSON", "binary data", ...).

A line's correlation id is its first id field in line order; the other ids on the same line are
aliases (an agent logging both its trace id and the model server's request id links the two).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.timeparse import leading_timestamp, parse_timestamp

MAX_LINE = 1 << 20  # longer lines are counted, not parsed
ERROR_PREFIXES = ("err", "fatal", "crit", "panic", "emerg", "alert")
SYSLOG_LEVELS = ("error", "error", "error", "error", "warning", "info", "info", "debug")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
# "ERROR 01-01 10:00:01 [engine.py:12] " (vLLM) or "ERROR " before the message: not part of it
PLAIN_HEADER = re.compile(r"^(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|PANIC)\b:?\s*"
                          r"(?:\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?\s+)?(?:\[[^\]\s]+\]\s*)?")
PLAIN_LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|PANIC)\b", re.I)
LOGFMT_PAIR = re.compile(r'([A-Za-z_@][\w.@-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
LIBVIRT_ERROR = re.compile(r"(?i)\berror\b|\bfailed\b|\bfailure\b|\bterminating on signal\b")
NORMALISE = re.compile(r"[0-9a-fA-F]{8,}(?:-[0-9a-fA-F]{4,})*|\d+(?:\.\d+)?")
PROBLEM_BINARY = "binary data"
PROBLEM_JSON = "malformed JSON"
PROBLEM_LONG = "line over 1 MiB"
PROBLEM_UTF8 = "invalid UTF-8"


@dataclass(slots=True)
class Record:
    ts: float | None
    service: str
    level: str  # error, warning, info, debug or "" (unknown)
    ids: tuple[str, ...]
    message: str
    status: int | None = None

    @property
    def trace_id(self) -> str:
        return self.ids[0] if self.ids else ""

    @property
    def error(self) -> bool:
        return self.level == "error" or (self.status is not None and 500 <= self.status <= 599)


def normalise_level(value: Any, field_name: str = "") -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if field_name.lower() == "priority":
        try:
            return SYSLOG_LEVELS[int(value)]
        except (ValueError, TypeError, IndexError):
            return ""
    if not isinstance(value, str):
        return ""
    low = value.strip().lower()
    if low.startswith(ERROR_PREFIXES):
        return "error"
    if low.startswith("warn"):
        return "warning"
    if low.startswith(("info", "notice")):
        return "info"
    if low.startswith(("debug", "trace")):
        return "debug"
    return ""


def normalise_message(message: str) -> str:
    """Error messages grouped for the "top errors" table: numbers and ids become #. The same
    errors repeat, so short messages are remembered (a bounded cache)."""
    if len(message) <= 512:
        return _normalise_short(message)
    return NORMALISE.sub("#", message.strip())[:160]


@functools.lru_cache(maxsize=4096)
def _normalise_short(message: str) -> str:
    return NORMALISE.sub("#", message.strip())[:160]


def _walk(obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in obj.items():
        if isinstance(value, dict):
            yield from _walk(value)
        else:
            yield key, value


def _status(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) == 3:
        return int(value)
    return None


class LineParser:
    """Parses lines for one scan (compiled once; cheap to build in each worker)."""

    def __init__(self, settings: ScanSettings) -> None:
        self.s = settings
        self.id_fields = frozenset(settings.trace_fields)
        self.service_fields = frozenset(settings.service_fields)
        self.level_fields = frozenset(settings.level_fields)
        self.message_fields = frozenset(settings.message_fields)
        self.time_fields = frozenset(settings.time_fields)
        self.status_fields = frozenset(settings.status_fields)
        self.wanted = (self.id_fields | self.service_fields | self.level_fields | self.message_fields
                       | self.time_fields | self.status_fields)
        self.patterns = [re.compile(p) for p in settings.trace_patterns]

    # -- entry point -----------------------------------------------------------------------
    def parse(self, raw: bytes, service: str, kind: str = "file",
              ts_default: float | None = None) -> tuple[Record | None, str | None]:
        """(record, problem). A blank line is (None, None); an unusable one (None, problem); a
        usable line with invalid UTF-8 is (record, PROBLEM_UTF8)."""
        line = raw.strip()
        if not line:
            return None, None
        if len(line) > MAX_LINE:
            return None, PROBLEM_LONG
        problem = None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("utf-8", "replace")
            if text.count("\ufffd") * 4 > len(text):
                return None, PROBLEM_BINARY
            problem = PROBLEM_UTF8
        if text[0] == "{":
            try:
                obj = json.loads(text)
            except ValueError:
                return None, PROBLEM_JSON
            if not isinstance(obj, dict):
                return None, PROBLEM_JSON
            if "__REALTIME_TIMESTAMP" in obj or "__CURSOR" in obj:
                return self._journal(obj, service), problem
            pairs = obj.items() if dict not in map(type, obj.values()) else list(_walk(obj))  # flat: as is
            return self._fields(pairs, service, ts_default, text), problem
        if "\x00" in text or _mostly_control(text):
            return None, PROBLEM_BINARY
        return self._text(text, service, kind, ts_default), problem

    # -- structured ------------------------------------------------------------------------
    def _fields(self, pairs: Iterable[tuple[str, Any]], service: str, ts_default: float | None,
                text: str) -> Record:
        ts = None
        level = ""
        svc = None
        message = None
        status = None
        ids: list[str] = []
        wanted = self.wanted
        for key, value in pairs:
            if key not in wanted:
                continue
            if key in self.id_fields and isinstance(value, str) and value:
                m = TRACEPARENT.match(value)
                ident = m.group(1) if m else value
                if ident not in ids:
                    ids.append(ident)
            elif key in self.service_fields and svc is None and isinstance(value, str) and value:
                svc = value
            elif key in self.level_fields and not level:
                level = normalise_level(value, key)
            elif key in self.time_fields and ts is None:
                ts = parse_timestamp(value)
            elif key in self.message_fields and message is None and isinstance(value, str):
                message = value
            elif key in self.status_fields and status is None:
                status = _status(value)
        return Record(
            ts=ts if ts is not None else ts_default,
            service=svc or service,
            level=level,
            ids=tuple(ids),
            message=message if message is not None else text,
            status=status,
        )

    def _journal(self, obj: dict[str, Any], service: str) -> Record:
        message = obj.get("MESSAGE", "")
        if isinstance(message, list):  # journald exports non-UTF-8 messages as byte arrays
            try:
                message = bytes(int(b) & 0xFF for b in message).decode("utf-8", "replace")
            except (TypeError, ValueError):
                message = ""
        if not isinstance(message, str):
            message = str(message)
        unit = obj.get("_SYSTEMD_UNIT") or obj.get("UNIT") or ""
        ident = obj.get("CONTAINER_NAME") or obj.get("SYSLOG_IDENTIFIER") or (unit[:-8] if unit.endswith(".service") else unit)
        ts = None
        raw_ts = obj.get("__REALTIME_TIMESTAMP")
        if isinstance(raw_ts, str) and raw_ts.isdigit():
            ts = int(raw_ts) / 1e6
        level = normalise_level(obj.get("PRIORITY"), "PRIORITY")
        inner, _problem = self.parse(message.encode("utf-8", "replace"), ident or service, "journald", ts)
        if inner is None:
            return Record(ts=ts, service=ident or service, level=level, ids=(), message=message)
        if not inner.level:
            inner.level = level
        return inner

    def _text(self, text: str, service: str, kind: str, ts_default: float | None) -> Record:
        ts, used = leading_timestamp(text.encode("utf-8", "replace")[:64])
        rest = text[used:] if used else text
        pairs = LOGFMT_PAIR.findall(text)
        if len(pairs) >= 2 and any(k in self.level_fields or k in self.message_fields or k in self.id_fields
                                   for k, _ in pairs):
            decoded = [(k, v[1:-1].replace('\\"', '"') if v.startswith('"') else v) for k, v in pairs]
            rec = self._fields(decoded, service, ts if ts is not None else ts_default, text)
            return rec
        ids: list[str] = []
        for rx in self.patterns:
            for m in rx.finditer(text):
                if m.group(1) not in ids:
                    ids.append(m.group(1))
        lm = PLAIN_LEVEL.search(rest[:120])
        level = normalise_level(lm.group(1)) if lm else ""
        if not level and kind == "libvirt" and LIBVIRT_ERROR.search(rest):
            level = "error"
        message = PLAIN_HEADER.sub("", rest.strip(), count=1) if lm and lm.start() == 0 else rest.strip()
        return Record(ts=ts if ts is not None else ts_default, service=service, level=level, ids=tuple(ids),
                      message=message or rest.strip())


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _mostly_control(text: str) -> bool:
    sample = text[:256]
    return len(CONTROL.findall(sample)) * 10 > len(sample)
