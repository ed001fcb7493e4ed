"""Docker facts: the daemon (info, version, daemon.json, userns-remap) and the AutoGLM containers the
profile expects, resolved to their ``docker inspect`` data. Everything is read through the Target's
docker adapter and files, so snapshots replay it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autoglm_doctor.facts.kernel import GarbageValue

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.check import Check
    from autoglm_doctor.model import Finding

DAEMON_JSON = "/etc/docker/daemon.json"
ROLES = ("agent", "model")
_PORT = re.compile(r"^(?:(\d{1,5}):)?(\d{1,5})(?:/(tcp|udp))?$")

DEFAULT_CONTAINERS = (
    {"name": "auto-glm", "role": "agent", "ports": ["8080:8080"],
     "volumes": [{"target": "/app/config", "mode": "rw", "write": False}]},
    {"image": ["vllm", "sglang"], "role": "model", "ports": ["8000:8000"], "volumes": []},
)


# -- profile keys -----------------------------------------------------------------------------
def _port(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, dict) and set(value) == {"host", "container", "proto"}:  # already normalised
        return value
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    m = _PORT.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{where}: port {value!r} is not PORT, HOSTPORT:CONTAINERPORT or PORT/udp")
    host, ctr = int(m.group(1) or m.group(2)), int(m.group(2))
    if not (0 < host < 65536 and 0 < ctr < 65536):
        raise ValueError(f"{where}: port {value!r} out of range 1-65535")
    return {"host": host, "container": ctr, "proto": m.group(3) or "tcp"}


def _volume_expectation(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"target": value}
    if not isinstance(value, dict) or not isinstance(value.get("target"), str) or not value["target"].startswith("/"):
        raise ValueError(f"{where}: a volume needs 'target', the absolute path inside the container")
    unknown = set(value) - {"target", "mode", "write"}
    if unknown:
        raise ValueError(f"{where}: unknown volume key(s) {', '.join(sorted(unknown))} (known: target, mode, write)")
    mode = value.get("mode", "rw")
    if mode not in ("rw", "ro"):
        raise ValueError(f"{where}: volume mode must be 'rw' or 'ro', got {mode!r}")
    write = value.get("write", False)
    if not isinstance(write, bool):
        raise ValueError(f"{where}: volume 'write' must be true or false")
    if write and mode == "ro":
        raise ValueError(f"{where}: volume {value['target']} cannot be both mode 'ro' and write = true")
    return {"target": value["target"].rstrip("/") or "/", "mode": mode, "write": write}


def validate_containers(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ValueError("containers must be an array of tables ([[profile.containers]])")
    out = []
    for i, item in enumerate(value, 1):
        where = f"container #{i}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be a table")
        unknown = set(item) - {"name", "label", "image", "role", "ports", "volumes", "user"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                             "(known: name, label, image, role, ports, volumes, user)")
        image = item.get("image")
        if isinstance(image, str):
            image = [image]
        if image is not None and not (isinstance(image, list) and image and all(isinstance(s, str) and s for s in image)):
            raise ValueError(f"{where}: image must be a non-empty string or list of strings")
        for key in ("name", "label", "user"):
            if item.get(key) is not None and (not isinstance(item[key], str) or not item[key]):
                raise ValueError(f"{where}: {key} must be a non-empty string")
        if not any(item.get(k) for k in ("name", "label", "image")):
            raise ValueError(f"{where}: needs 'name', 'label' (KEY or KEY=VALUE) or 'image' to find the container")
        role = item.get("role", "agent")
        if role not in ROLES:
            raise ValueError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
        ports = item.get("ports", [])
        vols = item.get("volumes", [])
        if not isinstance(ports, list) or not isinstance(vols, list):
            raise ValueError(f"{where}: ports and volumes must be arrays")
        out.append({
            "name": item.get("name"), "label": item.get("label"), "image": image, "role": role,
            "user": item.get("user"),
            "ports": [_port(p, where) for p in ports],
            "volumes": [_volume_expectation(v, where) for v in vols],
        })
    return out


def validate_host_volumes(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ValueError("volumes must be an array of paths or tables {path, user, write}")
    out = []
    for i, item in enumerate(value, 1):
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"].startswith("/"):
            raise ValueError(f"volume #{i}: needs an absolute 'path'")
        unknown = set(item) - {"path", "user", "write"}
        if unknown:
            raise ValueError(f"volume #{i}: unknown key(s) {', '.join(sorted(unknown))} (known: path, user, write)")
        user = item.get("user", "root")
        if isinstance(user, bool) or not isinstance(user, (str, int)):
            raise ValueError(f"volume #{i}: user must be a name or a uid")
        write = item.get("write", False)
        if not isinstance(write, bool):
            raise ValueError(f"volume #{i}: write must be true or false")
        out.append({"path": item["path"].rstrip("/") or "/", "user": str(user), "write": write})
    return out


def _validate_url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"model_endpoint must be an http(s) URL like http://127.0.0.1:8000, got {value!r}")
    return value.rstrip("/")


def expected_specs(ctx: Context) -> list[dict[str, Any]]:
    """The profile's containers, normalised (idempotent: a config file's value is already)."""
    return validate_containers(ctx.profile.get("containers"))


def host_volumes(ctx: Context) -> list[dict[str, Any]]:
    return validate_host_volumes(ctx.profile.get("volumes"))


def describe_spec(spec: dict[str, Any]) -> str:
    if spec.get("name"):
        return str(spec["name"])
    if spec.get("label"):
        return f"label {spec['label']}"
    return f"{spec['role']} server (image matching {'|'.join(spec['image'])})"


# -- the daemon -----------------------------------------------------------------------------------
def docker(ctx: Context) -> Any:
    return ctx.target.adapter("docker")


# What the Engine API answers, field by field, for the fields the checks use: a daemon (or a snapshot)
# answering ``"CgroupDriver": 5`` or ``"Version": null`` gave no answer the checks can judge, and saying
# "driver 5" passed. Such an answer is GarbageValue ("unexpected answer"), naming the call and the field.
_INFO_TEXT = ("Driver", "DockerRootDir", "DefaultRuntime", "OperatingSystem", "ServerVersion")
_INFO_CHOICES = {"CgroupDriver": ("cgroupfs", "systemd", "none"), "CgroupVersion": ("1", "2")}
_INFO_LISTS = ("DriverStatus", "SecurityOptions")


def _unexpected(call: str, key: str, value: Any, want: str) -> GarbageValue:
    shown = json.dumps(value)[:80] if not isinstance(value, str) else repr(value[:80])
    return GarbageValue(f"unexpected answer from {call}: {key} is {shown} ({want})")


def validate_info(info: Any) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise GarbageValue(f"unexpected answer from docker info: {type(info).__name__}, not an object")
    for key in _INFO_TEXT:
        if info.get(key) is not None and not isinstance(info[key], str):
            raise _unexpected("docker info", key, info[key], "expected text")
    for key, choices in _INFO_CHOICES.items():
        if info.get(key) is not None and info[key] not in choices:
            raise _unexpected("docker info", key, info[key], f"expected one of {', '.join(choices)}")
    for key in _INFO_LISTS:
        if info.get(key) is not None and not isinstance(info[key], list):
            raise _unexpected("docker info", key, info[key], "expected a list")
    if any(not isinstance(p, list) or len(p) != 2 for p in info.get("DriverStatus") or []):
        raise _unexpected("docker info", "DriverStatus", info["DriverStatus"], "expected [name, value] pairs")
    if info.get("Runtimes") is not None and not isinstance(info["Runtimes"], dict):
        raise _unexpected("docker info", "Runtimes", info["Runtimes"], "expected an object")
    return info


def validate_version(version: Any) -> dict[str, Any]:
    if not isinstance(version, dict):
        raise GarbageValue(f"unexpected answer from docker version: {type(version).__name__}, not an object")
    for key in ("Version", "ApiVersion"):
        value = version.get(key)
        if not isinstance(value, str) or not re.match(r"^v?\d+\.\d+", value):
            raise _unexpected("docker version", key, value, "expected a version such as 24.0.7")
    for key in ("Os", "Arch", "GoVersion"):
        if version.get(key) is not None and not isinstance(version[key], str):
            raise _unexpected("docker version", key, version[key], "expected text")
    return version


def docker_info(ctx: Context) -> dict[str, Any]:
    return validate_info(docker(ctx).info())


def docker_version(ctx: Context) -> dict[str, Any]:
    return validate_version(docker(ctx).version())


@dataclass(frozen=True)
class DaemonConfig:
    path: str
    exists: bool
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def daemon_config(ctx: Context) -> DaemonConfig:
    """/etc/docker/daemon.json, parsed. Invalid JSON is GarbageValue: dockerd refuses to start with it."""
    text = ctx.target.read_text(DAEMON_JSON)
    if text is None:
        return DaemonConfig(DAEMON_JSON, False)
    if not text.strip():
        return DaemonConfig(DAEMON_JSON, True, {}, text)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise GarbageValue(f"{DAEMON_JSON} is not valid JSON ({exc}): dockerd will refuse to start") from exc
    if not isinstance(data, dict):
        raise GarbageValue(f"{DAEMON_JSON} must hold a JSON object, not {type(data).__name__}")
    return DaemonConfig(DAEMON_JSON, True, data, text)


def security_options(info: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``["name=seccomp,profile=default", "name=userns"]`` -> {"seccomp": {"profile": "default"}, "userns": {}}."""
    out: dict[str, dict[str, str]] = {}
    for item in info.get("SecurityOptions") or []:
        fields = dict(part.split("=", 1) for part in str(item).split(",") if "=" in part)
        name = fields.pop("name", None)
        if name:
            out[name] = fields
    return out


