"""Cross checks: host, VM definition and guest agree. Each runs on the host and reads the guests of the same
run (``check --guest libvirt:DOMAIN`` or ``ssh://…``; ``ctx.peers``) through their own targets.

A guest target is paired with its domain by name (``libvirt:NAME``), else — when the run reviews exactly
one domain — with that one. What no single system can show: a hostdev bound to vfio-pci on the host that
never appears in the guest (the wrong function, a hot-unplug, a guest without the device's driver), a
bridge that exists but does not carry the guest's traffic, a domain sized differently from what the
guest sees, a model endpoint the agent cannot reach from where it runs. Guest memory against the host's
hugepage reservation is vm.memory.hugepages (the host's rule, not restated here)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.cpu import cpu_info
from autoglm_doctor.facts.domain import DomainRecord, domain_set
from autoglm_doctor.facts.meminfo import meminfo
from autoglm_doctor.facts.net import addresses, read_interface
from autoglm_doctor.facts.pci import pci_inventory
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.targets.base import TargetError

SCOPE = (Scope.HOST, Scope.VM, Scope.GUEST)
RUNS_ON = (Scope.HOST,)
GIB = 1 << 30
NO_GUEST = ("no guest target in this run: add --guest libvirt:DOMAIN (or ssh://USER@GUEST) to cross-check the host, "
            "the domain and the guest")


def pairs(ctx: Context) -> list[tuple[str, Context, DomainRecord | None]]:
    """(guest target name, its context, its domain record or None)."""
    if not ctx.peers:
        return []
    records = {r.name: r for r in ctx.fact(domain_set).records}
    out = []
    for name, guest in sorted(ctx.peers.items()):
        wanted = name.split(":", 1)[1] if name.startswith("libvirt:") else None
        record = records.get(wanted) if wanted else (next(iter(records.values())) if len(records) == 1 else None)
        out.append((name, guest, record))
    return out


def guest_ipv4(guest: Context) -> list[str]:
    """The guest's global IPv4 addresses: iproute2's JSON, else the kernel's own table (/proc/net/fib_trie: a
    busybox guest's ``ip`` has no -j)."""
    try:
        return [a.address for iface, items in sorted(guest.fact(addresses).items()) if iface != "lo"
                for a in items if a.family == "inet" and a.scope == "global"]
    except TargetError:
        pass
    text = guest.target.read_text("/proc/net/fib_trie") or ""
    lines = text.splitlines()
    found = []
    for prev, line in zip(lines, lines[1:]):
        if line.strip() == "/32 host LOCAL" and "-- " in prev:
            addr = prev.split("-- ", 1)[1].strip()
            if not addr.startswith("127.") and addr not in found:
                found.append(addr)
    return found


class _Cross(Check):
    """Yields a skip without guests; ``pair`` judges one guest against its domain."""

    def run(self, ctx: Context) -> Iterable[Finding]:
        found = pairs(ctx)
        if not found:
            yield self.skip(NO_GUEST, resource="guests")
            return
        for name, guest, record in found:
            if record is None or record.domain is None:
                yield self.skip(f"{name}: no domain to compare with (name the domain: --guest libvirt:NAME, or "
                                "profile.vm_domains)", resource=name)
                continue
            yield from self.pair(ctx, name, guest, record)

    def pair(self, ctx: Context, name: str, guest: Context, record: DomainRecord) -> Iterable[Finding]:
        raise NotImplementedError


