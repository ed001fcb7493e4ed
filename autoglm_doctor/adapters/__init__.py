"""Typed adapters for APIs a Target exposes: Docker, libvirt, udev.

Every adapter method takes JSON-able arguments and returns JSON-able data, so a recorder can
capture the call and a snapshot can replay it. Each adapter lists its methods in ``API``.
Heavy client libraries are imported here, lazily, never by checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target


def open_local_adapter(kind: str, target: Target) -> Any:
    from autoglm_doctor.targets.base import AdapterUnavailable

    if kind == "docker":
        from autoglm_doctor.adapters.docker_api import DockerAdapter

        return DockerAdapter.connect()
    if kind == "libvirt" or kind.startswith("libvirt@"):
        from autoglm_doctor.adapters.libvirt_api import LibvirtAdapter

        # "libvirt" is libvirt's default connection; "libvirt@URI" one named URI (its own recorded calls)
        return LibvirtAdapter.connect(kind.partition("@")[2] or None)
    if kind == "udev":
        from autoglm_doctor.adapters.udev_api import UdevAdapter

        return UdevAdapter.connect(target)
    if kind == "proc":
        from autoglm_doctor.adapters.proc_api import ProcAdapter

        return ProcAdapter.connect()
    if kind == "http":
        from autoglm_doctor.adapters.http_api import HttpAdapter

        return HttpAdapter.connect()
    raise AdapterUnavailable(f"unknown adapter {kind!r}")