@dataclass(frozen=True)
class Remap:
    user: str
    uid_base: int
    uid_count: int
    gid_base: int
    gid_count: int

    def host_uid(self, uid: int) -> int | None:
        return self.uid_base + uid if 0 <= uid < self.uid_count else None

    def host_gid(self, gid: int) -> int | None:
        return self.gid_base + gid if 0 <= gid < self.gid_count else None

    def maps_uid(self, host_uid: int) -> bool:
        return self.uid_base <= host_uid < self.uid_base + self.uid_count

    def maps_gid(self, host_gid: int) -> bool:
        return self.gid_base <= host_gid < self.gid_base + self.gid_count


def parse_subid(text: str, names: tuple[str, ...]) -> tuple[int, int] | None:
    """First ``name:start:count`` line of /etc/subuid or /etc/subgid for any of ``names``."""
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
            return int(parts[1]), int(parts[2])
    return None


def userns_remap(ctx: Context) -> Remap | None:
    """The daemon's userns-remap, when active (``name=userns`` in docker info). The base ids come from
    /etc/subuid and /etc/subgid for the configured user, else from DockerRootDir (``.../UID.GID``)."""
    info = ctx.fact(docker_info)
    if "userns" not in security_options(info):
        return None
    try:
        setting = str(ctx.fact(daemon_config).data.get("userns-remap") or "default")
    except GarbageValue:
        setting = "default"
    user, _, group = setting.partition(":")
    if user == "default":
        user, group = "dockremap", "dockremap"
    group = group or user
    from autoglm_doctor.facts.access import accounts

    acc = ctx.fact(accounts)
    uid_names = (user, str(acc.users[user][0])) if user in acc.users else (user,)
    gid_names = (group, str(acc.groups[group][0])) if group in acc.groups else (group,)
    sub_u = parse_subid(ctx.target.read_text("/etc/subuid") or "", uid_names)
    sub_g = parse_subid(ctx.target.read_text("/etc/subgid") or "", gid_names)
    root_dir = str(info.get("DockerRootDir") or "")
    m = re.search(r"/(\d+)\.(\d+)$", root_dir)
    if sub_u is None and m:
        sub_u = (int(m.group(1)), 65536)
    if sub_g is None and m:
        sub_g = (int(m.group(2)), 65536)
    if sub_u is None or sub_g is None:
        raise GarbageValue(f"userns-remap is active for {user!r} but /etc/subuid or /etc/subgid has no range for it")
    return Remap(user, sub_u[0], sub_u[1], sub_g[0], sub_g[1])


