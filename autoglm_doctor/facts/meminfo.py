"""Memory facts from /proc/meminfo and hugepage sysfs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.targets.base import TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context


def parse_meminfo(text: str) -> dict[str, int]:
    """Values in bytes ('kB' lines) or plain counts (HugePages_*)."""
    out = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        value = int(parts[0])
        if len(parts) > 1 and parts[1] == "kB":
            value *= 1024
        out[key.strip()] = value
    return out


def meminfo(ctx: Context) -> dict[str, int]:
    text = ctx.target.read_text("/proc/meminfo")
    if text is None:
        raise TargetError("/proc/meminfo is absent: is /proc mounted?")
    data = parse_meminfo(text)
    if "MemTotal" not in data:
        raise GarbageValue("/proc/meminfo has no MemTotal line")
    return data


@dataclass(frozen=True)
class HugepagePool:
    size_kb: int
    total: int
    free: int
    reserved: int

    @property
    def label(self) -> str:
        return f"{self.size_kb // 1024}M" if self.size_kb < 1024 * 1024 else f"{self.size_kb // (1024 * 1024)}G"


def read_count(ctx: Context, path: str) -> int:
    """A sysfs counter file: 0 when absent, GarbageValue when not a number."""
    text = ctx.target.read_text(path)
    if text is None:
        return 0
    text = text.strip()
    if not text.isdigit():
        raise GarbageValue(f"{path}: {text[:40]!r} is not a number")
    return int(text)


def hugepage_pools(ctx: Context) -> list[HugepagePool]:
    base = "/sys/kernel/mm/hugepages"
    names = ctx.target.listdir(base) or []
    pools = []
    for name in names:
        if not name.startswith("hugepages-") or not name.endswith("kB"):
            continue
        size = name[len("hugepages-"):-2]
        if not size.isdigit():
            continue
        d = f"{base}/{name}"
        pools.append(
            HugepagePool(
                int(size),
                read_count(ctx, f"{d}/nr_hugepages"),
                read_count(ctx, f"{d}/free_hugepages"),
                read_count(ctx, f"{d}/resv_hugepages"),
            )
        )
    return sorted(pools, key=lambda p: p.size_kb)


def thp_mode(ctx: Context) -> str | None:
    text = ctx.target.read_text("/sys/kernel/mm/transparent_hugepage/enabled")
    if text is None:
        return None
    for word in text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    raise GarbageValue(f"transparent_hugepage/enabled {text.strip()[:60]!r} has no [selected] mode")
