"""The line parser: one line -> a ``Record`` (time, level, service, ids, message, status) or a named
problem ("malformed JSON", "binary data", ...). Each line picks its own format, so a mixed file is
read line by line:

- JSON objects (any key order, nested objects), journald JSON entries (a JSON/logfmt/plain MESSAGE
  inside) and Docker json-file records (``{"log": …, "stream": …, "time": …}``: the ``log`` line is
  parsed in turn, dockerd's ``time`` dates it when it has no time of its own);
- vLLM's header ``INFO 12-31 23:59:59 [logger.py:43] …`` (optionally after ``(APIServer pid=1) ``):
  no year and no zone, see ``timeparse.yearless``; a time dockerd recorded wins over it;
- SGLang's ``[2026-12-31 23:59:59 TP0] …`` (no zone: ``logs_timezone``);
- uvicorn's access line ``INFO:     10.0.0.3:5000 - "POST /v1/chat/completions HTTP/1.1" 500 …``;
- logfmt (``key=value …``) and plain text (a leading ISO time, a leading level word).

A Python traceback's lines (``Traceback (most recent call last):``, indented frames, the final
``SomeError: …``) are *continuations*: they belong to the record before them, which becomes an error.

Ids: a structured line's ids are its id fields in line order; a text line's are the matches of
``logs_trace_patterns`` in line order. The first is the line's id, the others are aliases; every id
is put in canonical form (``ids.canonical``). With ``fast`` the JSON is decoded by orjson when it is
installed (json's reading of any line orjson refuses, so both give the same records).
"""

from __future__ import annotations

import functools
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from autoglm_doctor.logscan.ids import canonical
from autoglm_doctor.logscan.settings import DEFAULT_TRACE_PATTERNS, ScanSettings
from autoglm_doctor.logscan.timeparse import leading_timestamp, parse_iso, parse_timestamp, yearless, zone

orjson_loads: Callable[[bytes | str], Any] | None
try:
    from orjson import loads as orjson_loads
except ImportError:  # the optional [fast] extra
    orjson_loads = None

MAX_LINE = 1 << 20  # longer lines are counted, not parsed
# orjson reads an integer beyond 64 bits as a float (json keeps the int): such lines go to json
LONG_DIGITS = re.compile(rb"\d{19}")
ERROR_PREFIXES = ("err", "fatal", "crit", "panic", "emerg", "alert")
SYSLOG_LEVELS = ("error", "error", "error", "error", "warning", "info", "info", "debug")
LEVELS = r"TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|PANIC"
PLAIN_HEADER = re.compile(rf"^(?:{LEVELS})\b:?\s*(?:\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?\s+)?(?:\[[^\]\s]+\]\s*)?")
PLAIN_LEVEL = re.compile(rf"\b({LEVELS})\b", re.I)
VLLM = re.compile(rf"^(?:\([\w.-]+ pid=\d+\) )?({LEVELS}) (\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) \[[^\]]*\] ")
SGLANG = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: [A-Z]+\d+)*\] ")
ACCESS = re.compile(r'\s\S+ - "[A-Z]+ \S+ HTTP/[\d.]+" (\d{3})\b')  # uvicorn's access line
LEADING_LEVEL = re.compile(rf"({LEVELS})\b:?", re.I)  # used with match(text, pos)
LOGFMT_START = re.compile(r"^[A-Za-z_@][\w.@-]*=")
# key=value pairs as ``findall`` of ``([A-Za-z_@][\w.@-]*)=(...)`` finds them, written to try a key only at
# the start of a run of key characters (skipping its leading digits, dots, dashes): the plain form tried
# every position of a run and scanned it to its end each time, quadratic on a long word (a 16 kB one
# took 1.7 s, a 1 MB one hours).
LOGFMT_PAIR = re.compile(r'(?<![\w.@-])(?:(?![A-Za-z_@])[\w.@-])*([A-Za-z_@][\w.@-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
TRACEBACK = "Traceback (most recent call last):"
CONTINUATION = re.compile(r"^(?:[ \t]+\S|Traceback \(most recent call last\):|During handling of the above exception"
                          r"|The above exception was the direct cause)")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:Error|Exception|Exit|Interrupt|Warning)(?::\s|$)")
DOCKER_KEYS = frozenset(("log", "stream", "time"))
LIBVIRT_ERROR = re.compile(r"(?i)\berror\b|\bfailed\b|\bfailure\b|\bterminating on signal\b")
NORMALISE = re.compile(r"[0-9a-fA-F]{8,}(?:-[0-9a-fA-F]{4,})*|\d+(?:\.\d+)?")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
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
    cont: int = 0  # 1: a continuation line of the record before; 2: a traceback starts (that record failed)
    traceback: bool = False

    @property
    def trace_id(self) -> str:
        return self.ids[0] if self.ids else ""

    @property
    def error(self) -> bool:
        return self.level == "error" or self.traceback or (self.status is not None and 500 <= self.status <= 599)


