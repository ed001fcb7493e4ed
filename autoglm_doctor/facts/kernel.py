"""Kernel release and build configuration."""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.targets.base import GarbageValue, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

_RELEASE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")

__all__ = ["GarbageValue", "KernelConfig", "KernelRelease", "kernel_config", "kernel_release", "parse_release"]


@dataclass(frozen=True)
class KernelRelease:
    text: str
    version: tuple[int, int, int]

    def __str__(self) -> str:
        return self.text


def parse_release(text: str) -> KernelRelease:
    text = text.strip()
    m = _RELEASE.match(text)
    if not m:
        raise GarbageValue(f"kernel release {text[:60]!r} is not of the form MAJOR.MINOR[.PATCH]...")
    return KernelRelease(text, (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)))


def kernel_release(ctx: Context) -> KernelRelease:
    text = ctx.target.read_text("/proc/sys/kernel/osrelease")
    if text is None:
        raise TargetError("/proc/sys/kernel/osrelease is absent: is /proc mounted?")
    return parse_release(text)


@dataclass(frozen=True)
class KernelConfig:
    source: str | None  # where it was read from, None when not found
    items: dict[str, str]  # CONFIG_X -> y/m/"string"/number; "is not set" entries are left out
    tried: tuple[str, ...] = ()

    def state(self, name: str) -> str:
        """'y', 'm', or 'n' (absent or 'is not set'); other values are returned verbatim."""
        return self.items.get(name, "n")


def parse_config(text: str) -> dict[str, str]:
    items = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("CONFIG_") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        items[key] = value.strip().strip('"') if value.startswith('"') else value.strip()
    return items


def kernel_config(ctx: Context) -> KernelConfig:
    target = ctx.target
    release = kernel_release(ctx)
    tried = ("/proc/config.gz", f"/boot/config-{release.text}")
    raw = target.read_bytes("/proc/config.gz")
    if raw is not None:
        try:
            text = gzip.decompress(raw).decode("utf-8", "replace")
        except (OSError, EOFError, zlib.error) as exc:
            raise GarbageValue(f"/proc/config.gz is not a valid gzip stream ({exc})") from exc
        items = parse_config(text)
        if not items:
            raise GarbageValue("/proc/config.gz holds no CONFIG_ lines")
        return KernelConfig("/proc/config.gz", items, tried)
    boot = target.read_text(tried[1])
    if boot is not None:
        items = parse_config(boot)
        if not items:
            raise GarbageValue(f"{tried[1]} holds no CONFIG_ lines")
        return KernelConfig(tried[1], items, tried)
    return KernelConfig(None, {}, tried)
