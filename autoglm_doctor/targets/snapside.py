"""The schema of a snapshot's side folder (docs/snapshot-format.md), checked when the snapshot opens.

A snapshot is hostile input: a field of the wrong type (``"mode": "x"``, ``"argv": 5``, a manifest
``now`` of NaN or 1e300) used to surface later as "check crashed: AttributeError" in whichever check
happened to read it. Every file is validated once, and an error names the file and the field, so a
bad snapshot is one clear line (exit 2) instead of a report full of crashes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from typing import Any, Callable

FORMAT_NAME = "autoglm-doctor-snapshot"
FORMAT_VERSION = 1
KINDS = ("recorded", "handmade")
ROLES = ("host", "guest", "container")
# A snapshot's "now" must be a plausible capture time: 2000-01-01 .. 2100-01-01 (epoch seconds).
NOW_RANGE = (946684800.0, 4102444800.0)
MAX_UINT32 = 2**32 - 1


class SchemaError(ValueError):
    """``field``: where in the file; ``str(exc)``: what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field or 'top level'}: {problem}")


def _name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _want(value: Any, kind: type | tuple[type, ...], field: str, what: str) -> Any:
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise SchemaError(field, f"expected {what}, got a boolean")
    if not isinstance(value, kind):
        raise SchemaError(field, f"expected {what}, got {_name(value)}")
    return value


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    _want(value, int, field, "an integer")
    if not lo <= value <= hi:
        raise SchemaError(field, f"{value} is out of range {lo}..{hi}")
    return int(value)


def _path(value: Any, field: str) -> str:
    _want(value, str, field, "a path")
    if not value.startswith("/") or "\x00" in value:
        raise SchemaError(field, f"{value[:80]!r} is not an absolute path")
    return str(value)


def _obj(value: Any, field: str) -> dict[str, Any]:
    return dict(_want(value, dict, field, "an object"))


def _key(field: str, key: str) -> str:
    return f"{field}[{json.dumps(key)[:120]}]"


def manifest(data: Any) -> dict[str, Any]:
    data = _obj(data, "")
    if data.get("format") != FORMAT_NAME:
        got = data.get("format")
        raise SchemaError("format", f"expected {FORMAT_NAME!r}, got {_name(got) if not isinstance(got, str) else repr(got[:80])}"
                          " (not an autoglm-doctor snapshot)")
    version = data.get("version", FORMAT_VERSION)
    _int(version, "version", 1, 10**6)
    if version > FORMAT_VERSION:
        raise SchemaError("version", f"snapshot format version {version} is newer than this tool ({FORMAT_VERSION})")
    kind = data.get("kind")
    if kind not in KINDS:
        raise SchemaError("kind", f"expected one of {', '.join(KINDS)}, got {json.dumps(kind)[:80]}")
    role = data.get("role", "host")
    if role not in ROLES:
        raise SchemaError("role", f"expected one of {', '.join(ROLES)}, got {json.dumps(role)[:80]}")
    for key in ("source", "hostname", "tool_version", "captured_at"):
        if key in data:
            _want(data[key], str, key, "a string")
    if "now" in data:
        now = _want(data["now"], (int, float), "now", "a number of seconds since the epoch")
        if not (math.isfinite(now) and NOW_RANGE[0] <= now <= NOW_RANGE[1]):
            raise SchemaError("now", f"{now!r} is not a capture time between 2000 and 2100")
    if "captured_at" in data:
        try:
            when = dt.datetime.fromisoformat(data["captured_at"])
        except ValueError as exc:
            raise SchemaError("captured_at", f"{data['captured_at'][:80]!r} is not an ISO 8601 time") from exc
        if not 2000 <= when.year < 2100:
            raise SchemaError("captured_at", f"{data['captured_at']!r} is not a capture time between 2000 and 2100")
    return dict(data)


def absent(data: Any) -> list[str]:
    return [_path(p, f"[{i}]") for i, p in enumerate(_want(data, list, "", "a list of paths"))]


def unreadable(data: Any) -> dict[str, str]:
    out = {}
    for key, value in _obj(data, "").items():
        out[_path(key, _key("", key))] = _want(value, str, _key("", key), "a message string")
    return out