# -- the expected containers ------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolved:
    spec: dict[str, Any]
    name: str  # resource name: the container's name, else the spec's description
    inspect: dict[str, Any] | None

    def skip_absent(self, check: "Check", resource: str | None = None) -> "Finding":
        """What a per-container check says of a container that is not there (container.deploy.present
        reports the absence itself)."""
        return check.skip(f"container {self.name} not found (see container.deploy.present)",
                          resource=resource or self.name)


def _label_matches(labels: dict[str, str] | None, selector: str) -> bool:
    key, eq, value = selector.partition("=")
    labels = labels or {}
    return key in labels and (not eq or labels[key] == value)


def resolve_containers(ctx: Context) -> list[Resolved]:
    """Every expected container, found by name, label or image substring (a selector may match several)."""
    api = docker(ctx)
    listing: list[dict[str, Any]] | None = None
    out = []
    for spec in expected_specs(ctx):
        if spec.get("name"):
            data = api.inspect_container(spec["name"])
            out.append(Resolved(spec, spec["name"], data))
            continue
        if listing is None:
            listing = api.containers(True) or []
        if spec.get("label"):
            hits = [c for c in listing if _label_matches(c.get("Labels"), spec["label"])]
        else:
            hits = [c for c in listing if any(s.lower() in str(c.get("Image", "")).lower() for s in spec["image"])]
        if not hits:
            out.append(Resolved(spec, describe_spec(spec), None))
        for hit in sorted(hits, key=lambda c: (c.get("Names") or ["?"])[0]):
            name = (hit.get("Names") or [hit.get("Id", "?")[:12]])[0].lstrip("/")
            out.append(Resolved(spec, name, api.inspect_container(hit.get("Id") or name)))
    return out


def short_error(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
