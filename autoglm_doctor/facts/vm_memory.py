"""How much of the host's memory a GPU-passthrough VM takes: one rule, used by host.resources.memory,
host.resources.hugepages and the vm.* domain checks.

VFIO pins all guest RAM. A passed-through device may DMA into any guest page at any time, so when
the device is attached QEMU maps the whole of the guest's memory into the IOMMU and the kernel pins
every page (vfio_pin_pages: locked, unswappable, never reclaimed or ballooned). Nothing of it can be
overcommitted: the host must hold the VM's memory in full *plus* what the host itself needs
(kernel, QEMU's own overhead, libvirtd, dockerd, page cache) — ``HOST_RESERVE_GIB``, the reserve
the gpu-host preset counts (68 GiB = the 64 GiB VM + 4).

When the guest is backed by hugepages (profile.hugepage_size) its RAM comes from the hugepage pool
instead; pages of a pool serve nothing else, so what lies outside the pools must still cover the
host's needs (and the guest too when the pool is not the one it uses)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

GIB = 1024**3
HOST_RESERVE_GIB = 4.0
MEMTOTAL_SLACK = 0.95  # MemTotal excludes what firmware and the kernel reserved at boot


def vm_memory_gib(ctx: Context) -> float:
    """The AutoGLM VM's memory: profile.vm_memory_gb, else 64 GiB on a gpu-host, else the size preset's."""
    profile = ctx.profile
    return float(profile.get("vm_memory_gb") or (64 if profile.size.name == "gpu-host" else profile.size.memory_gb))


def hugepages_needed(memory_gib: float, size_kb: int) -> int:
    """Pages of ``size_kb`` that hold ``memory_gib`` of guest memory."""
    return math.ceil(memory_gib * 1024 * 1024 / size_kb)


def pool_verdict(total: int, free: int, need: int) -> str:
    """The hugepage rule: 'short' (fewer reserved than needed), 'busy' (reserved but not free), or 'ok'."""
    if total < need:
        return "short"
    return "busy" if free < need else "ok"


@dataclass(frozen=True)
class HostMemoryNeed:
    """What the host's memory must hold when it runs the VM (``vm_gib`` None: no VM on this host)."""

    vm_gib: float | None
    host_gib: float
    from_pool: bool  # the guest's RAM comes from a hugepage pool

    @property
    def total_gib(self) -> float:
        return (self.vm_gib or 0.0) + self.host_gib

    @property
    def outside_pools_gib(self) -> float:
        """What must fit in the memory that is not reserved as hugepages."""
        return self.host_gib + (0.0 if self.from_pool else (self.vm_gib or 0.0))

    def explain(self) -> str:
        if self.vm_gib is None:
            return ""
        where = " from the hugepage pool" if self.from_pool else ""
        return (f"the VM's {self.vm_gib:g} GiB{where} (VFIO pins all guest RAM: it cannot be swapped or "
                f"overcommitted) plus {self.host_gib:g} GiB for the host itself")


def host_memory_need(ctx: Context) -> HostMemoryNeed:
    """The rule for this profile: a VM is sized when profile.vm_memory_gb is set or the preset is gpu-host."""
    profile = ctx.profile
    has_vm = profile.is_set("vm_memory_gb") or profile.size.name == "gpu-host"
    return HostMemoryNeed(vm_memory_gib(ctx) if has_vm else None, HOST_RESERVE_GIB, profile.is_set("hugepage_size"))


def largest_vm_gib(mem_total: int, hugetlb: int, need: HostMemoryNeed) -> int:
    """The largest whole-GiB VM this host can hold under the rule (0: none)."""
    usable = mem_total / GIB * MEMTOTAL_SLACK
    if need.from_pool:
        return max(0, math.floor(hugetlb / GIB))
    return max(0, math.floor(usable - hugetlb / GIB - need.host_gib))
