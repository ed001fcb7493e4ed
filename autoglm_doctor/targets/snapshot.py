"""An offline snapshot as a read-only Target. Format: docs/snapshot-format.md."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from typing import Any, Sequence

from autoglm_doctor.adapters.answers import AnswerError, check_answer
from autoglm_doctor.targets.base import (
    ADAPTER_KINDS,
    AdapterUnavailable,
    GarbageValue,
    CommandResult,
    DiskUsage,
    NotCaptured,
    ReadOnlyTarget,
    SnapshotError,
    StatResult,
    TargetDefaults,
    TargetError,
    call_key,
    clean_hostname,
    uts_hostname,
)
from autoglm_doctor.targets import snapside
from autoglm_doctor.targets.paths import LinkLoop, resolve
from autoglm_doctor.targets.snapside import FORMAT_NAME as FORMAT_NAME, FORMAT_VERSION as FORMAT_VERSION  # re-exported
from autoglm_doctor.targets.snaptree import MAX_FILE_BYTES, ArchiveTree, cap, open_tree, sub_path

SIDE_DIR = ".autoglm-doctor"
SIDE_FILE_LIMIT = 64 * 1024 * 1024  # a side-folder JSON file (api.json and commands.json are the big ones)


def parse_json(data: bytes) -> Any:
    """JSON from untrusted bytes: a syntax error, bad UTF-8 or nesting too deep for the parser are all
    one ValueError (never RecursionError)."""
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc


class SnapshotTarget(TargetDefaults):
    """Replays what a recorder captured, or serves a hand-made tree.

    A read the snapshot has no answer for raises ``NotCaptured``. In a snapshot declared
    ``kind: handmade`` a directory that exists is taken as complete: a missing entry inside it is
    absent. In a recorded snapshot only recorded absences (absent.json) are absent; anything else
    missing is "not captured". Every read stays inside the snapshot (snaptree.py says how).
    """

    writable = False
    kind = "snapshot"
    can_run = True  # recorded commands replay
    # every adapter replays: what the recorder did not capture is NotCaptured (a skip saying so), and a
    # connection that failed when recording fails again the same way
    adapters = ADAPTER_KINDS

    def __init__(self, path: str) -> None:
        self.source = path
        self.name = f"snapshot:{path}"
        self._tree = open_tree(path)
        try:
            self._prefix = self._find_side_folder()
            self._open_side_folder()
        except BaseException:
            self._tree.close()
            raise

    def _find_side_folder(self) -> str:
        """The tree's root inside the snapshot: the top, or the one top directory of an archive."""
        tree = self._tree
        kind = tree.kind(SIDE_DIR)
        if kind is None and isinstance(tree, ArchiveTree):
            top = tree.top_level()
            if len(top) == 1 and tree.kind(top[0]) == "dir" and tree.kind(f"{top[0]}/{SIDE_DIR}") is not None:
                return top[0]
            if len(top) > 1:
                raise SnapshotError(f"{self.source}: no {SIDE_DIR}/ at the top of the archive, and "
                                    f"{len(top)} top-level entries instead of one directory: not a snapshot")
        if kind is None:
            raise SnapshotError(f"{self.source}: no {SIDE_DIR}/manifest.json: not an autoglm-doctor snapshot "
                                "(a hand-made tree needs a manifest: docs/snapshot-format.md)")
        return ""

    def _side_bytes(self, name: str) -> bytes | None:
        rel = sub_path(self._prefix, f"{SIDE_DIR}/{name}")
        shown = f"{self.source}: {SIDE_DIR}/{name}"
        side_kind = self._tree.kind(sub_path(self._prefix, SIDE_DIR))
        if side_kind != "dir":
            raise SnapshotError(f"{self.source}: {SIDE_DIR} is a {side_kind}, not a directory: refused")
        kind = self._tree.kind(rel)
        if kind is None:
            return None
        if kind != "file":
            raise SnapshotError(f"{shown} is a {kind}, not a regular file in the snapshot: refused")
        try:
            return self._tree.read(rel, cap("SIDE_FILE_MAX_BYTES", SIDE_FILE_LIMIT))
        except TargetError as exc:
            raise SnapshotError(f"{shown}: {exc}") from exc

    def _side(self, name: str, validate: Any, default: Any) -> Any:
        data = self._side_bytes(name)
        if data is None:
            return default
        try:
            parsed = parse_json(data)
        except ValueError as exc:
            raise SnapshotError(f"{self.source}: {SIDE_DIR}/{name}: unreadable snapshot metadata: {exc}") from exc
        try:
            return validate(parsed)
        except snapside.SchemaError as exc:
            raise SnapshotError(f"{self.source}: {SIDE_DIR}/{name}: {exc}") from exc

    def _open_side_folder(self) -> None:
        if self._side_bytes("manifest.json") is None:
            raise SnapshotError(f"{self.source}: no {SIDE_DIR}/manifest.json: not an autoglm-doctor snapshot "
                                "(a hand-made tree needs a manifest: docs/snapshot-format.md)")
        self.manifest = self._side("manifest.json", snapside.manifest, {})
        self.role = str(self.manifest.get("role", "host"))
        # a tree that records no capture time has no clock of its own (time windows do not apply)
        self.has_clock = bool(self.manifest.get("now") or self.manifest.get("captured_at"))
        self.recorded = self.manifest["kind"] == "recorded"
        self.handmade = self.manifest["kind"] == "handmade"
        side = {name: self._side(name, validate, default) for name, (validate, default) in snapside.SIDE_FILES.items()}
        self._absent = set(side["absent.json"])
        self._unreadable: dict[str, str] = side["unreadable.json"]
        self._dirs: dict[str, list[str]] = side["dirs.json"]
        self._stats: dict[str, Any] = side["stat.json"]
        self._xattrs: dict[str, dict[str, str | None]] = side["xattr.json"]
        self._disk: dict[str, Any] = side["disk.json"]
        self._api: dict[str, Any] = side["api.json"]
        self._side_dirs = self._implied_dirs()
        self._commands = {tuple(c["argv"]): CommandResult.from_dict(c) for c in side["commands.json"]}

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
    def _rel(self, path: str) -> str:
        return sub_path(self._prefix, path.strip("/"))

    def _link_text(self, path: str) -> str | None:
        rel = self._rel(path)
        return self._tree.readlink(rel) if self._tree.kind(rel) == "link" else None

    def _locate(self, path: str, *, follow: bool = True) -> str | None:
        """The tree path holding ``path`` inside the snapshot, or None when not in the tree."""
        if not path.startswith("/"):
            raise ValueError(f"target paths are absolute, got {path!r}")
        if "\x00" in path:
            raise TargetError(f"{path!r}: a NUL byte in a path")
        try:
            physical, _links = resolve(path, self._link_text, follow_last=follow)
        except LinkLoop as exc:
            raise TargetError(str(exc)) from exc
        if physical.split("/")[1:2] == [SIDE_DIR]:
            return None
        rel = self._rel(physical)
        return rel if self._tree.kind(rel) is not None else None

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
        rel = self._locate(path)
        if rel is None:
            return self._missing(path)
        kind = self._tree.kind(rel)
        if kind == "dir":
            raise TargetError(f"{path}: is a directory")
        if kind != "file":
            raise TargetError(f"{path}: is a {kind} in {self.source}, not a regular file: refused")
        return self._tree.read(rel, limit if limit is not None else cap("FILE_MAX_BYTES", MAX_FILE_BYTES))

    def listdir(self, path: str) -> list[str] | None:
        key = path.rstrip("/") or "/"
        if key in self._dirs:
            return list(self._dirs[key])
        rel = self._locate(key)
        if rel is None:
            return self._missing(key)
        if self.recorded:
            raise NotCaptured(f"{path}: directory listing not captured in {self.source}")
        if self._tree.kind(rel) != "dir":
            return None
        return [e for e in self._tree.listdir(rel) if not (key == "/" and e == SIDE_DIR)]

    def readlink(self, path: str) -> str | None:
        rel = self._locate(path, follow=False)
        if rel is None:
            return self._missing(path)
        return self._tree.readlink(rel) if self._tree.kind(rel) == "link" else None

    def stat(self, path: str, *, follow: bool = True) -> StatResult | None:
        key = f"{path}|{'follow' if follow else 'nofollow'}"
        if key in self._stats:
            data = self._stats[key]
            return None if data is None else StatResult.from_dict(data)
        if path in self._unreadable:
            raise TargetError(self._unreadable[path])
        rel = self._locate(path, follow=follow)
        if rel is None:
            return self._missing(path)
        if self.recorded:
            raise NotCaptured(f"{path}: metadata not captured in {self.source}")
        return self._tree.lstat(rel)

    def getxattr(self, path: str, name: str) -> bytes | None:
        attrs = self._xattrs.get(path)
        if attrs is not None and name in attrs:
            value = attrs[name]
            return None if value is None else base64.b64decode(value)
        rel = self._locate(path)
        if rel is None:
            return self._missing(path)
        if self.recorded:
            raise NotCaptured(f"{path}: extended attribute {name} not captured in {self.source}")
        return self._tree.getxattr(rel, name)

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

    def hostname(self) -> str:
        """The machine the snapshot was recorded on (its manifest), else what its files say."""
        return clean_hostname(self.manifest.get("hostname")) or uts_hostname(self)

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
        self._tree.close()


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
            result = entry.get("result")
            try:
                check_answer(self._kind, method, result)
            except AnswerError as exc:
                raise GarbageValue(f"unexpected answer in {self._source}: {SIDE_DIR}/api.json "
                                   f"{call_key(self._kind, method, args)}: {exc}") from exc
            return result

        return replay

