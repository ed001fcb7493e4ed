"""Host basics: CPU, memory, disk, swap and hugepages against the deployment profile."""

from __future__ import annotations

import posixpath
from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.cpu import cpu_info, proc_counts
from autoglm_doctor.facts.meminfo import hugepage_pools, meminfo, thp_mode
from autoglm_doctor.facts.vm_memory import (  # noqa: F401 - vm.* checks import the rule from here too
    GIB as _GIB,
    MEMTOTAL_SLACK,
    host_memory_need,
    hugepages_needed,
    largest_vm_gib,
    pool_verdict,
    vm_memory_gib,
)
from autoglm_doctor.facts.numa import node_hugepage_pool, numa_nodes
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity

GIB = _GIB
SWAP_PRESSURE_BYTES = 1 * GIB


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def requirement(ctx: Context, key: str) -> float:
    if ctx.profile.is_set(key):
        return ctx.profile.get(key)
    return getattr(ctx.profile.size, key)


def _sizing(ctx: Context) -> str:
    size = ctx.profile.size
    return f"profile size {size.name!r} ({size.purpose})"


def data_path(ctx: Context) -> str:
    if ctx.profile.is_set("data_path"):
        return ctx.profile.get("data_path")
    return "/var/lib/libvirt/images" if ctx.profile.size.name == "gpu-host" else "/var/lib/docker"


