"""What the VM gets from the host: vCPUs and memory against the profile, hugepage backing against the host's
reserved pools (the host.resources.hugepages rule), virtio disks without the host page cache, and network
interfaces that point at a host bridge or libvirt network that exists.

- Hugepages reserved at boot are taken from the host's memory whether or not a guest uses them: a VM
  without <memoryBacking><hugepages/> next to a reserved pool wastes it and gets 4 KiB pages (more TLB misses,
  slower VFIO DMA mapping of the whole guest memory).
- cache='none' opens the image with O_DIRECT (no double caching in host and guest); io='native' (Linux AIO)
  or 'io_uring' avoid QEMU's thread-pool I/O. Model weights are read at this path.
- A bridge interface at a bridge that does not exist fails the start ("Cannot get interface MTU"); a libvirt
  NAT network is not reachable from the LAN, where the profile expects the model server to be.
"""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Context
from autoglm_doctor.checks.host_resources import hugepages_needed, pool_verdict, vm_memory_gib
from autoglm_doctor.checks.vm_domain import _meta
from autoglm_doctor.per_resource import PerDomain
from autoglm_doctor.facts.bars import GIB, human
from autoglm_doctor.facts.domain import Domain, DomainRecord, libvirt_adapter
from autoglm_doctor.facts.meminfo import hugepage_pools, meminfo
from autoglm_doctor.facts.net import read_interface
from autoglm_doctor.facts.vmnet import LibvirtNetwork, parse_network
from autoglm_doctor.model import Finding, Severity
from autoglm_doctor.targets.base import TargetError


def vm_vcpus(ctx: Context) -> int:
    if ctx.profile.is_set("vm_vcpus"):
        return int(ctx.profile.get("vm_vcpus"))
    return 16 if ctx.profile.size.name == "gpu-host" else ctx.profile.size.cpus


class Vcpus(PerDomain):
    meta = _meta(
        "vm.resources.vcpus", "The VM has the vCPUs the profile asks for", Severity.MEDIUM,
        "raise <vcpu> (virsh setvcpus NAME N --config --maximum; then --config)",
        "vCPUs against profile.vm_vcpus (default 16 for size gpu-host, else the preset's cpus).")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        need = vm_vcpus(ctx)
        text = f"{dom.vcpus} vCPUs, {need} wanted by the profile"
        if dom.vcpus >= need:
            yield self.passed(text, resource=rec.name, observed=dom.vcpus, expected=f">= {need}")
        else:
            yield self.warn(text, resource=rec.name, observed=dom.vcpus, expected=f">= {need}",
                            remediation=f"virsh setvcpus {rec.name} {need} --config --maximum; "
                                        f"virsh setvcpus {rec.name} {need} --config")


class Memory(PerDomain):
    meta = _meta(
        "vm.resources.memory", "The VM has the memory the profile asks for", Severity.MEDIUM,
        "raise <memory> (virsh setmaxmem NAME SIZE --config; virsh setmem NAME SIZE --config)",
        "Memory against profile.vm_memory_gb (the same number host.resources.hugepages sizes the pool for).")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        need = vm_memory_gib(ctx)
        have = dom.memory_bytes / GIB
        text = f"{human(dom.memory_bytes)} of memory, {need:g} GiB wanted by the profile"
        if have >= need:
            yield self.passed(text, resource=rec.name, observed=f"{have:g} GiB", expected=f">= {need:g} GiB")
        else:
            yield self.warn(text, resource=rec.name, observed=f"{have:g} GiB", expected=f">= {need:g} GiB",
                            remediation=f"virsh setmaxmem {rec.name} {need:g}G --config; "
                                        f"virsh setmem {rec.name} {need:g}G --config")


