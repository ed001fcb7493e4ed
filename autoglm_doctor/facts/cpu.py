"""CPU facts from /proc/cpuinfo and sysfs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context


@dataclass(frozen=True)
class CpuInfo:
    vendor: str  # GenuineIntel, AuthenticAMD, ... or "" when unknown
    model: str
    flags: frozenset[str]
    logical_cpus: int

    @property
    def hardware_virt(self) -> str | None:
        if "vmx" in self.flags:
            return "vmx"
        if "svm" in self.flags:
            return "svm"
        return None

    @property
    def in_hypervisor(self) -> bool:
        return "hypervisor" in self.flags


def parse_cpu_list(text: str) -> int:
    """Count CPUs in a kernel cpu list such as '0-3,8,10-11'."""
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise GarbageValue(f"CPU list {text.strip()[:60]!r} is malformed")
        count += (int(hi) - int(lo) + 1) if hi else 1
    return count


def cpu_info(ctx: Context) -> CpuInfo:
    text = ctx.target.read_text("/proc/cpuinfo")
    if text is None:
        raise TargetError("/proc/cpuinfo is absent: is /proc mounted?")
    vendor = model = ""
    flags: set[str] = set()
    processors = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "processor":
            processors += 1
        elif key == "vendor_id" and not vendor:
            vendor = value
        elif key == "model name" and not model:
            model = value
        elif key == "flags" and not flags:
            flags = set(value.split())
    if processors == 0 or not flags:
        raise GarbageValue("/proc/cpuinfo has no processor or flags lines")
    try:
        online = ctx.target.read_text("/sys/devices/system/cpu/online")
    except NotCaptured:
        online = None  # optional: the processor count from /proc/cpuinfo stands in
    logical = parse_cpu_list(online) if online and online.strip() else processors
    return CpuInfo(vendor, model, frozenset(flags), logical)


@dataclass(frozen=True)
class ProcCounts:
    """Online logical CPUs and MemTotal (bytes) as the proc adapter counts them."""

    cpus: int
    memory_total: int


def proc_counts(ctx: Context) -> ProcCounts | None:
    """The CPU and memory counts of the target's proc adapter (psutil on the local host; a recorded
    snapshot replays them like the docker answers); None where the target has none or did not record
    them (a remote system, a hand-made snapshot): the caller reads /proc through the Target."""
    if "proc" not in ctx.target.adapters:
        return None
    try:
        data = ctx.target.adapter("proc").counts()
    except (AdapterUnavailable, NotCaptured):
        return None
    values: dict[str, Any] = data if isinstance(data, dict) else {}
    for key in ("cpus", "memory_total"):
        value = values.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise GarbageValue(f"proc.counts answered {key}={value!r:.40}: not a positive count")
    return ProcCounts(values["cpus"], values["memory_total"])
