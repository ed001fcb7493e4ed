"""The shapes of adapter answers (Docker Engine API, libvirt, HTTP probe), checked where a snapshot
replays them.

A snapshot's api.json is hostile input: an answer with ``"HostConfig": "x"`` or ``"xml": 5`` used to
crash whichever check read it ("check crashed: AttributeError: 'str' object has no attribute 'get'").
Replayed answers are checked against these templates first, so the check reports an error that names
the file, the call and the field instead. The templates cover the fields the checks read; ``null`` is
accepted for every field below the top (the Engine API writes ``null`` for empty lists and maps).

Template language: a Python type (``str``, ``int``: not bool, ``bool``, ``NUM``: int or float but finite),
``[T]`` a list of T, ``{str: T}`` a map of T, ``{"Key": T, ...}`` an object whose listed keys have those
types (others are not looked at), ``ANY``.
"""

from __future__ import annotations

import json
import math
from typing import Any

ANY = object()
NUM = (int, float)

_PORTS = {str: [{"HostIp": str, "HostPort": str}]}
DOCKER_INSPECT = {
    "Id": str, "Name": str, "Image": str, "RestartCount": int, "ProcessLabel": str, "MountLabel": str,
    "Config": {"Image": str, "User": str, "Env": [str], "Labels": {str: str}, "Healthcheck": {"Test": [str]}},
    "HostConfig": {
        "Privileged": bool, "GroupAdd": [str], "PortBindings": _PORTS, "NetworkMode": str, "UsernsMode": str,
        "ShmSize": int, "SecurityOpt": [str], "Runtime": str, "IpcMode": str, "CapDrop": [str], "CapAdd": [str],
        "Binds": [str],
        "Devices": [{"PathOnHost": str, "PathInContainer": str, "CgroupPermissions": str}],
        "DeviceRequests": [{"Driver": str, "Count": int, "DeviceIDs": [str], "Capabilities": [[str]]}],
    },
    "State": {"Status": str, "Running": bool, "Restarting": bool, "OOMKilled": bool, "ExitCode": int, "Error": str,
              "StartedAt": str, "FinishedAt": str,
              "Health": {"Status": str, "FailingStreak": int, "Log": [{"ExitCode": int, "Output": str}]}},
    "Mounts": [{"Type": str, "Source": str, "Destination": str, "RW": bool, "Mode": str, "Name": str}],
    "NetworkSettings": {"Ports": _PORTS, "Networks": {str: {"IPAddress": str, "Gateway": str}}},
}
TEMPLATES: dict[str, Any] = {
    "docker.endpoint": {"url": str, "api_version": str},
    "docker.version": {"Version": str, "ApiVersion": str, "Os": str, "Arch": str},
    "docker.info": {"Driver": str, "DriverStatus": [[str]], "CgroupDriver": str, "CgroupVersion": str,
                    "DockerRootDir": str, "Runtimes": {str: ANY}, "DefaultRuntime": str, "SecurityOptions": [str],
                    "CDISpecDirs": [str]},
    "docker.containers": [{"Id": str, "Names": [str], "Image": str, "Labels": {str: str}, "State": str}],
    "docker.inspect_container": DOCKER_INSPECT,
    "docker.inspect_image": {"Id": str, "Config": {"Labels": {str: str}, "Env": [str], "User": str}},
    "docker.container_file": {"content": str, "kind": str, "size": int, "truncated": bool},
    "docker.logs": str,
    "docker.exec_run": {"exit_code": int, "output": str, "error": str},
    "libvirt.version": {"library": int, "hypervisor": int, "uri": str},
    "libvirt.capabilities": str,
    "libvirt.domains": [{"name": str, "uuid": str, "active": bool, "state": int, "xml": str}],
    "libvirt.networks": [{"name": str, "active": bool, "xml": str}],
    "udev.devices": [{"sys_name": str, "sys_path": str, "driver": str, "properties": {str: str}}],
    "udev.hwdb": {str: str},
    "http.get": {"status": int, "body": str, "truncated": bool, "elapsed_ms": NUM,
                 "error": {"kind": str, "message": str}},
}


class AnswerError(ValueError):
    pass


def _describe(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(where: str, value: Any, want: str) -> AnswerError:
    return AnswerError(f"{where or 'the answer'} is {_describe(value)} (expected {want})")


def _check(value: Any, template: Any, where: str, depth: int = 0) -> None:
    if template is ANY or (value is None and depth > 0):
        return
    if depth > 40:
        raise _fail(where, "...", "no more than 40 levels of nesting")
    if template is str or template is bool:
        if not isinstance(value, template):
            raise _fail(where, value, "text" if template is str else "true or false")
    elif template is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, value, "an integer")
    elif template is NUM:
        if isinstance(value, bool) or not isinstance(value, NUM) or not math.isfinite(value):
            raise _fail(where, value, "a number")
    elif isinstance(template, list):
        if not isinstance(value, list):
            raise _fail(where, value, "a list")
        for i, item in enumerate(value):
            _check(item, template[0], f"{where}[{i}]", depth + 1)
    elif isinstance(template, dict):
        if not isinstance(value, dict):
            raise _fail(where, value, "an object")
        if str in template:  # a map
            for key, item in value.items():
                _check(item, template[str], f"{where}[{json.dumps(key)[:40]}]", depth + 1)
            return
        for key, sub in template.items():
            if key in value:
                _check(value[key], sub, f"{where}.{key}" if where else key, depth + 1)


def check_answer(adapter: str, method: str, value: Any) -> None:
    """Raise AnswerError naming the field when ``value`` does not fit the method's template. A method
    without a template is not checked; ``None`` at the top is "absent" and always fits."""
    template = TEMPLATES.get(f"{adapter.split('@', 1)[0]}.{method}")
    if template is None or value is None:
        return
    try:
        _check(value, template, "")
    except RecursionError as exc:
        raise AnswerError("nested too deeply") from exc
