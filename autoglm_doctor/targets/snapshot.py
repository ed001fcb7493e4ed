"""An offline snapshot as a read-only Target. Format: docs/snapshot-format.md."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from typing import Any, Literal, Sequence

from autoglm_doctor.targets.base import (
    AdapterUnavailable,
    CommandResult,
    DiskUsage,
    NotCaptured,
    ReadOnlyTarget,
    SnapshotError,
    StatResult,
    TargetError,
    TooLarge,
    call_key,
)
from autoglm_doctor.targets.paths import LinkLoop, resolve

SIDE_DIR = ".autoglm-doctor"
FORMAT_NAME = "autoglm-doctor-snapshot"
FORMAT_VERSION = 1


def _load_json(path: str, default: Any) -> Any:
    if not os.path.exists(path):
        return default
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{path}: unreadable snapshot metadata: {exc}") from exc


def _extract(archive: str) -> str:
    import tarfile  # only archives need it

    tmp = tempfile.mkdtemp(prefix="autoglm-doctor-snap-")
    try:
        with open(archive, "rb") as fh:
            magic = fh.read(2)
        mode: Literal["r:gz", "r:*"] = "r:gz" if magic == b"\x1f\x8b" else "r:*"
        with tarfile.open(archive, mode) as tar:
            if hasattr(tarfile, "tar_filter"):
                tar.extractall(tmp, filter="tar")
            else:  # Python without extraction filters: refuse anything that escapes
                for member in tar.getmembers():
                    name = os.path.normpath(member.name.lstrip("/"))
                    if name.startswith(".."):
                        raise SnapshotError(f"{archive}: member {member.name!r} escapes the snapshot")
                tar.extractall(tmp)  # noqa: S202 - members checked above
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        detail = " ".join(str(exc).split())  # one line, whatever the library said
        raise SnapshotError(f"{archive}: not a readable snapshot archive ({detail})") from exc
    entries = os.listdir(tmp)
    if len(entries) == 1 and os.path.isdir(os.path.join(tmp, entries[0])) and entries[0] != SIDE_DIR:
        inner = os.path.join(tmp, entries[0])
        if os.path.isdir(os.path.join(inner, SIDE_DIR)):
            return inner  # archive of a folder: SNAP/.autoglm-doctor inside one top directory
    return tmp


class SnapshotTarget:
    """Replays what a recorder captured, or serves a hand-made tree.

    A read the snapshot has no answer for raises ``NotCaptured``. In a snapshot declared
    ``kind: handmade`` a directory that exists is taken as complete: a missing entry inside it is
    absent. In a recorded snapshot, or a plain tree without a manifest, only recorded absences
    (absent.json) are absent; anything else missing is "not captured".
    """

    writable = False
    kind = "snapshot"
    can_run = True  # recorded commands replay

    def __init__(self, path: str) -> None:
        if not os.path.exists(path):
            raise SnapshotError(f"{path}: no such snapshot")
        self.source = path
        self._tmp: str | None = None
        if os.path.isdir(path):
            self.root = os.path.abspath(path)
        else:
            self.root = self._tmp = _extract(path)
        side = os.path.join(self.root, SIDE_DIR)
        self.manifest = _load_json(os.path.join(side, "manifest.json"), {})
        if not isinstance(self.manifest, dict):
            raise SnapshotError(f"{path}: manifest.json is not an object")
        if self.manifest and self.manifest.get("format") != FORMAT_NAME:
            raise SnapshotError(f"{path}: not an autoglm-doctor snapshot (format {self.manifest.get('format')!r})")
        if int(self.manifest.get("version", FORMAT_VERSION)) > FORMAT_VERSION:
            raise SnapshotError(f"{path}: snapshot format version {self.manifest['version']} is newer than this tool")
        self.role = str(self.manifest.get("role", "host"))
        # a tree that records no capture time has no clock of its own (time windows do not apply)
        self.has_clock = bool(self.manifest.get("now") or self.manifest.get("captured_at"))
        self.recorded = self.manifest.get("kind") == "recorded"
        self.handmade = self.manifest.get("kind") == "handmade"
        self.name = f"snapshot:{path}"
        self._absent = set(_load_json(os.path.join(side, "absent.json"), []))
        self._unreadable: dict[str, str] = _load_json(os.path.join(side, "unreadable.json"), {})
        self._dirs: dict[str, list[str]] = _load_json(os.path.join(side, "dirs.json"), {})
        self._stats: dict[str, Any] = _load_json(os.path.join(side, "stat.json"), {})
        self._xattrs: dict[str, dict[str, str | None]] = _load_json(os.path.join(side, "xattr.json"), {})
        self._disk: dict[str, Any] = _load_json(os.path.join(side, "disk.json"), {})
        self._api: dict[str, Any] = _load_json(os.path.join(side, "api.json"), {})
        self._side_dirs = self._implied_dirs()
        commands = _load_json(os.path.join(side, "commands.json"), [])
        self._commands = {tuple(c["argv"]): CommandResult.from_dict(c) for c in commands}

    def _implied_dirs(self) -> set[str]:
        """Directories the side folder vouches for: listed in dirs.json, or holding a path that stat.json,
        xattr.json or disk.json describe. Git cannot keep empty directories, so a hand-made tree relies on
        these to say "this directory exists (and is complete)"."""
        out: set[str] = set()
        paths = list(self._dirs) + [k.rsplit("|", 1)[0] for k in self._stats] + list(self._xattrs) + list(self._disk)
        for path in paths:
            if path in self._dirs:
                out.add(path.rstrip("/") or "/")
            parent = os.path.dirname(path.rstrip("/"))
            while parent and parent != "/":
                out.add(parent)
                parent = os.path.dirname(parent)
        return out

    # -- path machinery ---------------------------------------------------------------------
    def _host(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _link_text(self, path: str) -> str | None:
        host = self._host(path)
        return os.readlink(host) if os.path.islink(host) else None

    def _locate(self, path: str, *, follow: bool = True) -> str | None:
        """The host path holding ``path`` inside the snapshot, or None when not in the tree."""
        if not path.startswith("/"):
            raise ValueError(f"target paths are absolute, got {path!r}")
        try:
            physical, _links = resolve(path, self._link_text, follow_last=follow)
        except LinkLoop as exc:
            raise TargetError(str(exc)) from exc
        if physical.split("/")[1:2] == [SIDE_DIR]:
            return None
        host = self._host(physical)
        return host if os.path.lexists(host) else None

    def _dir_exists(self, path: str) -> bool:
        """In the tree, or vouched for by the side folder (through links too: bin -> usr/bin)."""
        if self._locate(path) is not None:
            return True
        try:
            physical, _links = resolve(path, self._link_text)
        except LinkLoop:
            return False
        return path in self._side_dirs or physical in self._side_dirs

    def _missing(self, path: str) -> None:
        """Decide absent (return None) or not captured (raise) for a path not in the tree."""
        if path in self._unreadable:
            raise TargetError(self._unreadable[path])
        if path in self._absent:
            return None
        if self.handmade:
            parent = os.path.dirname(path.rstrip("/")) or "/"
            while parent != "/":
                if self._dir_exists(parent):
                    # hand-made: an existing directory is complete (and a file where a
                    # directory should be means absent, as ENOTDIR does)
                    return None
                parent = os.path.dirname(parent)
        raise NotCaptured(f"{path}: not captured in {self.source}")

    # -- Target protocol --------------------------------------------------------------------
    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None:
        if path in self._unreadable:
            raise TargetError(self._unreadable[path])
        host = self._locate(path)
        if host is None:
            return self._missing(path)
        if os.path.isdir(host):
            raise TargetError(f"{path}: is a directory")
        with open(host, "rb") as fh:
            if limit is None:
                return fh.read()
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(f"{path}: larger than the {limit}-byte cap")
        return data

    def read_many(self, paths: Sequence[str], *, limit: int | None = None) -> dict[str, bytes | None | TargetError]:
        """Several files in one call (each value: the bytes, None when absent, or the error)."""
        out: dict[str, bytes | None | TargetError] = {}
        for path in paths:
            try:
                out[path] = self.read_bytes(path, limit=limit)
            except TargetError as exc:
                out[path] = exc
        return out

    def read_text(self, path: str) -> str | None:
        data = self.read_bytes(path)
        return None if data is None else data.decode("utf-8", errors="replace")

    def listdir(self, path: str) -> list[str] | None:
        key = path.rstrip("/") or "/"
        if key in self._dirs:
            return list(self._dirs[key])
        host = self._locate(key)
        if host is None:
            return self._missing(key)
        if self.recorded:
            raise NotCaptured(f"{path}: directory listing not captured in {self.source}")
        if not os.path.isdir(host):
            return None
        return sorted(e for e in os.listdir(host) if not (key == "/" and e == SIDE_DIR))

    def readlink(self, path: str) -> str | None:
        host = self._locate(path, follow=False)
        if host is None:
            return self._missing(path)
        return os.readlink(host) if os.path.islink(host) else None

    def stat(self, path: str, *, follow: bool = True) -> StatResult | None:
        key = f"{path}|{'follow' if follow else 'nofollow'}"
        if key in self._stats:
            data = self._stats[key]
            return None if data is None else StatResult.from_dict(data)
        if path in self._unreadable:
            raise TargetError(self._unreadable[path])
        host = self._locate(path, follow=follow)
        if host is None:
            return self._missing(path)
        if self.recorded:
            raise NotCaptured(f"{path}: metadata not captured in {self.source}")
        st = os.lstat(host)
        return StatResult(mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, size=st.st_size)

    def getxattr(self, path: str, name: str) -> bytes | None:
        attrs = self._xattrs.get(path)
        if attrs is not None and name in attrs:
            value = attrs[name]
            return None if value is None else base64.b64decode(value)
        host = self._locate(path)
        if host is None:
            return self._missing(path)
        if self.recorded:
            raise NotCaptured(f"{path}: extended attribute {name} not captured in {self.source}")
        try:
            return os.getxattr(host, name)
        except OSError:
            return None

    def disk_usage(self, path: str) -> DiskUsage | None:
        if path in self._disk:
            data = self._disk[path]
            return None if data is None else DiskUsage(total=int(data["total"]), free=int(data["free"]))
        raise NotCaptured(f"{path}: disk usage not captured in {self.source}")

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        result = self._commands.get(tuple(argv))
        if result is None:
            raise NotCaptured(f"command {' '.join(argv)!r} not captured in {self.source}")
        return result

    def adapter(self, kind: str) -> "ReplayAdapter":
        connect = self._api.get(call_key(kind, "connect", []))
        if connect and connect.get("error"):
            err = connect["error"]
            raise AdapterUnavailable(err.get("message", f"{kind} unavailable"), hint=err.get("hint", ""),
                                     reason=err.get("reason", "unreachable"))
        return ReplayAdapter(kind, self._api, self.source)

    def now(self) -> float:
        """The moment the snapshot was taken, so time windows replay exactly; now for a tree without one."""
        if isinstance(self.manifest.get("now"), (int, float)):
            return float(self.manifest["now"])
        captured = self.manifest.get("captured_at")
        if isinstance(captured, str):
            try:
                return dt.datetime.fromisoformat(captured).timestamp()
            except ValueError:
                pass
        return time.time()

    def write(self, *_args: Any, **_kwargs: Any) -> None:
        raise ReadOnlyTarget(f"{self.name} is a snapshot and cannot be changed")

    def mutator(self) -> Any:
        raise ReadOnlyTarget(f"{self.name} is a snapshot and cannot be changed")

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


class ReplayAdapter:
    """Answers adapter calls from a snapshot's api.json."""

    def __init__(self, kind: str, api: dict[str, Any], source: str) -> None:
        self._kind = kind
        self._api = api
        self._source = source

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        def replay(*args: Any) -> Any:
            entry = self._api.get(call_key(self._kind, method, args))
            if entry is None:
                raise NotCaptured(f"{self._kind}.{method}{tuple(args)!r} not captured in {self._source}")
            if entry.get("error"):
                err = entry["error"]
                if err.get("type") == "AdapterUnavailable":
                    raise AdapterUnavailable(err["message"], hint=err.get("hint", ""),
                                             reason=err.get("reason", "unreachable"))
                raise TargetError(err["message"])
            return entry.get("result")

        return replay

