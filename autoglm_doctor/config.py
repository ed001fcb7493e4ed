"""Configuration: the deployment profile and ignores, from TOML files merged in order
/etc/autoglm-doctor/config.toml, ./autoglm-doctor.toml, then --config.

Profile keys are declared in ``PROFILE_KEYS`` (later check families add theirs with
``declare_profile_key``); an unknown key is an error, so typos never pass silently.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from autoglm_doctor.model import Finding

SYSTEM_CONFIG = "/etc/autoglm-doctor/config.toml"
LOCAL_CONFIG = "autoglm-doctor.toml"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ProfileKey:
    name: str
    types: tuple[type, ...]
    default: Any
    doc: str
    validate: Callable[[Any], Any] | None = None  # raises ValueError with a message; may return a normalised value


PROFILE_KEYS: dict[str, ProfileKey] = {}


def declare_profile_key(
    name: str,
    types: tuple[type, ...] | type,
    default: Any,
    doc: str,
    validate: Callable[[Any], Any] | None = None,
) -> None:
    """Declare a profile key (at import time of the family's module; no I/O)."""
    PROFILE_KEYS[name] = ProfileKey(name, types if isinstance(types, tuple) else (types,), default, doc, validate)


declare_profile_key("size", str, "standard", "VM/host size preset: small, standard, performance or gpu-host (see SIZES)")
declare_profile_key("cpus", int, None, "CPU cores required (overrides the size preset)")
declare_profile_key("memory_gb", (int, float), None, "memory required in GiB (overrides the size preset)")
declare_profile_key("disk_gb", (int, float), None, "free disk required on data_path in GiB (overrides the preset)")
declare_profile_key("data_path", str, None, "where images/weights live; default /var/lib/libvirt/images for gpu-host, else /var/lib/docker")
declare_profile_key("vm_user", str, None, "user that runs the VMs and needs /dev/kvm; default libvirt-qemu, qemu, or root, whichever exists")
declare_profile_key("vm_memory_gb", (int, float), None, "memory of the AutoGLM VM in GiB, to size hugepages")
declare_profile_key("hugepage_size", str, None, "back the VM with hugepages of this size: '2M' or '1G' (unset: no hugepages)")


@dataclass(frozen=True)
class Size:
    name: str
    cpus: int
    memory_gb: float
    disk_gb: float
    purpose: str


# From the deployment guide's sizing table; disk sizes are ours (model weights are ~20 GB).
# gpu-host is the hypervisor for the guide's passthrough VM (16 vCPU, 64 GB, 200 GB SSD) plus a
# reserve of 2 cores and 4 GiB for the host itself.
SIZES: dict[str, Size] = {
    "small": Size("small", 2, 4, 20, "testing and debugging"),
    "standard": Size("standard", 4, 8, 50, "light inference"),
    "performance": Size("performance", 8, 16, 100, "batch work, with a GPU"),
    "gpu-host": Size("gpu-host", 18, 68, 200, "KVM host for a 16 vCPU / 64 GB / 200 GB GPU-passthrough VM"),
}


@dataclass(frozen=True)
class Profile:
    values: dict[str, Any]

    def get(self, key: str) -> Any:
        if key not in PROFILE_KEYS:
            raise KeyError(f"undeclared profile key {key!r}")
        value = self.values.get(key)
        return PROFILE_KEYS[key].default if value is None else value

    def is_set(self, key: str) -> bool:
        return self.values.get(key) is not None

    @property
    def size(self) -> Size:
        return SIZES[self.get("size")]


@dataclass(frozen=True)
class Ignore:
    check: str
    reason: str
    resource: str = "*"
    expires: dt.date | None = None

    def matches(self, finding: Finding) -> bool:
        return fnmatch.fnmatchcase(finding.check_id, self.check) and fnmatch.fnmatchcase(
            finding.resource or "", self.resource
        )

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires


@dataclass(frozen=True)
class Config:
    profile: Profile = field(default_factory=lambda: Profile({}))
    ignores: tuple[Ignore, ...] = ()
    sources: tuple[str, ...] = ()


def _toml_loads(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def _parse_profile(data: Any, where: str, tolerated: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [profile] must be a table")
    out = {}
    for key, value in data.items():
        spec = PROFILE_KEYS.get(key)
        if spec is None and key in tolerated:
            continue  # declared by a check family this (selective) run did not load
        if spec is None:
            raise ConfigError(f"{where}: unknown profile key {key!r} (known: {', '.join(sorted(PROFILE_KEYS))})")
        if isinstance(value, bool) and bool not in spec.types or not isinstance(value, spec.types):
            names = " or ".join(t.__name__ for t in spec.types)
            raise ConfigError(f"{where}: profile.{key} must be {names}, got {type(value).__name__}")
        if spec.validate is not None:
            try:
                normalised = spec.validate(value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where}: profile.{key}: {exc}") from exc
            if normalised is not None:
                value = normalised
        out[key] = value
    size = out.get("size")
    if size is not None and size not in SIZES:
        raise ConfigError(f"{where}: profile.size {size!r} is not one of {', '.join(SIZES)}")
    return out


def _parse_ignores(data: Any, where: str) -> list[Ignore]:
    if not isinstance(data, list):
        raise ConfigError(f"{where}: 'ignore' must be an array of tables ([[ignore]])")
    out = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: ignore #{i} must be a table")
        unknown = set(item) - {"check", "reason", "resource", "expires"}
        if unknown:
            raise ConfigError(f"{where}: ignore #{i}: unknown key(s) {', '.join(sorted(unknown))}")
        check, reason = item.get("check"), item.get("reason")
        if not isinstance(check, str) or not check:
            raise ConfigError(f"{where}: ignore #{i} needs 'check' (an id or glob)")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}: ignore #{i} ({check}) needs a non-empty 'reason'")
        expires = item.get("expires")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError as exc:
                raise ConfigError(f"{where}: ignore #{i} ({check}): expires {expires!r} is not YYYY-MM-DD") from exc
        elif isinstance(expires, dt.datetime):
            expires = expires.date()
        elif expires is not None and not isinstance(expires, dt.date):
            raise ConfigError(f"{where}: ignore #{i} ({check}): expires must be a date")
        resource = item.get("resource", "*")
        if not isinstance(resource, str):
            raise ConfigError(f"{where}: ignore #{i} ({check}): resource must be a string")
        out.append(Ignore(check=check, reason=reason.strip(), resource=resource, expires=expires))
    return out


def parse_config_text(text: str, where: str, tolerated: frozenset[str] = frozenset()) -> tuple[dict[str, Any], list[Ignore]]:
    try:
        data = _toml_loads(text)
    except Exception as exc:  # noqa: BLE001 - tomllib.TOMLDecodeError and friends
        raise ConfigError(f"{where}: invalid TOML: {exc}") from exc
    unknown = set(data) - {"profile", "ignore"}
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(sorted(unknown))} (known: profile, ignore)")
    return _parse_profile(data.get("profile", {}), where, tolerated), _parse_ignores(data.get("ignore", []), where)


def load_config(
    explicit: str | None = None, *, search: Iterable[str] | None = None, tolerated: Iterable[str] = ()
) -> Config:
    """Merge the system file, the working-directory file and ``explicit`` (which must exist)."""
    candidates = list(search) if search is not None else [SYSTEM_CONFIG, os.path.join(os.getcwd(), LOCAL_CONFIG)]
    paths = [p for p in candidates if os.path.isfile(p)]
    if explicit:
        if not os.path.isfile(explicit):
            raise ConfigError(f"{explicit}: config file not found")
        paths.append(explicit)
    profile: dict[str, Any] = {}
    ignores: list[Ignore] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from exc
        prof, ign = parse_config_text(text, path, frozenset(tolerated))
        profile.update(prof)
        ignores.extend(ign)
    return Config(profile=Profile(profile), ignores=tuple(ignores), sources=tuple(paths))


def apply_ignores(
    findings: Iterable[Finding], ignores: Iterable[Ignore], today: dt.date | None = None
) -> tuple[list[Finding], list[str]]:
    """Mark findings covered by an ignore. Expired ignores do not apply and are reported."""
    today = today or dt.date.today()
    ignores = list(ignores)
    notes: list[str] = []
    expired_seen: set[Ignore] = set()
    out = []
    for f in findings:
        if f.status.value == "pass":
            out.append(f)
            continue
        live = next((i for i in ignores if i.matches(f) and not i.expired(today)), None)
        dead = next((i for i in ignores if i.matches(f) and i.expired(today)), None)
        if live:
            out.append(f.with_(ignored=True, ignore_reason=live.reason))
        elif dead:
            out.append(f.with_(ignore_reason=f"ignore expired on {dead.expires}: {dead.reason}"))
            if dead not in expired_seen:
                expired_seen.add(dead)
                notes.append(f"ignore for {dead.check} expired on {dead.expires} and no longer applies ({dead.reason})")
        else:
            out.append(f)
    return out, notes
