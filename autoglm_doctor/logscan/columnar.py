"""The columnar engine (the optional ``[fast]`` extra: polars): one window of a big file as a column
of lines, each format's fields taken by vectorised regexes (Rust's engine) and the accounting done
by group-bys, so that Python touches only the lines it must.

A line takes the columnar path only when the vectorised reading is provably the exact parser's
(``extract.LineParser``): printable ASCII, no surrounding blanks, and one of

- a flat JSON object in compact form whose strings hold no escapes, each field name at most once
  and at most one field per role (time, level, service, message, status);
- a Docker json-file record (``log``, ``stream``, ``time`` in that order, ``\\"`` and a final
  ``\\n`` the only escapes) whose line is one of the text forms below (vLLM's header included: its
  time is dockerd's);
- SGLang's header, logfmt (at most one field per role), or plain text without ``=`` or a leading
  digit;

and its text ids come from one pattern of ``logs_trace_patterns`` (ids from two patterns need the
exact order of their positions), its times are ISO 8601 the strict way (``YYYY-MM-DD[T ]HH:MM:SS``,
up to 9 fraction digits, ``Z`` or ``±HH:MM``). Every other line - tracebacks, exception lines,
escapes, nested or odd JSON, plain vLLM files (yearless), unusual times, problems - is parsed by
the exact parser, in order, with its traceback state; error records are parsed again by it for
their message. ``tests/logscan/test_columnar.py`` holds the engine to the exact summary.
"""

from __future__ import annotations

import os
from typing import Any

from autoglm_doctor.logscan.extract import (EXCEPTION_LINE, LOGFMT_PAIR, LOGFMT_START, SGLANG, VLLM, LineParser,
                                            Record)
from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner, SPAN_SAMPLE
from autoglm_doctor.logscan.settings import (DEFAULT_LEVEL_FIELDS, DEFAULT_TRACE_PATTERNS, ScanSettings)
from autoglm_doctor.logscan.timeparse import UTC, zone

LEVELS = r"TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|PANIC"
ERROR_WORDS = ("err", "fatal", "crit", "panic", "emerg", "alert")
STR = r'"[^"\\]*"'
NUM = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
FLAT = rf'^\{{{STR}:(?:{STR}|{NUM}|true|false|null)(?:,{STR}:(?:{STR}|{NUM}|true|false|null))*\}}$'
DOCKER = r'^\{"log":"(?:[^"\\]|\\")*(?:\\n)?","stream":"(?:stdout|stderr)","time":"[^"\\]*"\}$'
ISO = (r"^([1-9][0-9]{3}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}):([0-5][0-9]):([0-5][0-9])(?:\.([0-9]{1,9}))?"
       r"(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$")
CONTINUED = (r"^(?:[ \t]|Traceback \(most recent call last\):|During handling of the above exception"
             r"|The above exception was the direct cause)")
ACCESS = r'\s\S+ - "[A-Z]+ \S+ HTTP/[\d.]+" (\d{3})\b'
PAIR = LOGFMT_PAIR.pattern.replace("([A-Za-z_@][\\w.@-]*)=(", "[A-Za-z_@][\\w.@-]*=(?:")


def available(settings: ScanSettings) -> bool:
    """polars is installed and the profile is one this engine reads exactly (the default id
    patterns, the default level fields, distinct field roles, times in UTC)."""
    roles = (settings.trace_fields, settings.service_fields, settings.level_fields, settings.message_fields,
             settings.time_fields, settings.status_fields)
    names = [n for role in roles for n in role]
    if (settings.trace_patterns != DEFAULT_TRACE_PATTERNS or settings.level_fields != DEFAULT_LEVEL_FIELDS
            or len(names) != len(set(names)) or zone(settings.timezone) is not UTC):
        return False
    import importlib.util

    return importlib.util.find_spec("polars") is not None  # not imported here: see ``engine.pool``


def _alt(names: tuple[str, ...]) -> str:
    import re

    return "|".join(re.escape(n) for n in names)