class CpuCount(Check):
    meta = CheckMeta(
        id="host.resources.cpu",
        title="CPU cores for the deployment profile",
        severity=Severity.HIGH,
        scope=(Scope.HOST, Scope.GUEST),
        remediation="give the machine more cores, or choose a smaller profile.size",
        docs=docs_link("host.resources.cpu"),
        description="Online logical CPUs: the proc adapter's count on the local host (psutil; recorded into "
                    "snapshots and replayed), /sys/devices/system/cpu/online (else /proc/cpuinfo) elsewhere.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        counts = ctx.fact(proc_counts)  # the proc adapter's count where the target has one, else /proc
        have = counts.cpus if counts else ctx.fact(cpu_info).logical_cpus
        need = int(requirement(ctx, "cpus"))
        msg = f"{have} logical CPUs online, {need} needed for {_sizing(ctx)}"
        yield self.pass_or_fail(have >= need, msg, resource="cpus", observed=have, expected=f">= {need}")


class MemorySize(Check):
    meta = CheckMeta(
        id="host.resources.memory",
        title="Memory for the deployment profile",
        severity=Severity.HIGH,
        scope=(Scope.HOST, Scope.GUEST),
        remediation="add memory, or choose a smaller profile.size",
        docs=docs_link("host.resources.memory"),
        description="MemTotal: the proc adapter's count on the local host (psutil; recorded into snapshots and "
                    "replayed), /proc/meminfo elsewhere; hugepage pools from /proc/meminfo.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        mem = ctx.fact(meminfo)
        counts = ctx.fact(proc_counts)
        total = counts.memory_total if counts else mem["MemTotal"]
        hugetlb = mem.get("Hugetlb", mem.get("HugePages_Total", 0) * mem.get("Hugepagesize", 0))
        preset = float(requirement(ctx, "memory_gb"))
        rule = host_memory_need(ctx)
        need_gib = max(preset, rule.total_gib) if rule.vm_gib is not None else preset
        why = rule.explain() if rule.vm_gib is not None and rule.total_gib >= preset else _sizing(ctx)
        msg = f"{_gib(total)} of memory, {need_gib:g} GiB needed for {why}"
        kw = dict(resource="memory", observed=_gib(total), expected=f">= {need_gib:g} GiB")
        if total < need_gib * GIB * MEMTOTAL_SLACK:
            fits = largest_vm_gib(total, hugetlb, rule)
            smaller = (f", or give the VM at most profile.vm_memory_gb = {fits} on this host" if rule.vm_gib and fits
                       else ", or choose a smaller profile.size")
            yield self.fail(msg, remediation=f"add at least {need_gib - total / GIB:.1f} GiB of memory{smaller}", **kw)
            return
        outside = total - hugetlb
        if hugetlb and rule.vm_gib is not None and outside < rule.outside_pools_gib * GIB * MEMTOTAL_SLACK:
            what = "the host's own needs" if rule.from_pool else "the VM and the host"
            yield self.fail(f"{_gib(total)} of memory, but {_gib(hugetlb)} of it is reserved as hugepages: "
                            f"{_gib(outside)} is left for {what}, {rule.outside_pools_gib:g} GiB needed for {why}",
                            remediation=f"reserve fewer hugepages (at most {_gib(total - rule.outside_pools_gib * GIB)}"
                                        " in pools) or add memory", **{**kw, "observed": f"{_gib(outside)} outside "
                                                                                     "the hugepage pools"})
            return
        yield self.passed(msg, **kw)


class DiskSpace(Check):
    meta = CheckMeta(
        id="host.resources.disk",
        title="Free disk space where images and model weights live",
        severity=Severity.HIGH,
        scope=(Scope.HOST, Scope.GUEST),
        remediation="free space or point profile.data_path at a larger (SSD) filesystem",
        docs=docs_link("host.resources.disk"),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        path = data_path(ctx)
        probe = path
        usage = ctx.target.disk_usage(probe)
        while usage is None and probe != "/":
            probe = posixpath.dirname(probe) or "/"
            usage = ctx.target.disk_usage(probe)
        if usage is None:
            yield self.error(f"cannot measure the filesystem of {path}", resource=path)
            return
        need_gib = float(requirement(ctx, "disk_gb"))
        where = path if probe == path else f"{path} (not created yet; measured at {probe})"
        msg = f"{_gib(usage.free)} free of {_gib(usage.total)} at {where}, {need_gib:g} GiB needed for {_sizing(ctx)}"
        yield self.pass_or_fail(usage.free >= need_gib * GIB, msg, resource=path, observed=_gib(usage.free),
                                expected=f">= {need_gib:g} GiB free")


class SwapPressure(Check):
    meta = CheckMeta(
        id="host.resources.swap",
        title="Swap: configured, and not under pressure",
        severity=Severity.MEDIUM,
        scope=(Scope.HOST, Scope.GUEST),
        remediation="reduce memory pressure (fewer or smaller VMs/containers) or add memory; a swapping model server "
                    "is orders of magnitude slower",
        docs=docs_link("host.resources.swap"),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        mem = ctx.fact(meminfo)
        total, free = mem.get("SwapTotal", 0), mem.get("SwapFree", 0)
        used = max(0, total - free)
        if total == 0:
            yield self.passed("no swap configured: memory pressure ends in the OOM killer, never in swapping",
                              resource="swap", observed="0", expected=f"< {_gib(SWAP_PRESSURE_BYTES)} in use")
        elif used >= SWAP_PRESSURE_BYTES:
            yield self.warn(f"{_gib(used)} of {_gib(total)} swap in use: the host is under memory pressure",
                            resource="swap", observed=_gib(used), expected=f"< {_gib(SWAP_PRESSURE_BYTES)} in use")
        else:
            yield self.passed(f"{_gib(used)} of {_gib(total)} swap in use", resource="swap",
                              observed=_gib(used), expected=f"< {_gib(SWAP_PRESSURE_BYTES)} in use")


def _size_kb(label: str) -> int | None:
    label = label.strip().upper().rstrip("B")
    units = {"K": 1, "M": 1024, "G": 1024 * 1024}
    if label and label[-1] in units and label[:-1].isdigit():
        return int(label[:-1]) * units[label[-1]]
    return None


class Hugepages(Check):
    meta = CheckMeta(
        id="host.resources.hugepages",
        title="Hugepages for the VM's memory",
        severity=Severity.HIGH,
        scope=(Scope.HOST,),
        remediation="reserve the pages at boot: hugepagesz=1G hugepages=N (or vm.nr_hugepages for 2M pages)",
        docs=docs_link("host.resources.hugepages"),
        description="Pool per page size (nr/free) against profile.vm_memory_gb when profile.hugepage_size is set, "
                    "and on profile.vm_numa_node when set (per-node pools); THP mode as evidence.",
        fix="fix.hugepages.reserve",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        pools = ctx.fact(hugepage_pools)
        thp = ctx.fact(thp_mode)
        summary = ", ".join(f"{p.label}: {p.total} total/{p.free} free" for p in pools) or "no hugepage pools"
        thp_text = f"THP={thp}" if thp else "THP not available"
        wanted = ctx.profile.get("hugepage_size") if ctx.profile.is_set("hugepage_size") else None
        if wanted is None:
            yield self.passed(f"profile asks for no hugepages ({summary}; {thp_text})", resource="hugepages",
                              observed=summary, expected="none required")
            return
        size_kb = _size_kb(wanted)
        if size_kb is None:
            yield self.error(f"profile.hugepage_size {wanted!r} is not a size like 2M or 1G", resource="hugepages")
            return
        vm_gib = vm_memory_gib(ctx)
        need = hugepages_needed(vm_gib, size_kb)
        pool = next((p for p in pools if p.size_kb == size_kb), None)
        resource = f"hugepages-{wanted}"
        if pool is None:
            hint = " (1G pages need the pdpe1gb CPU flag)" if size_kb == 1024 * 1024 else ""
            yield self.fail(f"the kernel offers no {wanted} hugepage pool{hint}; pools: {summary}", resource=resource,
                            observed="no pool", expected=f"{need} x {wanted}",
                            remediation=f"reserve them at boot: hugepagesz={wanted} hugepages={need} on the kernel "
                                        "command line (or choose a page size this CPU offers in profile.hugepage_size)")
            return
        arithmetic = f"{vm_gib:g} GiB / {wanted} = {need} pages needed"
        verdict = pool_verdict(pool.total, pool.free, need)
        if verdict == "short":
            runtime = (f" or at runtime: sysctl vm.nr_hugepages={need}" if size_kb == 2048 else
                       " (1G pages are reliably reserved only at boot, before memory fragments)")
            yield self.fail(f"{pool.total} {wanted} pages reserved but {arithmetic} (short by {need - pool.total})",
                            resource=resource, observed=pool.total, expected=f">= {need}",
                            remediation=f"reserve them at boot: hugepagesz={wanted} hugepages={need} on the kernel "
                                        f"command line{runtime}")
        elif verdict == "busy":
            yield self.warn(f"{pool.total} {wanted} pages reserved, only {pool.free} free; {arithmetic}: "
                            "the VM cannot start unless it is the one already holding them",
                            resource=resource, observed=pool.free, expected=f">= {need} free",
                            remediation=f"stop what holds {pool.total - pool.free} of the {wanted} pages (another VM; "
                                        f"grep -l huge /proc/*/numa_maps), or reserve {need} more: "
                                        f"hugepagesz={wanted} hugepages={pool.total + need - pool.free}")
        else:
            yield self.passed(f"{pool.free} of {pool.total} {wanted} pages free; {arithmetic}; {thp_text}",
                              resource=resource, observed=pool.free, expected=f">= {need} free")
        if ctx.profile.is_set("vm_numa_node"):
            yield self._node(ctx, ctx.profile.get("vm_numa_node"), size_kb, wanted, need, vm_gib)

    def _node(self, ctx: Context, node: int, size_kb: int, wanted: str, need: int, vm_gib: float) -> Finding:
        """The VM's memory is bound to one node (numatune strict): the pages must be reserved there."""
        resource = f"hugepages-{wanted}@node{node}"
        nodes = ctx.fact(numa_nodes)
        if node not in nodes:
            return self.fail(f"profile.vm_numa_node is {node}, but the host has NUMA nodes {nodes or 'none exposed'}",
                             resource=resource, observed=nodes, expected=f"node {node}",
                             remediation="set profile.vm_numa_node to one of the host's nodes")
        pool = node_hugepage_pool(ctx, node, size_kb)
        have, free = (pool.total, pool.free) if pool else (0, 0)
        arithmetic = f"{vm_gib:g} GiB / {wanted} = {need} pages needed on node {node}"
        fix = (f"reserve them on node {node}: hugepagesz={wanted} hugepages={node}:{need} on the kernel command line "
               f"(or echo {need} > /sys/devices/system/node/node{node}/hugepages/hugepages-{size_kb}kB/nr_hugepages)")
        if have < need:
            return self.fail(f"node {node} holds {have} {wanted} pages but {arithmetic} (short by {need - have}); a VM "
                             "bound to that node cannot use pages of another node", resource=resource,
                             observed=have, expected=f">= {need}", remediation=fix)
        if free < need:
            return self.warn(f"node {node} holds {have} {wanted} pages, only {free} free; {arithmetic}",
                             resource=resource, observed=free, expected=f">= {need} free")
        return self.passed(f"{free} of {have} {wanted} pages free on node {node}; {arithmetic}", resource=resource,
                           observed=free, expected=f">= {need} free")


CHECKS = (CpuCount, MemorySize, DiskSpace, SwapPressure, Hugepages)