def normalise_level(value: Any, field_name: str = "") -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if field_name.lower() == "priority":
        try:
            return SYSLOG_LEVELS[int(value)]
        except (ValueError, TypeError, IndexError, OverflowError):  # OverflowError: 1e400 is inf to json
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
    """Error messages grouped for the "top errors" table: numbers and ids become #."""
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


# A literal each default pattern's match holds near its start (lower-case when the pattern ignores
# case): a line without it is not searched, and a line with it from just before its first one (sre
# tries ``\b`` at every position, ~50 ns a character). The ids are every match of each pattern, as
# ``finditer`` over the whole line finds them. Patterns of the profile search the whole line.
GUARDS = dict(zip(DEFAULT_TRACE_PATTERNS, ("00-", "trace", "request", "cmpl-", "rid=")))
NEAR = 16  # a match starts at most this many characters before its literal


def _id_searches(patterns: Iterable[str]) -> list[tuple[re.Pattern, str | None, bool]]:
    return [(re.compile(p), GUARDS.get(p), p.startswith("(?i)")) for p in patterns]


class LineParser:
    """Parses the lines of one stream in order (it remembers whether a traceback is running).
    ``ref`` is the reference time for yearless times; ``fast`` decodes JSON with orjson."""

    def __init__(self, settings: ScanSettings, fast: bool = False) -> None:
        self.s = settings
        self.id_fields = frozenset(settings.trace_fields)
        self.service_fields = frozenset(settings.service_fields)
        self.level_fields = frozenset(settings.level_fields)
        self.message_fields = frozenset(settings.message_fields)
        self.time_fields = frozenset(settings.time_fields)
        self.status_fields = frozenset(settings.status_fields)
        self.wanted = (self.id_fields | self.service_fields | self.level_fields | self.message_fields
                       | self.time_fields | self.status_fields)
        self.id_searches = _id_searches(settings.trace_patterns)
        self.tz = zone(settings.timezone)
        self.ref = settings.until if settings.until is not None else time.time()
        self.fast_loads = orjson_loads if fast else None
        self.in_traceback = False

    def begin(self, ref: float | None = None) -> None:
        """A new stream (or window) starts: no traceback is running."""
        self.in_traceback = False
        if ref is not None:
            self.ref = ref

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
        if line[:1] == b"{" and self.fast_loads is not None and not LONG_DIGITS.search(line):
            try:
                obj = self.fast_loads(line)
            except ValueError:
                pass  # json decides (NaN, huge numbers, invalid UTF-8, or malformed)
            else:
                return self._object(obj, service, ts_default, line), None
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
            except (ValueError, RecursionError):
                return None, PROBLEM_JSON
            return self._object(obj, service, ts_default, text), problem
        if not text.isprintable() and ("\x00" in text or _mostly_control(text)):
            return None, PROBLEM_BINARY
        return self._text(raw.decode("utf-8", "replace").rstrip() if raw[:1] in b" \t" else text,
                          service, kind, ts_default), problem

    # -- structured ------------------------------------------------------------------------
    def _object(self, obj: Any, service: str, ts_default: float | None, line: bytes | str) -> Record | None:
        if not isinstance(obj, dict):
            return None
        if "__REALTIME_TIMESTAMP" in obj or "__CURSOR" in obj:
            self.in_traceback = False
            return self._journal(obj, service)
        if DOCKER_KEYS <= obj.keys() and len(obj) <= 4 and isinstance(obj["log"], str) and ts_default is None:
            inner = obj["log"].rstrip("\r\n")
            ts = parse_timestamp(obj["time"])
            if not inner.strip():
                return None
            if inner[0] == "{":
                try:
                    return self._object(json.loads(inner), service, ts, inner)
                except (ValueError, RecursionError):
                    pass
            return self._text(inner, service, "docker-json", ts)
        self.in_traceback = False
        pairs = obj.items() if dict not in map(type, obj.values()) else list(_walk(obj))  # flat: as is
        return self._fields(pairs, service, ts_default, line)

    def _fields(self, pairs: Iterable[tuple[str, Any]], service: str, ts_default: float | None,
                text: str | bytes) -> Record:
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
                ident = canonical(value)
                if ident and ident not in ids:
                    ids.append(ident)
            elif key in self.service_fields and svc is None and isinstance(value, str) and value:
                svc = value
            elif key in self.level_fields and not level:
                level = normalise_level(value, key)
            elif key in self.time_fields and ts is None:
                ts = parse_timestamp(value, self.tz)
            elif key in self.message_fields and message is None and isinstance(value, str):
                message = value
            elif key in self.status_fields and status is None:
                status = _status(value)
        return Record(ts if ts is not None else ts_default, svc or service, level, tuple(ids),
                      message if message is not None else text if isinstance(text, str) else text.decode("utf-8", "replace"),
                      status)

    def _journal(self, obj: dict[str, Any], service: str) -> Record:
        message = obj.get("MESSAGE", "")
        if isinstance(message, list):  # journald exports non-UTF-8 messages as byte arrays
            try:
                message = bytes(int(b) & 0xFF for b in message).decode("utf-8", "replace")
            except (TypeError, ValueError, OverflowError):
                message = ""
        if not isinstance(message, str):
            message = str(message)
        unit = _text_field(obj, "_SYSTEMD_UNIT", "UNIT")
        ident = _text_field(obj, "CONTAINER_NAME", "SYSLOG_IDENTIFIER") or (unit[:-8] if unit.endswith(".service") else unit)
        raw_ts = obj.get("__REALTIME_TIMESTAMP")
        # microseconds as ASCII digits ("²" is a digit to isdigit, and int() of 5,000 digits raises)
        ts = int(raw_ts) / 1e6 if isinstance(raw_ts, str) and raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= 19 else None
        level = normalise_level(obj.get("PRIORITY"), "PRIORITY")
        inner, _problem = self.parse(message.encode("utf-8", "replace"), ident or service, "journald", ts)
        if inner is None or inner.cont:
            return Record(ts, ident or service, level, (), message)
        if not inner.level:
            inner.level = level
        return inner

    # -- text ------------------------------------------------------------------------------
    def _ids(self, text: str) -> tuple[str, ...]:
        """The matches of every trace pattern, in line order, canonical, each id once."""
        found: list[tuple[int, str]] = []
        lower = None
        for rx, guard, ci in self.id_searches:
            at = 0
            if guard is not None:
                if ci and lower is None:
                    lower = text.lower()
                at = (lower if ci and lower is not None else text).find(guard)
                if at == -1:
                    continue
                if ci and len(text) != len(lower or ""):  # lower() changed lengths: no position
                    at = 0
            # every match holds the guard within NEAR characters of its start: no match starts
            # before ``at - NEAR``, so this is finditer over the whole line, done from there
            found += [(m.start(), m.group(1)) for m in rx.finditer(text, max(0, at - NEAR))]
        if not found:
            return ()
        ids: list[str] = []
        for _pos, raw in sorted(found):
            ident = canonical(raw)
            if ident and ident not in ids:
                ids.append(ident)
        return tuple(ids)

    def _text(self, text: str, service: str, kind: str, ts_default: float | None) -> Record:
        if CONTINUATION.match(text) or (self.in_traceback and EXCEPTION_LINE.match(text)):
            start = text.startswith(TRACEBACK)
            self.in_traceback = not EXCEPTION_LINE.match(text)
            return Record(ts_default, service, "", (), text.strip(), cont=2 if start else 1)
        self.in_traceback = False
        m = VLLM.match(text)
        if m:  # dockerd's time has the year and zone that vLLM's lacks
            ts = ts_default if ts_default is not None else yearless(m.group(2), self.ref, self.tz)
            return self._native(text, m.end(), service, normalise_level(m.group(1)), ts)
        m = SGLANG.match(text)
        if m:
            lm = LEADING_LEVEL.match(text, m.end())
            return self._native(text, m.end(), service, normalise_level(lm.group(1)) if lm else "",
                                parse_iso(m.group(1), self.tz))
        if LOGFMT_START.match(text):
            wanted = self.wanted
            decoded = [(k, v[1:-1].replace('\\"', '"') if v[:1] == '"' else v)
                       for k, v in LOGFMT_PAIR.findall(text) if k in wanted]
            return self._fields(decoded, service, ts_default, text)
        ts, used = leading_timestamp(text[:64].encode("utf-8", "replace"), self.tz)
        rest = text[used:] if used else text
        pairs = LOGFMT_PAIR.findall(text)
        if len(pairs) >= 2 and any(k in self.level_fields or k in self.message_fields or k in self.id_fields
                                   for k, _ in pairs):
            decoded = [(k, v[1:-1].replace('\\"', '"') if v.startswith('"') else v) for k, v in pairs]
            return self._fields(decoded, service, ts if ts is not None else ts_default, text)
        lm = PLAIN_LEVEL.search(rest[:120])
        level = normalise_level(lm.group(1)) if lm else ""
        if not level and kind == "libvirt" and LIBVIRT_ERROR.search(rest):
            level = "error"
        message = PLAIN_HEADER.sub("", rest.strip(), count=1) if lm and lm.start() == 0 else rest.strip()
        return Record(ts if ts is not None else ts_default, service, level, self._ids(text), message or rest.strip(),
                      self._status(text))

    def _native(self, text: str, end: int, service: str, level: str, ts: float | None) -> Record:
        return Record(ts, service, level, self._ids(text), text[end:].strip(), self._status(text))

    @staticmethod
    def _status(text: str) -> int | None:
        """uvicorn's access line (alone or after a native header) carries the HTTP status."""
        m = ACCESS.search(text) if " HTTP/" in text else None
        return int(m.group(1)) if m else None


def _text_field(obj: dict[str, Any], *names: str) -> str:
    """The first of the fields that is non-empty text (a journald export's fields are text; a hand-made
    entry may hold anything)."""
    for name in names:
        value = obj.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _mostly_control(text: str) -> bool:
    sample = text[:256]
    return len(CONTROL.findall(sample)) * 10 > len(sample)
