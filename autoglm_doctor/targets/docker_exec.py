"""A container as a Target: ``--target docker:CONTAINER``, through the Docker Engine API (docker SDK).

Regular files come out with ``get_archive`` (GET /containers/{id}/archive: a tar of one member, read
even from a stopped container). /proc and /sys are different: their files report size 0 to stat, so the
archive would hold empty files; those, and symlinks (the archive holds the link, not what it points at),
are read by ``cat`` through ``exec``. Commands run with ``exec_create``/``exec_start`` (a running
container only) and listings, stat and free space use the container's own ``find``/``stat``.

The write side (the fix engine's Mutator) puts a file next to the target with ``put_archive`` and renames
it over the target with ``mv`` inside the container, so a reader never sees half a file.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import threading
import time
from typing import Any, Sequence

from autoglm_doctor.targets.base import (
    SMALL_READ_LIMIT,
    AdapterUnavailable,
    CommandResult,
    TargetError,
    TooLarge,
)
from autoglm_doctor.targets.exec_backed import REMOTE_PATH, ExecMetadata

DEFAULT_LIMIT = 4 * SMALL_READ_LIMIT
_PSEUDO = ("/proc/", "/sys/")


def _status(exc: BaseException) -> int | None:
    return getattr(getattr(exc, "response", None), "status_code", None)


def _explain(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "explanation", None) or exc).split())[:200]


class DockerExecTarget(ExecMetadata):
    kind = "docker"
    role = "container"
    can_run = True
    writable = True

    def __init__(self, container: str, *, client: Any = None) -> None:
        self.container = container
        self.name = f"docker:{container}"
        if client is None:
            from autoglm_doctor.adapters.docker_api import DockerAdapter

            try:
                client = DockerAdapter.connect()._client
            except AdapterUnavailable as exc:
                raise TargetError(f"{self.name}: {exc}") from exc
        self._client = client
        try:
            info = client.inspect_container(container)
        except Exception as exc:  # noqa: BLE001 - the SDK raises NotFound, APIError, connection errors
            if _status(exc) == 404:
                raise TargetError(f"{self.name}: no such container") from exc
            raise TargetError(f"{self.name}: cannot inspect the container: {_explain(exc)}") from exc
        self.running = bool(info.get("State", {}).get("Running"))

    # -- files ------------------------------------------------------------------------------
    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None:
        if not path.startswith("/"):
            raise ValueError(f"target paths are absolute, got {path!r}")
        cap = DEFAULT_LIMIT if limit is None else limit
        if path.startswith(_PSEUDO) or path in ("/proc", "/sys"):
            return self._cat(path, cap)
        try:
            stream, stat = self._client.get_archive(self.container, path)
        except Exception as exc:  # noqa: BLE001
            if _status(exc) == 404:
                return None
            raise TargetError(f"{self.name}:{path}: {_explain(exc)}") from exc
        if stat.get("linkTarget"):
            for _chunk in stream:  # drain: the connection is reused
                pass
            return self._cat(path, cap)
        if int(stat.get("size", 0)) > cap:
            raise TooLarge(f"{path}: larger than the {cap}-byte cap")
        buf = io.BytesIO()
        for chunk in stream:
            buf.write(chunk)
            if buf.tell() > cap + 1024 * 1024:
                raise TooLarge(f"{path}: larger than the {cap}-byte cap")
        buf.seek(0)
        try:
            with tarfile.open(fileobj=buf, mode="r|") as tar:
                member = tar.next()
                if member is None:
                    raise TargetError(f"{self.name}:{path}: dockerd sent an empty archive")
                if member.isdir():
                    raise TargetError(f"{path}: is a directory")
                if not member.isfile():
                    return self._cat(path, cap)
                fh = tar.extractfile(member)
                data = fh.read(cap + 1) if fh else b""
        except tarfile.TarError as exc:
            raise TargetError(f"{self.name}:{path}: unreadable archive from dockerd ({exc})") from exc
        if len(data) > cap:
            raise TooLarge(f"{path}: larger than the {cap}-byte cap")
        return data

    def _cat(self, path: str, cap: int) -> bytes | None:
        result = self._exec(["cat", "--", path], timeout=30.0, raw=True)
        rc, out, err = result
        if rc != 0:
            text = err.decode("utf-8", "replace")
            if "No such file" in text or "Not a directory" in text:
                return None
            if "Is a directory" in text:
                raise TargetError(f"{path}: is a directory")
            raise TargetError(f"{self.name}:{path}: {' '.join(text.split())[:200] or f'cat exited {rc}'}")
        if len(out) > cap:
            raise TooLarge(f"{path}: larger than the {cap}-byte cap")
        return bytes(out)

    # -- commands ---------------------------------------------------------------------------
    def _exec(self, argv: Sequence[str], *, timeout: float, raw: bool = False) -> Any:
        try:
            exec_id = self._client.exec_create(self.container, list(argv), stdout=True, stderr=True,
                                               environment=[f"PATH={REMOTE_PATH}", "LC_ALL=C", "LANG=C"])["Id"]
        except Exception as exc:  # noqa: BLE001
            if _status(exc) == 409:
                raise TargetError(f"{self.name}: the container is not running, so nothing can run in it") from exc
            if _status(exc) == 404:
                raise TargetError(f"{self.name}: the container is gone") from exc
            raise TargetError(f"{self.name}: exec failed: {_explain(exc)}") from exc
        box: dict[str, Any] = {}

        def start() -> None:
            try:
                box["out"] = self._client.exec_start(exec_id, demux=True)
            except Exception as exc:  # noqa: BLE001
                box["error"] = exc

        worker = threading.Thread(target=start, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            return None
        if "error" in box:
            raise TargetError(f"{self.name}: exec failed: {_explain(box['error'])}")
        out, err = box["out"] or (None, None)
        code = self._client.exec_inspect(exec_id).get("ExitCode")
        return (code if isinstance(code, int) else -1), out or b"", err or b""

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        argv = tuple(argv)
        if not argv:
            raise ValueError("empty argv")
        result = self._exec(argv, timeout=timeout)
        if result is None:
            return CommandResult(argv, -9, "", f"timed out after {timeout:g}s (still running in the container)",
                                 timed_out=True)
        code, out, err = result
        stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        if code in (126, 127) and ("executable file not found" in stdout + stderr or "no such file" in (stdout + stderr).lower()):
            return CommandResult(argv, 127, "", f"{argv[0]}: command not found", not_found=True)
        return CommandResult(argv, code, stdout, stderr)

    # -- the rest of the protocol -----------------------------------------------------------
    def adapter(self, kind: str) -> Any:
        raise AdapterUnavailable(f"the {kind} API is not reachable from inside {self.name}", reason="unsupported")

    def now(self) -> float:
        return time.time()  # a container shares the host's clock

    def mutator(self) -> "DockerMutator":
        return DockerMutator(self)

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # noqa: BLE001
            pass


class DockerMutator:
    """The fix engine's Mutator inside a container: put_archive + mv for files, the container's own
    chmod/chown/mkdir/rm for the rest. Extended attributes need setfattr in the image."""

    def __init__(self, target: DockerExecTarget) -> None:
        self._t = target
        self.name = target.name

    def _must(self, argv: Sequence[str]) -> None:
        result = self._t.run(argv, timeout=60.0)
        if not result.ok:
            raise TargetError(f"{self.name}: {' '.join(argv)}: {' '.join(result.stderr.split())[:200] or result.returncode}")

    def write_bytes(self, path: str, data: bytes, *, mode: int | None = None,
                    uid: int | None = None, gid: int | None = None) -> None:
        old = self._t.stat(path)
        directory, base = posixpath.split(path)
        tmp = f".{base}.autoglm-doctor-tmp"
        info = tarfile.TarInfo(tmp)
        info.size = len(data)
        info.mode = mode if mode is not None else (old.perms if old else 0o644)
        info.uid = uid if uid is not None else (old.uid if old else 0)
        info.gid = gid if gid is not None else (old.gid if old else 0)
        info.mtime = int(time.time())
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.addfile(info, io.BytesIO(data))
        try:
            ok = self._t._client.put_archive(self._t.container, directory or "/", buf.getvalue())
        except Exception as exc:  # noqa: BLE001
            raise TargetError(f"{self.name}:{path}: cannot write: {_explain(exc)}") from exc
        if not ok:
            raise TargetError(f"{self.name}:{path}: dockerd refused the write")
        try:
            self._must(["mv", "-f", "--", posixpath.join(directory or "/", tmp), path])
        except TargetError:
            self._t.run(["rm", "-f", "--", posixpath.join(directory or "/", tmp)])
            raise

    def remove(self, path: str) -> None:
        st = self._t.stat(path, follow=False)
        if st is not None:
            self._must(["rmdir", "--", path] if st.kind == "dir" else ["rm", "-f", "--", path])

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._must(["mkdir", "-p", "-m", format(mode, "o"), "--", path])

    def chmod(self, path: str, mode: int) -> None:
        self._must(["chmod", format(mode, "o"), "--", path])

    def chown(self, path: str, uid: int, gid: int) -> None:
        st = self._t.stat(path)
        if st is None:
            raise TargetError(f"{path}: no such file")
        self._must(["chown", f"{st.uid if uid == -1 else uid}:{st.gid if gid == -1 else gid}", "--", path])

    def setxattr(self, path: str, name: str, value: bytes) -> None:
        self._must(["setfattr", "-n", name, "-v", "0x" + value.hex(), "--", path])

    def removexattr(self, path: str, name: str) -> None:
        result = self._t.run(["setfattr", "-x", name, "--", path], timeout=60.0)
        if not result.ok and "No such attribute" not in result.stderr:
            raise TargetError(f"{self.name}: setfattr -x {name} {path}: {result.stderr.strip()[:200]}")

    def run_change(self, argv: Sequence[str], *, timeout: float = 60.0) -> CommandResult:
        return self._t.run(argv, timeout=timeout)