class HugepageBacking(PerDomain):
    meta = _meta(
        "vm.memory.hugepages", "Guest memory is backed by the host's reserved hugepages, and enough of them",
        Severity.HIGH,
        "add <memoryBacking><hugepages><page size='SIZE' unit='KiB'/></hugepages></memoryBacking>, and reserve "
        "enough pages (host.resources.hugepages)",
        "When the host reserves hugepages the VM must use them (<memoryBacking><hugepages/>), and the pool of the "
        "page size it asks for must hold its memory: the host.resources.hugepages rule, applied to this domain's "
        "<memory>.", fix="fix.vm.domain_xml")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        pools = ctx.fact(hugepage_pools)
        reserved = [p for p in pools if p.total > 0]
        summary = ", ".join(f"{p.label}: {p.total} total/{p.free} free" for p in pools) or "no pools"
        gib = dom.memory_bytes / GIB
        if not dom.hugepages:
            if reserved:
                biggest = max(reserved, key=lambda p: p.total * p.size_kb)
                yield self.fail(f"the host reserves hugepages ({summary}) but {rec.name} does not use them: its "
                                f"{human(dom.memory_bytes)} come from 4 KiB pages and the reserved memory is idle",
                                resource=rec.name, observed="no <memoryBacking><hugepages>",
                                expected=f"hugepages of {biggest.label}",
                                remediation=f"add <memoryBacking><hugepages><page size='{biggest.size_kb}' unit='KiB'/>"
                                            f"</hugepages></memoryBacking> to {rec.name}")
            else:
                yield self.passed(f"the host reserves no hugepages ({summary}) and {rec.name} asks for none",
                                  resource=rec.name, observed="none", expected="none")
            return
        default_kb = int(ctx.fact(meminfo).get("Hugepagesize", 2 << 20)) // 1024  # meminfo values are bytes
        size_kb = dom.hugepage_sizes[0] // 1024 if dom.hugepage_sizes else default_kb
        pool = next((p for p in pools if p.size_kb == size_kb), None)
        need = hugepages_needed(gib, size_kb)
        label = human(size_kb * 1024)
        param = f"{size_kb >> 10}M" if size_kb < 1 << 20 else f"{size_kb >> 20}G"
        arithmetic = f"{gib:g} GiB / {label} = {need} pages"
        verdict = pool_verdict(pool.total, pool.free, need) if pool else "short"
        if verdict == "short" or pool is None:
            yield self.fail(f"{rec.name} asks for {label} hugepages but the host reserves {pool.total if pool else 0}; "
                            f"{arithmetic}: the start fails to allocate its memory", resource=rec.name,
                            observed=pool.total if pool else 0, expected=f">= {need}",
                            remediation=f"reserve them: hugepagesz={param} hugepages={need} on the host's kernel "
                                        "command line (host.resources.hugepages)")
        elif verdict == "busy" and not rec.active:
            yield self.warn(f"{pool.free} of {pool.total} {label} pages free; {arithmetic}: {rec.name} cannot start "
                            "while another guest holds them", resource=rec.name, observed=pool.free,
                            expected=f">= {need} free",
                            remediation=f"stop the guest holding the {label} pages, or reserve more: "
                                        f"hugepagesz={param} hugepages={pool.total + need - pool.free}")
        else:
            yield self.passed(f"backed by {label} hugepages; {arithmetic}; pool {pool.total} total/{pool.free} free",
                              resource=rec.name, observed=pool.total, expected=f">= {need}")


