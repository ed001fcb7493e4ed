"""cgroup version and controllers, as the kernel mounted them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autoglm_doctor.targets.base import GarbageValue, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context


@dataclass(frozen=True)
class CgroupInfo:
    version: int  # 2 = unified at /sys/fs/cgroup, 1 = legacy or hybrid
    controllers: frozenset[str]  # usable controllers (v2: cgroup.controllers; v1: mounted hierarchies)
    mounts: dict[str, str] = field(default_factory=dict)  # v1: controller -> mount point
    disabled: frozenset[str] = frozenset()  # /proc/cgroups 'enabled' == 0
    hybrid_v2_mount: str | None = None  # v1 with a cgroup2 mount elsewhere (systemd "hybrid")


def _unescape(path: str) -> str:
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def parse_mounts(text: str) -> list[tuple[str, str, str, list[str]]]:
    """(device, mount point, fstype, options) from /proc/mounts."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        out.append((parts[0], _unescape(parts[1]), parts[2], parts[3].split(",")))
    return out


def parse_proc_cgroups(text: str) -> dict[str, bool]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 4 and parts[3] in ("0", "1"):
            out[parts[0]] = parts[3] == "1"
    return out


def cgroup_info(ctx: Context) -> CgroupInfo:
    t = ctx.target
    proc_cgroups = t.read_text("/proc/cgroups")
    enabled = parse_proc_cgroups(proc_cgroups) if proc_cgroups else {}
    disabled = frozenset(name for name, on in enabled.items() if not on)
    v2 = t.read_text("/sys/fs/cgroup/cgroup.controllers")
    if v2 is not None:
        return CgroupInfo(2, frozenset(v2.split()), disabled=disabled)
    mounts_text = t.read_text("/proc/mounts")
    if mounts_text is None:
        raise TargetError("neither /sys/fs/cgroup/cgroup.controllers nor /proc/mounts is readable")
    mounts: dict[str, str] = {}
    hybrid = None
    parsed = parse_mounts(mounts_text)
    if not parsed:
        raise GarbageValue("/proc/mounts holds no mount lines")
    for _dev, point, fstype, options in parsed:
        if fstype == "cgroup2":
            hybrid = point
        elif fstype == "cgroup":
            for opt in options:
                if opt in enabled or opt in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
                                             "blkio", "pids", "net_cls", "net_prio", "perf_event", "hugetlb",
                                             "rdma", "misc"):
                    mounts[opt] = point
    return CgroupInfo(1, frozenset(mounts), mounts, disabled, hybrid)
