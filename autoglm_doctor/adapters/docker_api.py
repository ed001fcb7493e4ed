"""Docker Engine API adapter (docker SDK, low-level client, imported lazily).

Every method takes JSON-able arguments and returns JSON-able data (listed in ``API``) so that a
recorder captures it and a snapshot replays it. Connection problems are ``DockerUnreachable``
(an ``AdapterUnavailable``) with a ``cause``: socket_missing, permission_denied, daemon_down,
unreachable or sdk_missing; the cause is also the first word of the message (``[daemon_down] ...``)
so that it survives a snapshot round trip.
"""

from __future__ import annotations

import io
import os
import tarfile
from typing import Any

from autoglm_doctor.targets.base import AdapterUnavailable, TargetError

DEFAULT_SOCKET = "/var/run/docker.sock"
INSTALL_HINT = "install Docker (Debian/Ubuntu: apt-get install docker.io) and start it (systemctl start docker)"
START_HINT = "start it: systemctl start docker (see journalctl -u docker for why it stopped)"
MAX_FILE_BYTES = 1024 * 1024
REASONS = ("socket_missing", "permission_denied", "daemon_down", "unreachable", "sdk_missing")


class DockerUnreachable(AdapterUnavailable):
    """``cause`` is the precise Docker reason; the base class's ``reason`` stays coarse
    ("missing" for the SDK, "unreachable" for the daemon)."""

    def __init__(self, cause: str, message: str, hint: str = "") -> None:
        super().__init__(f"[{cause}] {message}", hint=hint)
        self.reason = "missing" if cause == "sdk_missing" else "unreachable"
        self.cause = cause


def unreachable_reason(exc: BaseException) -> str | None:
    """The precise cause of a connection failure, also from a replayed (plain) AdapterUnavailable."""
    cause = getattr(exc, "cause", None)
    if cause in REASONS:
        return cause
    text = str(exc)
    if text.startswith("[") and "]" in text:
        word = text[1:text.index("]")]
        return word if word in REASONS else None
    return None


def _who() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return f"uid {os.getuid()}"


def _socket_owner(path: str) -> str:
    try:
        import grp
        import stat

        st = os.stat(path)
        try:
            group = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            group = str(st.st_gid)
        return f"{stat.filemode(st.st_mode)} group {group}"
    except OSError:
        return "mode unknown"


def describe_connect_error(exc: BaseException, url: str, socket_path: str | None) -> DockerUnreachable:
    text = f"{exc!r} {exc}"
    if "FileNotFoundError" in text or "No such file or directory" in text:
        return DockerUnreachable(
            "socket_missing",
            f"the Docker socket {socket_path or url} does not exist: dockerd is not running, not installed, "
            "or DOCKER_HOST points elsewhere",
            hint=INSTALL_HINT,
        )
    if "PermissionError" in text or "Permission denied" in text:
        user = _who()
        return DockerUnreachable(
            "permission_denied",
            f"permission denied on the Docker socket {socket_path or url} ({_socket_owner(socket_path or '')}) "
            f"for {user}",
            hint=f"run as root, or add {user} to the socket's group: usermod -aG docker {user} and log in again "
            "(membership of group docker is equivalent to root on this host)",
        )
    if "ConnectionRefused" in text or "Connection refused" in text:
        return DockerUnreachable(
            "daemon_down",
            f"nothing answers on {socket_path or url} (connection refused): the socket file is left over but "
            "dockerd is down",
            hint=START_HINT,
        )
    if "timed out" in text.lower() or "Timeout" in text:
        return DockerUnreachable(
            "unreachable", f"dockerd did not answer on {url} in time: it is hung or overloaded",
            hint="see journalctl -u docker; restart it if it stays unresponsive",
        )
    return DockerUnreachable("unreachable", f"cannot reach the Docker daemon at {url}: {exc}", hint=INSTALL_HINT)


def _read_single_member(stream: Any, limit: int) -> dict[str, Any]:
    buf = io.BytesIO()
    for chunk in stream:
        buf.write(chunk)
        if buf.tell() > limit + 64 * 1024:
            break
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r|*") as tar:
        for member in tar:
            if member.isfile():
                fh = tar.extractfile(member)
                data = fh.read(limit + 1) if fh else b""
                return {
                    "content": data[:limit].decode("utf-8", "replace"),
                    "truncated": len(data) > limit,
                    "size": member.size,
                }
            return {"content": None, "kind": "dir" if member.isdir() else "other", "size": member.size}
    return {"content": None, "kind": "missing", "size": 0}