class GpuPassedThrough(_Cross):
    meta = CheckMeta(
        id="xcheck.gpu.passthrough",
        title="Every hostdev is bound to vfio-pci on the host and appears in the guest",
        severity=Severity.CRITICAL,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="bind the device to vfio-pci on the host (host.vfio.binding), keep it in the domain as a managed "
                    "hostdev (vm.hostdev.*), and look in the guest's dmesg for why it did not enumerate",
        docs=docs_link("xcheck.gpu.passthrough"),
        description="Host PCI driver of each <hostdev> address; the guest's PCI devices matched by vendor:device, "
                    "function counts compared.",
    )

    def pair(self, ctx: Context, name: str, guest: Context, record: DomainRecord) -> Iterable[Finding]:
        assert record.domain is not None
        if not record.domain.hostdevs:
            yield self.skip(f"{record.name} passes no PCI device through", resource=f"{record.name}:{name}")
            return
        host_inv = ctx.fact(pci_inventory)
        guest_ids = Counter(d.ids for d in guest.fact(pci_inventory).devices.values())
        wanted: Counter[str] = Counter()
        for hd in record.domain.hostdevs:
            dev = host_inv.get(hd.address)
            if dev is not None:
                wanted[dev.ids] += 1
        for hd in record.domain.hostdevs:
            dev = host_inv.get(hd.address)
            resource = f"{record.name}:{hd.address}"
            if dev is None:
                yield self.fail(f"{hd.address} of {record.name} is not a PCI device on this host", resource=resource,
                                observed="absent on the host", expected="a host PCI device")
                continue
            problems = []
            if dev.driver != "vfio-pci":
                problems.append(f"bound to {dev.driver or 'no driver'} on the host, not vfio-pci")
            if guest_ids[dev.ids] < wanted[dev.ids]:
                problems.append(f"the guest ({name}) shows {guest_ids[dev.ids]} of the {wanted[dev.ids]} {dev.ids} "
                                "device(s) the domain passes")
            kw = dict(resource=resource, observed={"host_driver": dev.driver, "in_guest": guest_ids[dev.ids]},
                      expected={"host_driver": "vfio-pci", "in_guest": wanted[dev.ids]})
            if problems:
                yield self.fail(f"{dev.describe()}: " + "; ".join(problems), **kw)
            else:
                yield self.passed(f"{hd.address} [{dev.ids}] is on vfio-pci and the guest {name} sees it", **kw)


class GuestResources(_Cross):
    meta = CheckMeta(
        id="xcheck.guest.resources",
        title="The guest sees the vCPUs and memory its domain defines",
        severity=Severity.MEDIUM,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="check for a balloon driver taking memory back (virsh dommemstat), offline vCPUs in the guest "
                    "(/sys/devices/system/cpu/cpuN/online) and <currentMemory> below <memory> in the domain",
        docs=docs_link("xcheck.guest.resources"),
        description="Domain <vcpu> against the guest's online CPUs; <memory> against MemTotal (which may be up "
                    "to 10%, or 192 MiB for a small guest, lower: firmware and kernel reservations).",
    )

    def pair(self, ctx: Context, name: str, guest: Context, record: DomainRecord) -> Iterable[Finding]:
        assert record.domain is not None
        dom = record.domain
        cpus = guest.fact(cpu_info).logical_cpus
        mem = guest.fact(meminfo).get("MemTotal", 0)
        kw: dict[str, Any] = dict(resource=f"{record.name}:{name}",
                                  observed={"vcpus": cpus, "memory_gib": round(mem / GIB, 1)},
                                  expected={"vcpus": dom.vcpus, "memory_gib": round(dom.memory_bytes / GIB, 1)})
        problems = []
        if dom.vcpus and cpus < dom.vcpus:
            problems.append(f"{cpus} of the domain's {dom.vcpus} vCPUs online")
        # MemTotal leaves out what firmware and the kernel keep: about 10% of a large guest, a fixed ~100-200 MiB
        # of a small one
        if dom.memory_bytes and mem < dom.memory_bytes - max(0.1 * dom.memory_bytes, 192 << 20):
            problems.append(f"{mem / GIB:.1f} GiB of the domain's {dom.memory_bytes / GIB:.1f} GiB")
        if problems:
            yield self.fail(f"the guest {name} sees " + " and ".join(problems), **kw)
        else:
            yield self.passed(f"the guest {name} sees {cpus} vCPUs and {mem / GIB:.1f} GiB ({record.name} defines "
                              f"{dom.vcpus} and {dom.memory_bytes / GIB:.1f} GiB)", **kw)


