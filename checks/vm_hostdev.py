"""The VM's PCI hostdevs against the host: managed by libvirt, present and VFIO-capable, every function of the
card passed, BARs that fit the guest's 64-bit MMIO window, and NUMA placement next to the GPU.

Why each matters (libvirt/VFIO):
- managed='yes' makes libvirt detach the device from its host driver and bind vfio-pci at start (and give it
  back at stop); without it the start fails unless something else bound vfio-pci first.
- VFIO hands the guest whole IOMMU groups: a GPU whose audio function stays on the host fails with
  "group N is not viable", and drivers expect the card's functions together in the guest.
- A BAR larger than the 64-bit window gets "BAR 1: no space" in the guest; the driver then cannot map VRAM.
- On a multi-socket host, guest memory and vCPUs on the GPU's socket avoid cross-socket DMA and interrupts.
"""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Context
from autoglm_doctor.checks.vm_domain import _meta
from autoglm_doctor.per_resource import PerDomain
from autoglm_doctor.facts.bars import human, mmio64_window, read_bars, window_need
from autoglm_doctor.facts.domain import Domain, DomainRecord, cpuset
from autoglm_doctor.facts.numa import numa_nodes
from autoglm_doctor.facts.pci import PciDevice, pci_inventory
from autoglm_doctor.facts.vfio import is_vfio_driver
from autoglm_doctor.model import Finding, Severity

NO_HOSTDEV = "{name} passes no PCI device through (no <hostdev>)"


def host_devices(ctx: Context, dom: Domain) -> dict[str, PciDevice | None]:
    inv = ctx.fact(pci_inventory)
    return {h.address: inv.get(h.address) for h in dom.hostdevs if h.address}


class HostdevManaged(PerDomain):
    meta = _meta(
        "vm.hostdev.managed", "PCI hostdevs are managed='yes'", Severity.HIGH,
        "set managed='yes' on each <hostdev mode='subsystem' type='pci'>",
        "With managed='yes' libvirt binds the device to vfio-pci when the guest starts and returns it after; "
        "an unmanaged hostdev needs the binding done beforehand (virsh nodedev-detach) or the start fails.", fix="fix.vm.domain_xml")

    nothing_judged = NO_HOSTDEV

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        for h in dom.hostdevs:
            res = f"{rec.name}:{h.address or '?'}"
            if h.managed:
                yield self.passed(f"{h.address} is managed by libvirt", resource=res, observed="yes", expected="yes")
            else:
                dev = ctx.fact(pci_inventory).get(h.address)
                bound = dev is not None and is_vfio_driver(dev.driver)
                note = ("it is bound to vfio-pci now, but a host reboot or driver reload leaves the start failing"
                        if bound else "the start fails while it is bound to a host driver")
                yield self.fail(f"{h.address} is not managed: {note}", resource=res, observed="no", expected="yes",
                                severity=Severity.MEDIUM if bound else None)


class HostdevAddress(PerDomain):
    meta = _meta(
        "vm.hostdev.address", "Each hostdev is a host PCI device that VFIO can pass through", Severity.CRITICAL,
        "fix the <source><address> to the GPU's host address (lspci -D), and make the IOMMU work (host.iommu.*)",
        "Every <hostdev> source address must exist on the host, sit in an IOMMU group, and be bound to vfio-pci "
        "or be managed by libvirt.")

    nothing_judged = NO_HOSTDEV

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        for h in dom.hostdevs:
            res = f"{rec.name}:{h.address or '?'}"
            dev = ctx.fact(pci_inventory).get(h.address) if h.address else None
            if dev is None:
                yield self.fail(f"{h.address or 'a hostdev without a source address'} does not exist on this host: "
                                "the guest cannot start", resource=res, observed="absent", expected="a host PCI device")
            elif not dev.iommu_group:
                yield self.fail(f"{dev.describe()} is in no IOMMU group: VFIO cannot pass it through (the IOMMU is "
                                "off or absent, see host.iommu.active)", resource=res, observed="no IOMMU group",
                                expected="an IOMMU group")
            elif not h.managed and not is_vfio_driver(dev.driver):
                yield self.fail(f"{dev.describe()} is bound to {dev.driver or 'no driver'} and not managed: libvirt "
                                "will not bind vfio-pci for it", resource=res, observed=dev.driver or "none",
                                expected="vfio-pci or managed='yes'")
            else:
                yield self.passed(f"{dev.describe()}, IOMMU group {dev.iommu_group}", resource=res,
                                  observed=f"group {dev.iommu_group}, {dev.driver or 'no driver'}",
                                  expected="an IOMMU group; vfio-pci or managed")


class HostdevFunctions(PerDomain):
    meta = _meta(
        "vm.hostdev.functions", "Every function of a passed GPU is passed too", Severity.HIGH,
        "add a managed <hostdev> for each missing function (the GPU's HD audio, USB-C, UCSI functions)",
        "A GPU card has several PCI functions (GPU, HD audio, sometimes USB and a serial bus controller). They share "
        "the card's IOMMU group, and VFIO needs the whole group bound to vfio-pci: a function left on the host "
        "driver fails the start with 'group N is not viable'.", fix="fix.vm.domain_xml")

    nothing_judged = NO_HOSTDEV

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        inv = ctx.fact(pci_inventory)
        passed = {h.address for h in dom.hostdevs}
        gpus = [d for d in host_devices(ctx, dom).values() if d is not None and d.is_gpu]
        if not gpus:
            yield self.skip("no hostdev is a GPU present on this host", resource=rec.name)
            return
        for gpu in gpus:
            siblings = sorted(inv.same_card(gpu), key=lambda d: d.address)
            missing = [d for d in siblings if d.address not in passed]
            res = f"{rec.name}:{gpu.slot}"
            have = [gpu.address] + [d.address for d in siblings if d.address in passed]
            if missing:
                yield self.fail(f"{gpu.address} is passed without " + ", ".join(f"{d.address} ({d.kind})" for d in missing)
                                + ": the card's functions share an IOMMU group", resource=res, observed=have,
                                expected=[gpu.address] + [d.address for d in siblings])
            else:
                yield self.passed(f"every function of the card at {gpu.slot} is passed ({', '.join(have)})",
                                  resource=res, observed=have, expected=have)


