"""Docker Engine API adapter (docker SDK, low-level client, imported lazily)."""

from __future__ import annotations

import os
from typing import Any

from autoglm_doctor.targets.base import AdapterUnavailable, TargetError

DEFAULT_SOCKET = "/var/run/docker.sock"
INSTALL_HINT = "install Docker (Debian/Ubuntu: apt-get install docker.io) and start it (systemctl start docker)"


def _describe_connect_error(exc: BaseException, socket_path: str | None) -> AdapterUnavailable:
    text = str(exc)
    if socket_path and not os.path.exists(socket_path):
        return AdapterUnavailable(
            f"Docker socket {socket_path} does not exist: the daemon is not running or not installed",
            hint=INSTALL_HINT,
        )
    if "Permission denied" in text or isinstance(exc, PermissionError):
        return AdapterUnavailable(
            f"permission denied on the Docker socket {socket_path or ''}".strip(),
            hint="run as root or add the user to the 'docker' group (usermod -aG docker USER), then log in again",
        )
    if "Connection refused" in text or "ConnectionRefused" in text:
        return AdapterUnavailable(
            f"the Docker daemon is not answering on {socket_path or 'its socket'} (connection refused): it is down",
            hint="start it: systemctl start docker; see journalctl -u docker",
        )
    return AdapterUnavailable(f"cannot reach the Docker daemon: {text}", hint=INSTALL_HINT)


class DockerAdapter:
    API = ("version", "info", "containers", "inspect_container", "inspect_image")

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def connect(cls, base_url: str | None = None, timeout: float = 10.0) -> "DockerAdapter":
        try:
            import docker  # noqa: F401 - heavy, lazily imported
            from docker import APIClient
        except ImportError as exc:
            raise AdapterUnavailable("the docker Python SDK is not installed", hint="pip install docker") from exc
        url = base_url or os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
        socket_path = url[len("unix://"):] if url.startswith("unix://") else None
        try:
            client = APIClient(base_url=url, version="auto", timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - the SDK raises many shapes; all mean "unreachable"
            raise _describe_connect_error(exc, socket_path) from exc
        return cls(client)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status == 404:
                return None
            raise TargetError(f"Docker API error: {exc}") from exc

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

    def close(self) -> None:
        self._client.close()