class DiskIo(PerDomain):
    meta = _meta(
        "vm.disk.io", "Disks are virtio with cache='none' and io='native' or 'io_uring'", Severity.LOW,
        "<target bus='virtio'/> and <driver name='qemu' type='qcow2' cache='none' io='native'/>",
        "cache='none' (O_DIRECT) avoids caching model weights twice; native or io_uring I/O avoids QEMU's "
        "thread pool; virtio-blk/scsi avoid emulated SATA/IDE.")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        disks = [d for d in dom.disks if d.device == "disk"]
        if not disks:
            yield self.skip(f"{rec.name} has no disk", resource=rec.name)
            return
        for d in disks:
            res = f"{rec.name}:{d.target or '?'}"
            problems = []
            if d.bus not in ("virtio", "scsi"):
                problems.append(f"bus {d.bus or '?'} (emulated)")
            if d.cache != "none":
                problems.append(f"cache={d.cache or 'default (writeback)'}")
            if d.io not in ("native", "io_uring"):
                problems.append(f"io={d.io or 'default (threads)'}")
            seen = f"bus={d.bus or '?'} cache={d.cache or '-'} io={d.io or '-'}"
            if problems:
                yield self.warn(f"{d.target}: " + ", ".join(problems), resource=res, observed=seen,
                                expected="bus=virtio cache=none io=native|io_uring")
            else:
                yield self.passed(f"{d.target}: {seen}", resource=res, observed=seen,
                                  expected="bus=virtio cache=none io=native|io_uring")


def libvirt_networks(ctx: Context) -> dict[str, LibvirtNetwork] | None:
    """The libvirt networks on the vm.* connection (None: they could not be listed)."""
    try:
        lv, _uri = libvirt_adapter(ctx)
        out = {}
        for net in lv.networks() or []:
            parsed = parse_network(str(net.get("xml", "")), bool(net.get("active")))
            out[parsed.name or str(net.get("name"))] = parsed
        return out
    except (TargetError, ValueError):
        return None


class Interfaces(PerDomain):
    meta = _meta(
        "vm.net.interfaces", "Interfaces attach to an existing host bridge (or the network the profile wants)",
        Severity.HIGH,
        "point <source bridge=...> at the host bridge (profile.bridge), or create it (host.bridge.*)",
        "A bridge interface needs its host bridge to exist; a NAT network is not reachable from the LAN when "
        "profile.network_mode is 'bridged'.")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        if not dom.interfaces:
            yield self.warn(f"{rec.name} has no network interface: the model server is unreachable",
                            resource=rec.name, observed="none", expected="a bridge interface")
            return
        bridged = ctx.profile.get("network_mode") == "bridged"
        for i, iface in enumerate(dom.interfaces):
            res = f"{rec.name}:{iface.mac or i}"
            if iface.type == "bridge":
                host = read_interface(ctx.target, iface.source) if iface.source else None
                if host is None or not host.is_bridge:
                    what = "does not exist" if host is None else f"is a {host.kind} interface, not a bridge"
                    yield self.fail(f"bridge {iface.source or '(none named)'} {what} on the host: the guest cannot "
                                    "start", resource=res, observed=iface.source, expected="an existing host bridge")
                else:
                    yield self.passed(f"bridge {iface.source} exists", resource=res, observed=iface.source,
                                      expected="an existing host bridge")
            elif iface.type == "network":
                nets = ctx.fact(libvirt_networks)
                net = nets.get(iface.source) if nets is not None else None
                if nets is None:
                    yield self.skip(f"libvirt networks could not be listed for network {iface.source}", resource=res)
                elif net is None:
                    yield self.fail(f"network {iface.source} is not defined", resource=res, observed=iface.source,
                                    expected="a defined libvirt network")
                elif bridged and net.forward_mode in ("nat", "", "route"):
                    yield self.warn(f"network {iface.source} is {net.forward_mode or 'isolated'}: the profile says "
                                    "bridged, and the LAN cannot reach the model server", resource=res,
                                    observed=f"network {iface.source} ({net.forward_mode or 'isolated'})",
                                    expected="a host bridge")
                else:
                    yield self.passed(f"network {iface.source} ({net.forward_mode or 'isolated'})", resource=res,
                                      observed=iface.source, expected="a defined libvirt network")
            elif iface.type == "user" and bridged:
                yield self.warn("user-mode (slirp) networking: the LAN cannot reach the guest", resource=res,
                                observed="user", expected="a host bridge")
            else:
                yield self.passed(f"{iface.type} interface {iface.source}", resource=res, observed=iface.type,
                                  expected="bridge or network")


CHECKS = (Vcpus, Memory, HugepageBacking, DiskIo, Interfaces)