def dirs(data: Any) -> dict[str, list[str]]:
    out = {}
    for key, value in _obj(data, "").items():
        field = _key("", key)
        _path(key, field)
        entries = _want(value, list, field, "a list of names")
        for i, name in enumerate(entries):
            _want(name, str, f"{field}[{i}]", "a name")
            if not name or "/" in name or name in (".", ".."):
                raise SchemaError(f"{field}[{i}]", f"{name!r} is not a directory entry name")
        out[key] = list(entries)
    return out


def stat_entry(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    value = _obj(value, field)
    for key in ("mode", "uid", "gid"):
        if key not in value:
            raise SchemaError(f"{field}.{key}", "missing")
    _int(value["mode"], f"{field}.mode", 0, 0o177777)
    _int(value["uid"], f"{field}.uid", 0, MAX_UINT32)
    _int(value["gid"], f"{field}.gid", 0, MAX_UINT32)
    _int(value.get("size", 0), f"{field}.size", 0, 2**63 - 1)
    rdev = _want(value.get("rdev", [0, 0]), list, f"{field}.rdev", "[major, minor]")
    if len(rdev) != 2:
        raise SchemaError(f"{field}.rdev", "expected [major, minor]")
    for i, part in enumerate(rdev):
        _int(part, f"{field}.rdev[{i}]", 0, MAX_UINT32)
    return dict(value)


def stats(data: Any) -> dict[str, Any]:
    out = {}
    for key, value in _obj(data, "").items():
        field = _key("", key)
        path, sep, how = key.rpartition("|")
        if not sep or how not in ("follow", "nofollow"):
            raise SchemaError(field, "the key must end in |follow or |nofollow")
        _path(path, field)
        out[key] = stat_entry(value, field)
    return out


def xattrs(data: Any) -> dict[str, dict[str, str | None]]:
    out = {}
    for key, value in _obj(data, "").items():
        field = _key("", key)
        _path(key, field)
        attrs = _obj(value, field)
        for name, encoded in attrs.items():
            if encoded is None:
                continue
            _want(encoded, str, _key(field, name), "base64 text or null")
            try:
                base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise SchemaError(_key(field, name), "not valid base64") from exc
        out[key] = attrs
    return out


def disk(data: Any) -> dict[str, Any]:
    out = {}
    for key, value in _obj(data, "").items():
        field = _key("", key)
        _path(key, field)
        if value is not None:
            value = _obj(value, field)
            total = _int(value.get("total"), f"{field}.total", 0, 2**63 - 1)
            _int(value.get("free"), f"{field}.free", 0, total)
        out[key] = value
    return out


def commands(data: Any) -> list[dict[str, Any]]:
    out = []
    for i, entry in enumerate(_want(data, list, "", "a list of commands")):
        field = f"[{i}]"
        entry = _obj(entry, field)
        argv = _want(entry.get("argv"), list, f"{field}.argv", "a list of strings")
        if not argv or not all(isinstance(a, str) for a in argv):
            raise SchemaError(f"{field}.argv", "expected a non-empty list of strings")
        _int(entry.get("returncode"), f"{field}.returncode", -255, 255)
        for key in ("stdout", "stderr"):
            _want(entry.get(key, ""), str, f"{field}.{key}", "a string")
        for key in ("not_found", "timed_out"):
            _want(entry.get(key, False), bool, f"{field}.{key}", "true or false")
        out.append(entry)
    return out


def api(data: Any) -> dict[str, Any]:
    out = {}
    for key, value in _obj(data, "").items():
        field = _key("", key)
        value = _obj(value, field)
        if "error" in value:
            err = _obj(value["error"], f"{field}.error")
            _want(err.get("message"), str, f"{field}.error.message", "a string")
            for name in ("type", "hint", "reason"):
                if name in err:
                    _want(err[name], str, f"{field}.error.{name}", "a string")
        elif "result" not in value:
            raise SchemaError(field, "expected a \"result\" or an \"error\"")
        out[key] = value
    return out


SIDE_FILES: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "absent.json": (absent, []),
    "unreadable.json": (unreadable, {}),
    "dirs.json": (dirs, {}),
    "stat.json": (stats, {}),
    "xattr.json": (xattrs, {}),
    "disk.json": (disk, {}),
    "commands.json": (commands, []),
    "api.json": (api, {}),
}
