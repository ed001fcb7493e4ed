"""Configuration: the deployment profile and ignores, from TOML files merged in order
/etc/autoglm-doctor/config.toml, ./autoglm-doctor.toml, then --config.

Profile keys are data: the whole schema (``profile_schema``: type, default, range or format of every
key) is known before a file is read, and every value is validated before any check is selected. An
unknown key is an error, so typos never pass silently. Third-party check packages may add keys with
``declare_profile_key`` (a built-in key cannot be redeclared).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from autoglm_doctor.model import Finding
from autoglm_doctor.profile_schema import BUILTIN_KEYS, ProfileKey

SYSTEM_CONFIG = "/etc/autoglm-doctor/config.toml"
LOCAL_CONFIG = "autoglm-doctor.toml"


class ConfigError(ValueError):
    pass


PROFILE_KEYS: dict[str, ProfileKey] = {key.name: key for key in BUILTIN_KEYS}
MAX_CONFIG_BYTES = 1 << 20  # a config file is a few KB; anything bigger is not one


def declare_profile_key(
    name: str,
    types: tuple[type, ...] | type,
    default: Any,
    doc: str,
    validate: Callable[[Any], Any] | None = None,
    **constraints: Any,
) -> None:
    """Add a key for a third-party check package (no I/O). Built-in keys live in ``profile_schema``
    and keep their declaration there."""
    if name in PROFILE_KEYS and PROFILE_KEYS[name] in BUILTIN_KEYS:
        return
    PROFILE_KEYS[name] = ProfileKey(name, types if isinstance(types, tuple) else (types,), default, doc, validate,
                                    **constraints)


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


def _parse_profile(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [profile] must be a table")
    out = {}
    for key, value in data.items():
        spec = PROFILE_KEYS.get(key)
        if spec is None:
            raise ConfigError(f"{where}: unknown profile key {key!r} (known: {', '.join(sorted(PROFILE_KEYS))})")
        if isinstance(value, bool) and bool not in spec.types or not isinstance(value, spec.types):
            names = " or ".join(t.__name__ for t in spec.types)
            raise ConfigError(f"{where}: profile.{key} must be {names}, got {type(value).__name__}")
        if key == "size" and value not in SIZES:
            raise ConfigError(f"{where}: profile.size {value!r} is not one of {', '.join(SIZES)}")
        try:
            value = spec.check(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: profile.{key}: {exc}") from exc
        out[key] = value
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


def parse_config_text(text: str, where: str) -> tuple[dict[str, Any], list[Ignore]]:
    if text.startswith("\ufeff"):
        text = text[1:]  # a UTF-8 byte order mark, as some Windows editors write
    try:
        data = _toml_loads(text)
    except Exception as exc:  # noqa: BLE001 - tomllib.TOMLDecodeError and friends
        raise ConfigError(f"{where}: invalid TOML: {exc}") from exc
    unknown = set(data) - {"profile", "ignore"}
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(sorted(unknown))} (known: profile, ignore)")
    return _parse_profile(data.get("profile", {}), where), _parse_ignores(data.get("ignore", []), where)


def load_config(
    explicit: str | None = None, *, search: Iterable[str] | None = None) -> Config:
    """Merge the system file, the working-directory file and ``explicit`` (which must exist)."""
    candidates = list(search) if search is not None else [SYSTEM_CONFIG, os.path.join(os.getcwd(), LOCAL_CONFIG)]
    paths = [p for p in candidates if os.path.isfile(p)]
    if explicit:
        _check_explicit(explicit)
        paths.append(explicit)
    profile: dict[str, Any] = {}
    ignores: list[Ignore] = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes: not a config file")
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from exc
        prof, ign = parse_config_text(text, path)
        profile.update(prof)
        ignores.extend(ign)
    return Config(profile=Profile(profile), ignores=tuple(ignores), sources=tuple(paths))


def _check_explicit(path: str) -> None:
    """``--config`` names a regular file, or a character device such as /dev/null (an empty config);
    a directory, FIFO or socket is refused rather than read (a FIFO would block)."""
    import stat

    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        raise ConfigError(f"{path}: not a regular file")


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
