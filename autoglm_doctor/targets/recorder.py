"""A recording wrapper: passes every read to an inner target and keeps what was read, so ``collect``
can write a snapshot that replays the same answers elsewhere. What is kept is scrubbed as it is
recorded (targets/scrub.py): secrets never reach the snapshot tree, and container logs are kept
only for the window the log checks judge."""

from __future__ import annotations

import base64
import dataclasses
import contextlib
import datetime as dt
import json
import os
import shutil
import tarfile
import tempfile
import threading
from typing import Any, Callable, Iterator, Sequence, TypeVar

from autoglm_doctor import __version__
from autoglm_doctor.targets.base import (
    AdapterUnavailable,
    CommandResult,
    DeadlineExceeded,
    DiskUsage,
    StatResult,
    Target,
    TargetDefaults,
    TargetError,
    call_key,
)
from autoglm_doctor.redact import redact
from autoglm_doctor.targets.paths import LinkLoop, resolve
from autoglm_doctor.targets.scrub import scrub_bytes, scrub_command, scrub_value, trim_docker_log, trim_journal
from autoglm_doctor.targets.snapshot import FORMAT_NAME, FORMAT_VERSION, SIDE_DIR

T = TypeVar("T")


class RecordingTarget(TargetDefaults):
    """Wraps a target (normally LocalTarget) and records reads into a snapshot tree."""

    writable = False  # collecting never changes the machine
    kind = "recorder"

    def __init__(self, inner: Target) -> None:
        self.inner = inner
        self.name = inner.name
        self.role = inner.role
        self.can_run = inner.can_run
        self.adapters = inner.adapters  # what the recorded system offers is what the snapshot replays
        self.has_clock = inner.has_clock
        self.tree = tempfile.mkdtemp(prefix="autoglm-doctor-collect-")
        self._lock = threading.Lock()
        self._absent: set[str] = set()
        self._unreadable: dict[str, str] = {}
        self._dirs: dict[str, list[str]] = {}
        self._stats: dict[str, Any] = {}
        self._xattrs: dict[str, dict[str, str | None]] = {}
        self._disk: dict[str, Any] = {}
        self._commands: dict[tuple[str, ...], CommandResult] = {}
        self._api: dict[str, Any] = {}
        self._adapters: dict[str, RecordingAdapter] = {}
        self._now: float | None = None
        self._hostname: str | None = None
        self._frozen = False

    @contextlib.contextmanager
    def _recording(self) -> Iterator[None]:
        """Hold the lock to change what is recorded; after ``freeze`` nothing may change any more (a
        late check gets DeadlineExceeded instead of writing into a snapshot being archived)."""
        with self._lock:
            if self._frozen:
                raise DeadlineExceeded("the snapshot is being written: the run is over")
            yield

    def freeze(self) -> None:
        """Stop recording: what was recorded so far is what the snapshot holds."""
        with self._lock:
            self._frozen = True

    # -- mirroring the tree -----------------------------------------------------------------
    def _inner_link(self, path: str) -> str | None:
        try:
            return self.inner.readlink(path)
        except TargetError:
            return None

    def _snap(self, path: str) -> str:
        return os.path.join(self.tree, path.lstrip("/"))

    def _mirror_links(self, path: str, *, follow: bool) -> str:
        """Recreate every symlink crossed on the way to ``path``; return its physical path."""
        physical, links = resolve(path, self._inner_link, follow_last=follow)
        for link_path, text in links:
            host = self._snap(link_path)
            os.makedirs(os.path.dirname(host), exist_ok=True)
            if not os.path.lexists(host):
                os.symlink(text, host)
        return physical

    def _guard(self, path: str, fn: Callable[[], T]) -> T:
        try:
            value = fn()
        except TargetError as exc:
            with self._recording():
                self._unreadable[path] = redact(str(exc))
            raise
        if value is None:
            with self._recording():
                self._absent.add(path)
        return value

    # -- Target protocol --------------------------------------------------------------------
    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None:
        data = self._guard(path, lambda: self.inner.read_bytes(path, limit=limit))
        if data is not None:
            with self._recording():
                try:
                    physical = self._mirror_links(path, follow=True)
                except LinkLoop:
                    return data
                host = self._snap(physical)
                os.makedirs(os.path.dirname(host), exist_ok=True)
                with open(host, "wb") as fh:
                    fh.write(scrub_bytes(data))
        return data

    def listdir(self, path: str) -> list[str] | None:
        entries = self._guard(path, lambda: self.inner.listdir(path))
        if entries is not None:
            key = path.rstrip("/") or "/"
            with self._recording():
                self._dirs[key] = list(entries)
                try:
                    os.makedirs(self._snap(self._mirror_links(key, follow=True)), exist_ok=True)
                except (LinkLoop, OSError):
                    pass
        return entries

    def readlink(self, path: str) -> str | None:
        text = self._guard(path, lambda: self.inner.readlink(path))
        with self._recording():
            try:
                physical = self._mirror_links(path, follow=False)
            except LinkLoop:
                return text
            host = self._snap(physical)
            if text is not None and not os.path.lexists(host):
                os.makedirs(os.path.dirname(host), exist_ok=True)
                os.symlink(text, host)
        return text

    def stat(self, path: str, *, follow: bool = True) -> StatResult | None:
        result = self._guard(path, lambda: self.inner.stat(path, follow=follow))
        with self._recording():
            self._stats[f"{path}|{'follow' if follow else 'nofollow'}"] = None if result is None else result.to_dict()
        return result

    def getxattr(self, path: str, name: str) -> bytes | None:
        value = self._guard(path, lambda: self.inner.getxattr(path, name))
        with self._recording():
            self._absent.discard(path)  # an unset attribute says nothing about the path
            self._xattrs.setdefault(path, {})[name] = None if value is None else base64.b64encode(value).decode()
        return value

    def disk_usage(self, path: str) -> DiskUsage | None:
        result = self._guard(path, lambda: self.inner.disk_usage(path))
        with self._recording():
            self._disk[path] = None if result is None else result.to_dict()
        return result

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        result = self.inner.run(argv, timeout=timeout)
        with self._recording():
            self._commands[tuple(argv)] = scrub_command(result)
        return result

    def adapter(self, kind: str) -> "RecordingAdapter":
        with self._recording():
            if kind in self._adapters:
                return self._adapters[kind]
        try:
            inner = self.inner.adapter(kind)
        except AdapterUnavailable as exc:
            with self._recording():
                self._api[call_key(kind, "connect", [])] = {
                    "error": {"type": "AdapterUnavailable", "message": str(exc), "hint": exc.hint, "reason": exc.reason}
                }
            raise
        wrapped = RecordingAdapter(kind, inner, self)
        with self._recording():
            self._adapters[kind] = wrapped
        return wrapped

    def now(self) -> float:
        with self._recording():
            if self._now is None:
                self._now = self.inner.now()
            return self._now

    def hostname(self) -> str:
        """The recorded machine's name (kept in the manifest, not as files of the tree)."""
        if self._hostname is None:
            self._hostname = self.inner.hostname()
        return self._hostname

    def ready(self) -> None:
        self.inner.ready()

    def _record_call(self, key: str, entry: dict[str, Any]) -> None:
        entry = scrub_value(entry)
        with self._recording():
            self._api[key] = entry

    def keep_logs(self, since: float | None) -> None:
        """Keep container and journal logs from ``since`` on; ``None`` drops them (``collect --no-logs``).
        A dropped log replays as "not captured", never as an empty log."""
        with self._lock:
            for key in [k for k in self._api if k.startswith("docker.logs(")]:
                result = self._api[key].get("result")
                if since is None:
                    del self._api[key]
                elif isinstance(result, str):
                    self._api[key] = {"result": trim_docker_log(result, since)}
            for argv in [a for a in self._commands if a[:1] == ("journalctl",)]:
                if since is None:
                    del self._commands[argv]
                else:
                    result = self._commands[argv]
                    self._commands[argv] = dataclasses.replace(result, stdout=trim_journal(result.stdout, since))

    def close(self) -> None:
        self.inner.close()
        shutil.rmtree(self.tree, ignore_errors=True)

    # -- writing the snapshot ---------------------------------------------------------------
    def mutator(self) -> Any:
        from autoglm_doctor.targets.base import ReadOnlyTarget

        raise ReadOnlyTarget(f"{self.name}: collecting never changes the machine")

    def write_side_folder(self) -> None:
        side = os.path.join(self.tree, SIDE_DIR)
        os.makedirs(side, exist_ok=True)
        manifest = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "kind": "recorded",
            "source": self.name,
            "role": self.role,
            "hostname": self.hostname(),
            "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "tool_version": __version__,
        }
        if self._now is not None:
            manifest["now"] = self._now
        parts: dict[str, Any] = {
            "manifest.json": manifest,
            "absent.json": sorted(self._absent),
            "unreadable.json": self._unreadable,
            "dirs.json": self._dirs,
            "stat.json": self._stats,
            "xattr.json": self._xattrs,
            "disk.json": self._disk,
            "commands.json": [r.to_dict() for r in self._commands.values()],
            "api.json": self._api,
        }
        for name, data in parts.items():
            with open(os.path.join(side, name), "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True, default=str)

    def save(self, output: str) -> str:
        """Write the snapshot to ``output``: a .tar.gz/.tgz archive, else a directory. Recording is
        frozen first, so a check still running cannot change the tree while it is archived."""
        self.freeze()
        self.write_side_folder()
        if output.endswith((".tar.gz", ".tgz")):
            tmp = f"{output}.tmp-{os.getpid()}"
            with tarfile.open(tmp, "w:gz") as tar:
                for entry in sorted(os.listdir(self.tree)):
                    tar.add(os.path.join(self.tree, entry), arcname=entry)
            os.replace(tmp, output)
        else:
            if os.path.exists(output) and os.listdir(output):
                raise FileExistsError(f"{output}: exists and is not empty")
            shutil.copytree(self.tree, output, symlinks=True, dirs_exist_ok=True)
        return output


class RecordingAdapter:
    def __init__(self, kind: str, inner: Any, recorder: RecordingTarget) -> None:
        self._kind = kind
        self._inner = inner
        self._recorder = recorder

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_") or method not in getattr(self._inner, "API", ()):
            raise AttributeError(method)
        fn = getattr(self._inner, method)

        def record(*args: Any) -> Any:
            key = call_key(self._kind, method, args)
            try:
                result = fn(*args)
            except AdapterUnavailable as exc:
                self._recorder._record_call(
                    key, {"error": {"type": "AdapterUnavailable", "message": str(exc), "hint": exc.hint, "reason": exc.reason}}
                )
                raise
            except TargetError as exc:
                self._recorder._record_call(key, {"error": {"type": "TargetError", "message": str(exc)}})
                raise
            self._recorder._record_call(key, {"result": json.loads(json.dumps(result, default=str))})
            return result

        return record