class DockerAdapter:
    API = (
        "endpoint",
        "version",
        "info",
        "containers",
        "inspect_container",
        "inspect_image",
        "container_file",
        "logs",
        "exec_run",
    )

    def __init__(self, client: Any, url: str = "") -> None:
        self._client = client
        self._url = url

    @classmethod
    def connect(cls, base_url: str | None = None, timeout: float = 10.0) -> "DockerAdapter":
        try:
            from docker import APIClient
        except ImportError as exc:
            raise DockerUnreachable("sdk_missing", "the docker Python SDK is not installed",
                                    hint="pip install docker") from exc
        url = base_url or os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
        socket_path = url[len("unix://"):] if url.startswith("unix://") else None
        try:
            client = APIClient(base_url=url, version="auto", timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - the SDK raises many shapes; all mean "unreachable"
            raise describe_connect_error(exc, url, socket_path) from exc
        return cls(client, url)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status == 404:
                return None
            explanation = getattr(exc, "explanation", None) or str(exc)
            raise TargetError(f"Docker API error{f' {status}' if status else ''}: {explanation}") from exc

    def endpoint(self) -> dict[str, Any]:
        """Where the adapter talks to dockerd (DOCKER_HOST or the default socket)."""
        return {"url": self._url, "api_version": getattr(self._client, "api_version", None)}

    def version(self) -> dict[str, Any]:
        return self._call(self._client.version)

    def info(self) -> dict[str, Any]:
        return self._call(self._client.info)

    def containers(self, all: bool = True) -> list[dict[str, Any]]:  # noqa: A002 - Docker's own name
        return self._call(self._client.containers, all=all)

    def inspect_container(self, name: str) -> dict[str, Any] | None:
        return self._call(self._client.inspect_container, name)

    def inspect_image(self, ref: str) -> dict[str, Any] | None:
        return self._call(self._client.inspect_image, ref)

    def container_file(self, name: str, path: str) -> dict[str, Any] | None:
        """A file of a container's filesystem (running or not; read-only API): ``{"content": text,
        "truncated", "size"}``; ``content`` is None for a directory; None when the container or the
        path does not exist."""
        try:
            stream, _stat = self._client.get_archive(name, path)
        except Exception as exc:  # noqa: BLE001
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status == 404:
                return None
            explanation = getattr(exc, "explanation", None) or str(exc)
            raise TargetError(f"Docker API error reading {path} from {name}: {explanation}") from exc
        try:
            return _read_single_member(stream, MAX_FILE_BYTES)
        except (tarfile.TarError, OSError) as exc:
            raise TargetError(f"{name}:{path}: unreadable archive from dockerd ({exc})") from exc

    def logs(self, name: str, tail: int = 200, since: int | None = None, timestamps: bool = False) -> str | None:
        """The last ``tail`` lines of a container's stdout+stderr; with ``timestamps`` each line is prefixed
        by dockerd's RFC 3339 time (trace correlation); ``since`` in epoch seconds. None: no such container."""
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": timestamps, "tail": tail}
        if since is not None:
            kwargs["since"] = int(since)
        data = self._call(self._client.logs, name, **kwargs)
        if data is None:
            return None
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)

    def exec_run(self, name: str, argv: list[str], user: str | None = None) -> dict[str, Any] | None:
        """Run ``argv`` inside a running container as ``docker exec`` does (no TTY, no stdin; the
        container's user unless ``user``): ``{"exit_code", "output"}`` with stdout+stderr capped at 64 KiB;
        ``{"exit_code": None, "error"}`` when it could not start (container not running, no such program);
        None when there is no such container."""
        try:
            created = self._client.exec_create(name, list(argv), stdout=True, stderr=True, user=user or "")
            output = self._client.exec_start(created["Id"])
            code = self._client.exec_inspect(created["Id"]).get("ExitCode")
        except Exception as exc:  # noqa: BLE001 - the SDK raises many shapes
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status == 404:
                return None
            explanation = getattr(exc, "explanation", None) or str(exc)
            return {"exit_code": None, "error": " ".join(str(explanation).split())[:300]}
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
        return {"exit_code": code, "output": text[-65536:]}

    def close(self) -> None:
        self._client.close()
