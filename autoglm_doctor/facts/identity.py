"""Which machine a target is: its host name, for reports that CI and monitoring file per machine.

A snapshot names the machine it was recorded on in its manifest; anything else answers through the
Target like every other read: the kernel's UTS name (/proc/sys/kernel/hostname, which is what
``hostname`` prints), else /etc/hostname (a sysroot of a machine that is not running)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autoglm_doctor.targets.base import TargetError

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target

MAX_NAME = 255  # HOST_NAME_MAX is 64; anything longer than a DNS name is not a host name


def _clean(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    name = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not name or len(name) > MAX_NAME or any(c.isspace() or not c.isprintable() for c in name):
        return ""
    return name


def target_hostname(target: Target) -> str:
    """The target's host name, or "" when it cannot tell."""
    manifest = getattr(target, "manifest", None)
    if isinstance(manifest, dict) and _clean(manifest.get("hostname")):
        return _clean(manifest.get("hostname"))
    for path in ("/proc/sys/kernel/hostname", "/etc/hostname"):
        try:
            data = target.read_bytes(path, limit=4096)
        except (TargetError, OSError, ValueError):  # NotCaptured included: the name is simply unknown
            continue
        if data:
            name = _clean(data.decode("utf-8", "replace"))
            if name:
                return name
    return ""