class HostdevBars(PerDomain):
    meta = _meta(
        "vm.hostdev.bars", "The GPU's BARs fit the guest's 64-bit MMIO window", Severity.HIGH,
        "enlarge the window: UEFI guests -fw_cfg opt/ovmf/X-PciMmio64Mb,string=MiB in <qemu:commandline>; "
        "otherwise <pcihole64 unit='KiB'> on the root PCI controller",
        "BAR sizes come from the host's sysfs resource file; the window from OVMF's X-PciMmio64Mb, <pcihole64>, "
        "or the firmware/machine default (32 GiB for OVMF and q35). A100/H100 BAR1s (64-128 GiB) exceed the "
        "default: the guest logs 'BAR 1: no space' and the NVIDIA driver fails.", fix="fix.vm.domain_xml")

    nothing_judged = NO_HOSTDEV

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        bars, seen = [], []
        for address, dev in host_devices(ctx, dom).items():
            if dev is None:
                continue
            found = read_bars(ctx.target, address)
            if found:
                seen.append(address)
                bars += [b for b in found if b.mem64]
        if not seen:
            yield self.skip("no hostdev's BARs are readable on this host (no device or no sysfs resource file)",
                            resource=rec.name)
            return
        need, window = window_need(bars), mmio64_window(dom)
        listed = ", ".join(b.describe() for b in sorted(bars, key=lambda b: -b.size)) or "none"
        text = f"64-bit BARs of {', '.join(seen)}: {listed}; need {human(need)}, window {human(window.size)} ({window.source})"
        if need > window.size:
            yield self.fail(text + ": the guest will log 'BAR: no space' and the GPU driver fails",
                            resource=rec.name, observed=human(window.size), expected=f">= {human(need)}")
        else:
            yield self.passed(text, resource=rec.name, observed=human(window.size), expected=f">= {human(need)}")


class NumaPlacement(PerDomain):
    meta = _meta(
        "vm.numa.placement", "Guest memory and vCPUs sit on the GPU's NUMA node", Severity.MEDIUM,
        "bind memory with <numatune><memory mode='strict' nodeset='N'/></numatune> and pin vCPUs "
        "(<cputune><vcpupin>) to the CPUs of the GPU's node N",
        "On a multi-socket host, the GPU's numa_node (sysfs) should be the node of <numatune> and the host CPUs of "
        "the vCPU pinning: otherwise DMA and interrupts cross the socket interconnect.")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        nodes = numa_nodes(ctx)
        gpus = [d for d in host_devices(ctx, dom).values() if d is not None and d.is_gpu]
        placed = sorted({d.numa_node for d in gpus if d.numa_node >= 0})
        if len(nodes) <= 1 or not placed:
            why = f"the host has {len(nodes) or 'no'} NUMA node(s)" if len(nodes) <= 1 else "no GPU reports a NUMA node"
            yield self.passed(f"{why}: nothing to place", resource=rec.name, observed=nodes, expected="n/a")
            return
        problems = []
        try:
            memory_nodes = cpuset(dom.numatune_nodeset) if dom.numatune_nodeset else set()
            host_cpus: set[int] = set()
            for node in placed:
                host_cpus |= cpuset(ctx.target.read_text(f"/sys/devices/system/node/node{node}/cpulist") or "")
            pinned = [cpuset(c) for c in dom.vcpu_pins.values()] or ([cpuset(dom.vcpu_cpuset)] if dom.vcpu_cpuset else [])
        except ValueError as exc:
            yield self.error(f"cannot read the placement: {exc}", resource=rec.name)
            return
        if not memory_nodes:
            problems.append("no <numatune>: guest memory may come from any node")
        elif not memory_nodes <= set(placed):
            problems.append(f"memory is bound to node(s) {dom.numatune_nodeset}")
        if not pinned:
            problems.append("vCPUs are not pinned")
        elif any(not p <= host_cpus for p in pinned):
            problems.append("vCPUs are pinned to CPUs outside the GPU's node")
        text = f"GPU on node {','.join(map(str, placed))}"
        if problems:
            yield self.warn(f"{text}: " + "; ".join(problems), resource=rec.name,
                            observed={"numatune": dom.numatune_nodeset or None, "vcpupin": dom.vcpu_pins or None},
                            expected=f"node {','.join(map(str, placed))}",
                            remediation=f"bind memory with <numatune><memory mode='strict' nodeset="
                                        f"'{','.join(map(str, placed))}'/></numatune> and pin the vCPUs "
                                        f"(<cputune><vcpupin>) to host CPUs {fmt_cpus(host_cpus)} (the GPU's node)")
        else:
            yield self.passed(f"{text}: memory on node(s) {dom.numatune_nodeset}, vCPUs pinned to its CPUs",
                              resource=rec.name, observed=dom.numatune_nodeset, expected=",".join(map(str, placed)))


def fmt_cpus(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus))) or "of that node"


CHECKS = (HostdevManaged, HostdevAddress, HostdevFunctions, HostdevBars, NumaPlacement)