class GuestReachable(_Cross):
    meta = CheckMeta(
        id="xcheck.net.guest_reachable",
        title="The domain's bridge is up on the host and the guest answers on it",
        severity=Severity.HIGH,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="bring the bridge up (host.bridge.*), check the guest's interface and DHCP/static address, and "
                    "the firewall between them (host.firewall.bridge_forward)",
        docs=docs_link("xcheck.net.guest_reachable"),
        description="Each <interface type='bridge'> names a host bridge that exists and is up; the guest's global "
                    "IPv4 addresses (ip -j addr in the guest) answer one ping from the host.",
    )

    def pair(self, ctx: Context, name: str, guest: Context, record: DomainRecord) -> Iterable[Finding]:
        assert record.domain is not None
        bridges = [i.source for i in record.domain.interfaces if i.type == "bridge"]
        down = []
        for br in bridges:
            iface = read_interface(ctx.target, br)
            if iface is None or not iface.admin_up:
                down.append(f"{br} ({'missing' if iface is None else 'down'})")
        resource = f"{record.name}:{name}"
        if down:
            yield self.fail(f"{record.name} is attached to {', '.join(down)} on the host", resource=resource,
                            observed=down, expected="the domain's bridges exist and are up")
            return
        addrs = guest_ipv4(guest)
        if not addrs:
            yield self.fail(f"the guest {name} has no global IPv4 address (its interface is down or DHCP failed)",
                            resource=resource, observed="no address", expected="a global IPv4 address")
            return
        for addr in addrs:
            ping = ctx.target.run(["ping", "-c", "1", "-W", "2", addr], timeout=5)
            if ping.ok:
                yield self.passed(f"the guest {name} answers on {addr} from the host", resource=resource,
                                  observed=addr, expected="a reply")
                return
        yield self.fail(f"the guest {name} does not answer from the host on {', '.join(addrs)}", resource=resource,
                        observed="no reply", expected="a reply to ping")


class EndpointFromGuest(_Cross):
    meta = CheckMeta(
        id="xcheck.model.endpoint",
        title="The model endpoint answers from where the agent runs",
        severity=Severity.CRITICAL,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="publish the model server's port on an address the agent's system can reach (not only "
                    "127.0.0.1 of another machine) and open it in the firewall; set profile.model_endpoint to the "
                    "address as the agent sees it",
        docs=docs_link("xcheck.model.endpoint"),
        description="GET <model_endpoint>/v1/models run inside the guest (curl, else busybox/GNU wget), so a "
                    "server reachable from the host but not from the agent's VM is caught.",
    )

    def pair(self, ctx: Context, name: str, guest: Context, record: DomainRecord) -> Iterable[Finding]:
        base = str(ctx.profile.get("model_endpoint")).rstrip("/")
        url = (base[:-3] if base.endswith("/v1") else base) + "/v1/models"
        resource = f"{name}:{url}"
        tries = (["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", url],
                 ["wget", "-q", "-T", "5", "-O", "/dev/null", url])
        said = []
        for argv in tries:
            result = guest.target.run(argv, timeout=10)
            if result.not_found:
                continue
            if result.ok and (argv[0] != "curl" or result.stdout.strip() == "200"):
                yield self.passed(f"GET {url} answers from the guest {name} ({argv[0]})", resource=resource,
                                  observed="200", expected="200")
                return
            said.append(f"{argv[0]}: " + (" ".join((result.stdout + " " + result.stderr).split())[:160]
                                           or f"exit {result.returncode}"))
            break  # the first tool the guest has gives the answer
        if not said:
            yield self.skip(f"the guest {name} has neither curl nor wget to try {url} with", resource=resource)
            return
        yield self.fail(f"GET {url} fails from the guest {name}: {'; '.join(said)}", resource=resource,
                        observed=said, expected="200 from inside the guest")


CHECKS = (GpuPassedThrough, GuestResources, GuestReachable, EndpointFromGuest)