class _Encoded:
    """A window's lines as bytes, encoded on demand (valid UTF-8: the exact bytes)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __getitem__(self, i: int) -> bytes:
        return self.lines[i].encode("utf-8")


class ColumnarScanner:
    """Scans whole windows (``scan_window``); the exact ``ChunkScanner`` does the lines it must."""

    def __init__(self, settings: ScanSettings) -> None:
        os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one worker process per core already
        import polars as pl

        self.pl = pl
        self.s = settings
        self.exact = ChunkScanner(settings, fast=True)
        s = settings
        # a record's message only matters when it is an error, and error records are read again by
        # the exact parser: the columnar pass leaves the message fields alone
        self.roles = {"service": s.service_fields, "level": tuple(f for f in s.level_fields if f != "PRIORITY"),
                      "time": s.time_fields, "status": s.status_fields}

    # -- vectorised pieces -------------------------------------------------------------------
    def _time(self, frame: Any, src: str, dst: str) -> Any:
        """``frame`` with ``dst`` (epoch seconds or null, as ``timeparse.parse_iso``) and ``dst_iso``
        (``src`` is strict ISO) of the string column ``src``: the fields are at fixed places once
        ``ISO`` matched. Each step is a column, so no regex runs twice."""
        pl = self.pl
        col = pl.col(src)
        frame = frame.with_columns(_tail=col.str.slice(19), _day=col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
                                   **{f"{dst}_iso": col.str.contains(ISO).fill_null(False)})
        frame = frame.with_columns(_zone=pl.col("_tail").str.extract(r"([+-][0-9:]{5})$", 1),
                                   _frac=pl.col("_tail").str.extract(r"^\.([0-9]{1,6})", 1))
        zone = pl.col("_zone")
        offset = (pl.when(zone.is_null()).then(0)
                  .otherwise((zone.str.slice(1, 2).cast(pl.Int64) * 3600 + zone.str.slice(4, 2).cast(pl.Int64) * 60)
                             * pl.when(zone.str.starts_with("-")).then(-1).otherwise(1)))
        seconds = (pl.col("_day").cast(pl.Int64) * 86400 + col.str.slice(11, 2).cast(pl.Int64, strict=False) * 3600 - offset
                   + col.str.slice(14, 2).cast(pl.Int64, strict=False) * 60 + col.str.slice(17, 2).cast(pl.Int64, strict=False))
        frac = pl.col("_frac").str.pad_end(6, "0").cast(pl.Int64).fill_null(0)
        frame = frame.with_columns(_micro=(seconds * 1_000_000 + frac).cast(pl.Float64))
        # whole microseconds / 1e6 as Python divides them: polars divides a column by a scalar as a
        # product with its reciprocal (1 ulp off), so the divisor is a column
        micro = pl.col("_micro")
        return frame.with_columns(**{dst: micro / (micro * 0 + 1e6)}).drop("_tail", "_day", "_zone", "_frac", "_micro")

    def _canonical(self, e: Any) -> Any:
        """``ids.canonical`` of a string expression."""
        pl = self.pl
        ident = e.str.strip_chars()
        tp = ident.str.extract(r"^00-([0-9a-fA-F]{32})-[0-9a-fA-F]{16}-[0-9a-fA-F]{2}$", 1)
        return (pl.when(tp.is_not_null()).then(tp)
                .when(ident.str.starts_with("chatcmpl-") & (ident.str.len_chars() > 9)).then(ident.str.slice(9))
                .when(ident.str.starts_with("cmpl-") & (ident.str.len_chars() > 5)).then(ident.str.slice(5))
                .otherwise(ident).str.to_lowercase())

    def _with_ids(self, frame: Any, raw: Any) -> Any:
        """``frame`` with ``ids``: the canonical, distinct ids of ``raw`` (row ``i``, the id as logged,
        in line order) per row."""
        pl = self.pl
        ids = (raw.with_columns(id=self._canonical(pl.col("raw"))).filter(pl.col("id") != "")
               .group_by("i", maintain_order=True).agg(pl.col("id")).with_columns(pl.col("id").list.unique(maintain_order=True)))
        return (frame.join(ids, on="i", how="left", maintain_order="left")
                .with_columns(ids=pl.col("id").fill_null(pl.lit([], pl.List(pl.String)))).drop("id"))

    def _error_level(self, value: Any) -> Any:
        """``normalise_level(value) == "error"`` for ASCII text."""
        return value.str.contains(r"(?i)^ *(?:err|fatal|crit|panic|emerg|alert)").fill_null(False)

    def _status(self, raw: Any) -> Any:
        """``extract._status`` of a field's raw text (an int, or a 3-digit string)."""
        pl = self.pl
        return (pl.when(raw.str.contains(r"^-?[0-9]{1,15}$")).then(raw.cast(pl.Int64, strict=False))
                .when(raw.str.contains(r'^"[0-9]{3}"$')).then(raw.str.slice(1, 3).cast(pl.Int64, strict=False)))

    # -- one window ----------------------------------------------------------------------------
    def scan_window(self, data: bytes, res: ChunkResult, service: str, ref: float | None) -> None:
        pl = self.pl
        res.bytes_fast += len(data)
        try:
            text_lines = data.decode("utf-8").split("\n")
            raw_lines: Any = _Encoded(text_lines)
        except UnicodeDecodeError:  # U+FFFD stands in for invalid UTF-8 (never for a newline): such
            raw_lines = data.split(b"\n")  # lines are not ASCII, so the exact parser reads their bytes
            text_lines = data.decode("utf-8", "replace").split("\n")
        lines = pl.Series("line", text_lines, dtype=pl.String)
        df = pl.DataFrame({"line": lines}).with_row_index("i")
        line = pl.col("line")
        ok = (line.is_not_null() & ~line.str.contains(r"[^\x20-\x7e]") & ~line.str.starts_with(" ")
              & ~line.str.ends_with(" ") & (line.str.len_bytes() <= 1 << 20) & (line.str.len_bytes() > 0))
        df = df.with_columns(
            ok=ok.fill_null(False),
            blank=line.str.contains(r"^[ \t\r\x0b\x0c]*$").fill_null(False),  # bytes.strip()'s blanks
            json=line.str.starts_with("{"),
            flat=line.str.contains(FLAT),
            _docker=line.str.contains(DOCKER),
        )
        # a Docker record's fields by place (a regex with captures would cost a second pass)
        at = line.str.find('","stream":"', literal=True)
        tat = line.str.find('","time":"', literal=True)
        df = df.with_columns(
            _log=pl.when(pl.col("_docker")).then(line.str.slice(8, at - 8)),
            docker_time=pl.when(pl.col("_docker")).then(line.str.slice(tat + 10, line.str.len_chars() - tat - 12)),
        ).drop("_docker")
        inner = pl.col("_log")
        inner = (pl.when(inner.str.ends_with("\\n")).then(inner.str.slice(0, inner.str.len_chars() - 2))
                 .otherwise(inner))
        df = df.with_columns(_log=inner).with_columns(
            docker_text=pl.when(pl.col("_log").str.contains(r"\\n")).then(None)
            .otherwise(pl.col("_log").str.replace_all('\\"', '"', literal=True))).drop("_log")
        df = df.with_columns(text=pl.when(~pl.col("json")).then(line).otherwise(pl.col("docker_text")))
        df = self._time(df, "docker_time", "docker_ts")
        df = df.rename({"docker_ts_iso": "docker_iso"})
        fast_json = self._flat_json(df)
        fast_text = self._text(df)
        records = pl.concat([fast_json, fast_text], how="diagonal_relaxed")
        # the rest, in order; ``reset``: a columnar row came since the last of them (no traceback runs on)
        rest = (df.select("i", fast=pl.col("i").is_in(records["i"].implode()), blank=pl.col("blank"))
                .filter(~pl.col("blank")).with_columns(reset=pl.col("fast").shift(1).fill_null(False))
                .filter(~pl.col("fast")))
        slow = self._slow(raw_lines, rest["i"].to_list(), rest["reset"].to_list(), service, ref, res)
        self._account(records, slow, raw_lines, service, ref, res)

    def _flat_json(self, df: Any) -> Any:
        pl = self.pl
        line = pl.col("line")
        rows = df.filter(pl.col("ok") & pl.col("flat") & ~line.str.contains(r'"(?:__REALTIME_TIMESTAMP|__CURSOR|PRIORITY)":')
                         & ~(line.str.contains('"log":', literal=True) & line.str.contains('"stream":', literal=True)
                             & line.str.contains('"time":', literal=True)))
        cols: dict[str, Any] = {}
        for role, names in self.roles.items():  # each field's value as written: "text", a number, ...
            alt = _alt(names)
            cols[f"_n_{role}"] = line.str.count_matches(rf'"(?:{alt})":')
            cols[f"_v_{role}"] = line.str.extract(rf'"(?:{alt})":("[^"]*"|[^,}}]*)', 1)
        rows = rows.with_columns(**cols)
        checks = []
        for role in self.roles:
            checks.append(pl.col(f"_n_{role}") <= 1)
            if role != "status":  # a number, true or null where text is wanted: the exact parser
                checks.append(pl.col(f"_v_{role}").is_null() | pl.col(f"_v_{role}").str.starts_with('"'))
        unquoted = {role: pl.col(f"_v_{role}").str.slice(1, pl.col(f"_v_{role}").str.len_chars() - 2)
                    for role in self.roles if role != "status"}
        rows = rows.filter(pl.all_horizontal(checks).fill_null(False)).with_columns(
            status=self._status(pl.col("_v_status")), **unquoted)
        rows = self._time(rows, "time", "ts")
        rows = rows.filter(pl.col("time").is_null() | pl.col("ts_iso"))
        raw = (rows.select("i", raw=line.str.extract_all(rf'"(?:{_alt(self.s.trace_fields)})":"[^"]*"')).explode("raw")
               .filter(pl.col("raw").is_not_null()))
        # an id field twice: the exact parser (a dict keeps the last value, in the first one's place)
        twice = (raw.with_columns(key=pl.col("raw").str.extract(r'^"([^"]*)":', 1)).group_by("i")
                 .agg(pl.len(), pl.col("key").n_unique()).filter(pl.col("len") > pl.col("key")).select("i"))
        raw = raw.join(twice, on="i", how="anti", maintain_order="left").with_columns(
            raw=pl.col("raw").str.extract(r':"([^"]*)"$', 1))
        rows = rows.join(twice, on="i", how="anti", maintain_order="left")
        out = rows.select(
            "i", "ts", service=pl.when(pl.col("service") != "").then(pl.col("service")),
            error=self._error_level(pl.col("level")) | pl.col("status").is_between(500, 599).fill_null(False))
        return self._with_ids(out, raw)

    def _text(self, df: Any) -> Any:
        pl = self.pl
        text = pl.col("text")
        is_docker = pl.col("json")
        vllm = text.str.extract(VLLM.pattern, 1)
        sglang = text.str.extract(SGLANG.pattern, 1)
        logfmt = text.str.contains(LOGFMT_START.pattern)
        kind = (pl.when(is_docker & vllm.is_not_null()).then(pl.lit("vllm"))
                .when(~is_docker & vllm.is_not_null()).then(pl.lit("slow"))  # yearless: the exact parser
                .when(sglang.is_not_null()).then(pl.lit("sglang"))
                .when(logfmt).then(pl.lit("logfmt"))
                .when(~text.str.contains("=") & ~text.str.contains(r"^\[?[0-9]")).then(pl.lit("plain"))
                .otherwise(pl.lit("slow")))
        checks = [pl.col("ok"), text.is_not_null(), text.str.strip_chars() != "", ~text.str.starts_with("{"),
                  ~text.str.contains(CONTINUED), ~text.str.contains(EXCEPTION_LINE.pattern),
                  ~is_docker | pl.col("docker_iso")]
        sub = df.filter(pl.all_horizontal(checks).fill_null(False)).with_columns(kind=kind, sg_time=sglang)
        sub = self._time(sub.filter(pl.col("kind") != "slow"), "sg_time", "sg_ts")
        sub = sub.with_columns(
            level=pl.when(pl.col("kind") == "vllm").then(vllm)
            .when(pl.col("kind") == "sglang").then(text.str.extract(SGLANG.pattern + rf"(?i:({LEVELS})\b)?", 2))
            .when(pl.col("kind") == "plain").then(text.str.slice(0, 120).str.extract(rf"(?i)\b({LEVELS})\b", 1)),
            status=pl.when(text.str.contains(" HTTP/", literal=True)).then(text.str.extract(ACCESS, 1).cast(pl.Int64)),
        ).filter((pl.col("kind") != "sglang") | pl.col("sg_ts_iso"))
        plain = sub.filter(pl.col("kind") != "logfmt")
        # text ids: every match of each pattern; ids of two patterns would need their positions
        raw = pl.concat([plain.select("i", raw=text.str.extract_all(p), pattern=pl.lit(n)).explode("raw")
                         .filter(pl.col("raw").is_not_null()).with_columns(raw=pl.col("raw").str.extract(p, 1))
                         for n, p in enumerate(DEFAULT_TRACE_PATTERNS)])
        mixed = raw.group_by("i").agg(pl.col("pattern").n_unique()).filter(pl.col("pattern") > 1).select("i")
        plain = plain.join(mixed, on="i", how="anti", maintain_order="left").select(
            "i", ts=pl.when(pl.col("kind") == "sglang").then(pl.col("sg_ts")).otherwise(pl.col("docker_ts")),
            service=pl.lit(None, pl.String),
            error=self._error_level(pl.col("level")) | pl.col("status").is_between(500, 599).fill_null(False))
        return pl.concat([self._with_ids(plain, raw.select("i", "raw")),
                          self._logfmt(sub.filter(pl.col("kind") == "logfmt"))], how="diagonal_relaxed")

    def _logfmt(self, sub: Any) -> Any:
        """logfmt lines: their pairs (``extract.LOGFMT_PAIR``, as ``findall`` cuts them) one per row."""
        pl = self.pl
        pair = pl.col("pair")
        role_of = {n: role for role, names in self.roles.items() for n in names}
        role_of.update({n: "id" for n in self.s.trace_fields})
        role_of.update({n: "priority" for n in self.s.level_fields if n == "PRIORITY"})  # a syslog number
        key = pair.str.extract(r"^([^=]*)=", 1)
        value = pair.str.slice(key.str.len_chars() + 1)
        pairs = (sub.select("i", pair=pl.col("text").str.extract_all(PAIR)).explode("pair")
                 .filter(pair.is_not_null()).with_columns(key=key, value=value)
                 .filter(pl.col("key").is_in(list(role_of)))
                 .with_columns(role=pl.col("key").replace_strict(role_of, return_dtype=pl.String),
                               value=pl.when(pl.col("value").str.starts_with('"'))
                               .then(pl.col("value").str.slice(1, pl.col("value").str.len_chars() - 2)
                                     .str.replace_all('\\"', '"', literal=True))
                               .otherwise(pl.col("value"))))
        twice = (pairs.filter(pl.col("role") != "id").group_by("i", "role").len()
                 .filter((pl.col("len") > 1) | (pl.col("role") == "priority")).select("i").unique())
        fields = (pairs.filter(pl.col("role") != "id").pivot("role", index="i", values="value", aggregate_function="first"))
        for role in self.roles:
            if role not in fields.columns:
                fields = fields.with_columns(pl.lit(None, pl.String).alias(role))
        rows = (sub.select("i", "docker_ts").join(twice, on="i", how="anti", maintain_order="left")
                .join(fields, on="i", how="left", maintain_order="left"))
        rows = self._time(rows, "time", "ts")
        status = pl.when(pl.col("status").str.contains(r"^[0-9]{3}$")).then(pl.col("status").cast(pl.Int64, strict=False))
        out = rows.filter(pl.col("time").is_null() | pl.col("ts_iso")).select(
            "i", ts=pl.when(pl.col("ts").is_not_null()).then(pl.col("ts")).otherwise(pl.col("docker_ts")),
            service=pl.when(pl.col("service") != "").then(pl.col("service")),
            error=self._error_level(pl.col("level")) | status.is_between(500, 599).fill_null(False))
        return self._with_ids(out, pairs.filter(pl.col("role") == "id").select("i", raw=pl.col("value")))

    # -- the rest: the exact parser, then the accounting ----------------------------------------
    def _slow(self, raw_lines: Any, rows: list[int], resets: list[bool], service: str, ref: float | None,
              res: ChunkResult) -> dict[int, Record]:
        """The records of the rows the vectorised pass left, parsed in order by the exact parser."""
        parser: LineParser = self.exact.parser
        parser.begin(ref)
        out: dict[int, Record] = {}
        problems = res.problems
        for i, reset in zip(rows, resets):
            if reset:
                parser.in_traceback = False
            rec, problem = parser.parse(raw_lines[i], service)
            if problem:
                problems[problem] += 1
            if rec is not None:
                out[i] = rec
        return out

    def _account(self, records: Any, slow: dict[int, Record], raw_lines: Any, service: str,
                 ref: float | None, res: ChunkResult) -> None:
        pl = self.pl
        s = self.s
        recs = list(slow.values())
        # ids and services as bytes from here on: a JSON "\ud800" is a str Python keeps and Arrow refuses
        enc = lambda text: text.encode("utf-8", "surrogatepass")  # noqa: E731
        exact = pl.DataFrame({
            "i": list(slow), "ts": [r.ts for r in recs], "service": [enc(r.service) for r in recs],
            "ids": [[enc(x) for x in r.ids] for r in recs], "error": [r.error for r in recs], "cont": [r.cont for r in recs],
        }, schema={"i": pl.UInt32, "ts": pl.Float64, "service": pl.Binary, "ids": pl.List(pl.Binary),
                   "error": pl.Boolean, "cont": pl.Int64})
        fast = records.select("i", "ts", "error", cont=pl.lit(0, pl.Int64),
                              service=pl.col("service").fill_null(service).cast(pl.Binary),
                              ids=pl.col("ids").cast(pl.List(pl.Binary)))
        df = pl.concat([fast, exact], how="diagonal_relaxed").sort("i")
        # a record is a line that is not a continuation (or the window's first line); its traceback
        # lines make it an error
        df = df.with_row_index("n").with_columns(rec=(pl.col("cont") == 0) | (pl.col("n") == 0))
        df = df.with_columns(group=pl.col("rec").cast(pl.Int64).cum_sum())
        tb = df.filter(~pl.col("rec") & (pl.col("cont") == 2)).select("group").unique()
        df = df.filter(pl.col("rec")).with_columns(error=pl.col("error") | pl.col("group").is_in(tb["group"].implode()))
        ts = pl.col("ts")
        inside = pl.lit(True)
        if s.since is not None:
            inside = inside & (ts >= s.since)
        if s.until is not None:
            inside = inside & (ts <= s.until)
        outside = df.filter(ts.is_not_null() & ~inside)
        res.outside += outside.height
        df = df.filter(ts.is_null() | inside).with_columns(trace=pl.col("ids").list.first())
        res.lines += df.height
        res.undated += df.filter(ts.is_null()).height
        if df.height and df["ts"].null_count() < df.height:
            res.seen_time(df["ts"].min())
            res.seen_time(df["ts"].max())
        traced = df.filter(pl.col("trace").is_not_null())
        dec = lambda raw: raw.decode("utf-8", "surrogatepass")  # noqa: E731
        for svc, lines, with_id in df.group_by("service").agg(pl.len(), pl.col("trace").is_not_null().sum()).iter_rows():
            counts = res.services.setdefault(dec(svc), [0, 0])
            counts[0] += lines
            counts[1] += with_id
        order = traced["service"].unique(maintain_order=True).to_list()
        bits = pl.DataFrame({"service": order, "bit": [res.bit(dec(svc)) for svc in order]},
                            schema={"service": pl.Binary, "bit": pl.Int64})
        masks = (traced.select("trace", "service").unique().join(bits, on="service")
                 .group_by("trace").agg(pl.col("bit").sum()))
        for trace, mask in masks.iter_rows():
            res.traces[trace] = res.traces.get(trace, 0) | mask
        aliases = (traced.select("trace", alias=pl.col("ids").list.slice(1)).explode("alias")
                   .filter(pl.col("alias").is_not_null()).unique("alias", keep="first", maintain_order=True))
        for trace, alias in aliases.iter_rows():
            res.aliases.setdefault(alias, trace)
        dated = traced.filter(ts.is_not_null())
        sample = dated["trace"].unique(maintain_order=True).head(max(0, SPAN_SAMPLE - len(res.spans)))
        spans = (dated.filter(pl.col("trace").is_in(sample.implode())).group_by("trace", "service", maintain_order=True)
                 .agg(lo=ts.min(), hi=ts.max()))
        for trace, svc, lo, hi in spans.iter_rows():
            res.spans.setdefault(trace, {})[dec(svc)] = [lo, hi]
        self._errors(df.filter(pl.col("error")), slow, raw_lines, service, ref, res)

    def _errors(self, errors: Any, slow: dict[int, Record], raw_lines: Any, service: str, ref: float | None,
                res: ChunkResult) -> None:
        """Error records in order, their messages from the exact parser (columnar rows read again)."""
        parser: LineParser = self.exact.parser
        parser.begin(ref)
        for i, svc, ts, trace in errors.select("i", "service", "ts", "trace").iter_rows():
            rec = slow.get(i)
            if rec is None:
                parser.in_traceback = False
                rec, _problem = parser.parse(raw_lines[i], service)
            message = rec.message if rec is not None else ""
            res.add_error(Record(ts, svc.decode("utf-8", "surrogatepass"), "error", (), message), trace or b"")
