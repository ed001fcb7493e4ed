"""SELinux: the running mode (selinuxfs ``enforce``), the configured mode (/etc/selinux/config) and
file labels (the ``security.selinux`` extended attribute)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.facts.kernel import GarbageValue

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target

SELINUX_CONFIG = "/etc/selinux/config"
LABEL_XATTR = "security.selinux"
MODES = ("enforcing", "permissive", "disabled")


def _abs_path(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"must be an absolute path, got {value!r}")
    return value.rstrip("/") or "/"


@dataclass(frozen=True)
class SelinuxState:
    selinuxfs: str
    loaded: bool  # the kernel has a policy loaded (selinuxfs/enforce exists)
    enforcing: bool  # running mode (False when permissive or not loaded)
    configured: str | None  # SELINUX= of /etc/selinux/config; None when the file is absent
    policy: str | None  # SELINUXTYPE=

    @property
    def running(self) -> str:
        if not self.loaded:
            return "disabled"
        return "enforcing" if self.enforcing else "permissive"


def parse_selinux_config(text: str, where: str = SELINUX_CONFIG) -> tuple[str | None, str | None]:
    mode = policy = None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip().strip('"').strip("'")
        if key == "SELINUX":
            if value.lower() not in MODES:
                raise GarbageValue(f"{where}: SELINUX={value!r} is not one of {', '.join(MODES)} (the system "
                                   "treats an unknown value as enforcing or refuses to boot)")
            mode = value.lower()
        elif key == "SELINUXTYPE":
            policy = value
    return mode, policy


def selinux_state(ctx: Context) -> SelinuxState:
    t = ctx.target
    fs = ctx.profile.get("selinuxfs")
    enforce = t.read_text(f"{fs}/enforce")
    enforcing = False
    if enforce is not None:
        value = enforce.strip()
        if value not in ("0", "1"):
            raise GarbageValue(f"{fs}/enforce holds {value[:20]!r}, not 0 or 1")
        enforcing = value == "1"
    text = t.read_text(SELINUX_CONFIG)
    configured, policy = parse_selinux_config(text) if text is not None else (None, None)
    return SelinuxState(fs, enforce is not None, enforcing, configured, policy)


@dataclass(frozen=True)
class Label:
    user: str
    role: str
    type: str
    level: str  # "s0", "s0:c1,c2" ("" when the policy has no MLS field)

    def __str__(self) -> str:
        return ":".join(p for p in (self.user, self.role, self.type, self.level) if p)

    @property
    def categories(self) -> str:
        return self.level.split(":", 1)[1] if ":" in self.level else ""


def parse_label(raw: bytes | str, where: str) -> Label:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = text.rstrip("\x00").strip()
    parts = text.split(":", 3)
    if len(parts) < 3 or not all(parts[:3]):
        raise GarbageValue(f"{where}: security.selinux {text[:60]!r} is not user:role:type[:level]")
    return Label(parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else "")


def file_label(target: Target, path: str) -> Label | None:
    raw = target.getxattr(path, LABEL_XATTR)
    return None if raw is None else parse_label(raw, path)


def label_type(label_text: str | None) -> str | None:
    """The type of a full context string (``system_u:system_r:spc_t:s0`` -> ``spc_t``)."""
    if not label_text:
        return None
    parts = label_text.split(":")
    return parts[2] if len(parts) >= 3 else None
