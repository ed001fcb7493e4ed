"""VFIO readiness of the passthrough GPUs: presence, vfio modules, binding now and at boot, and the
warnings that bite later (boot VGA, no reset method, NUMA locality)."""

from __future__ import annotations

from typing import Iterable, Iterator

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.numa import numa_nodes
from autoglm_doctor.facts.pci import PciDevice, passthrough_gpus, pci_inventory
from autoglm_doctor.facts.vfio import boot_binding, devices_to_bind, is_vfio_driver, recommendation
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import PerGpu
from autoglm_doctor.targets.base import NotCaptured

GPU_RULE = "NVIDIA (0x10de) or AMD (0x1002) GPU (class 0x0300 VGA, 0x0302 3D or 0x0380 display controller)"
BIND_NOW = ("bind it now: virsh nodedev-detach pci_{dom}_{bus}_{slot}_{fn} (or: echo vfio-pci > "
            "/sys/bus/pci/devices/{addr}/driver_override; echo {addr} > /sys/bus/pci/devices/{addr}/driver/unbind; "
            "echo {addr} > /sys/bus/pci/drivers_probe)")
HOLDER_NOTES = {
    "nvidia": "stop what keeps the NVIDIA driver busy first (display manager, nvidia-persistenced, nvidia-smi -pm)",
    "amdgpu": "amdgpu rarely lets go cleanly at runtime: bind vfio-pci at boot instead and reboot",
    "nouveau": "nouveau cannot be unloaded while it drives a console: bind vfio-pci at boot instead and reboot",
}


def _bind_now(addr: str) -> str:
    dom, bus, rest = addr.split(":")
    slot, fn = rest.split(".")
    return BIND_NOW.format(dom=dom, bus=bus, slot=slot, fn=fn, addr=addr)


class PciInventoryRead(Check):
    meta = CheckMeta(
        id="host.pci.inventory",
        title="Every PCI device can be identified",
        severity=Severity.MEDIUM,
        scope=(Scope.HOST, Scope.GUEST),
        remediation="a device whose sysfs files cannot be read is a kernel or snapshot problem: compare with "
                    "lspci -nnk, re-collect the snapshot, or report the kernel bug",
        docs=docs_link("host.pci.inventory"),
        description="Enumerates the PCI bus (pyudev on the live host, sysfs through the target elsewhere) and "
                    "reports devices whose ids, class or links cannot be read.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        inv = ctx.fact(pci_inventory)
        for address, why in sorted(inv.broken.items()):
            yield self.error(f"PCI device {address} cannot be identified: {why}", resource=address,
                             observed=why, expected="readable vendor/device/class")
        if not inv.devices and not inv.broken:
            yield self.warn(f"no PCI devices visible through {inv.source}: this is a container without the host's "
                            "/sys, or a platform without a PCI bus; nothing here can be passed through",
                            resource="pci", observed=0, expected="the host's PCI devices",
                            remediation="run the doctor on the host itself (or give the container the host's /sys)")
            return
        names = f"names from {inv.names_source}" if inv.names_source else "no name database (ids only)"
        yield self.passed(f"{len(inv.devices)} PCI devices read from {inv.source}; {names}", resource="pci",
                          observed=len(inv.devices), expected="every device readable")


class GpusPresent(Check):
    meta = CheckMeta(
        id="host.pci.gpus",
        title="The GPUs to pass through are on the PCI bus",
        severity=Severity.HIGH,
        scope=(Scope.HOST,),
        remediation="seat the GPU, or name it in profile.gpus (lspci -D -d 10de: / -d 1002: lists candidates)",
        docs=docs_link("host.pci.gpus"),
        description=f"Profile.gpus names them by address; by default every {GPU_RULE} that is not the host's "
                    "boot VGA. Reports the inventory (pyudev on the live host, sysfs elsewhere) with names.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        if ctx.profile.is_set("gpus") and not ctx.profile.get("gpus"):
            yield self.skip("profile.gpus is []: this host passes no GPU through", resource="gpus")
            return
        inv = ctx.fact(pci_inventory)
        sel = ctx.fact(passthrough_gpus)
        for address in sel.missing:
            yield self.fail(f"profile.gpus names {address}, which is not on the PCI bus ({len(inv.devices)} devices "
                            "seen)", resource=address, observed="absent", expected="a PCI device")
        for gpu in sel.gpus:
            note = "" if gpu.is_gpu else f"; note: not an {GPU_RULE}, passed through because profile.gpus names it"
            yield self.passed(f"{gpu.describe()}, NUMA node {gpu.numa_node}, IOMMU group {gpu.iommu_group or 'none'}"
                              f"{note}", resource=gpu.address, observed=gpu.ids, expected="present")
        if sel.gpus or sel.missing:
            return
        if sel.boot_vga_skipped:
            names = "; ".join(d.describe() for d in sel.boot_vga_skipped)
            message = (f"no passthrough GPU found: the only GPUs are the host's boot VGA ({names}), which the default "
                       "selection leaves to the host")
            remediation = ("add a second GPU for the host console (or use the CPU's integrated graphics), or name the "
                           "card in profile.gpus to pass it through anyway (see host.vfio.boot_vga)")
        else:
            kinds = sorted({f"{d.ids} {d.kind}" for d in inv.devices.values()})
            message = (f"no passthrough GPU found: none of the {len(inv.devices)} PCI devices is an {GPU_RULE} "
                       f"(seen: {', '.join(kinds[:12])}{', ...' if len(kinds) > 12 else ''}; inventory from "
                       f"{inv.source})")
            remediation = None
        if inv.broken:
            message += f"; {len(inv.broken)} device(s) could not be read (see host.pci.inventory)"
        yield self.fail(message, resource="gpus", observed="none", expected="at least one GPU", remediation=remediation)


class VfioModules(Check):
    meta = CheckMeta(
        id="host.vfio.modules",
        title="The vfio, vfio_pci and IOMMU-backend modules are loaded or built in",
        severity=Severity.CRITICAL,
        scope=(Scope.HOST,),
        remediation="modprobe vfio-pci (pulls in vfio and vfio_iommu_type1), and load it at boot",
        docs=docs_link("host.vfio.modules"),
        fix="fix.vfio.modules",
        requires=("host.pci.gpus",),
    )

    MODULES = (("vfio", ("vfio",)), ("vfio_pci", ("vfio_pci", "nvgrace_gpu_vfio_pci")),
               ("vfio_iommu_type1", ("vfio_iommu_type1", "iommufd")))

    def run(self, ctx: Context) -> Iterable[Finding]:
        t = ctx.target
        for resource, names in self.MODULES:
            present = [n for n in names if t.stat(f"/sys/module/{n}") is not None]
            if not present:
                yield self.fail(f"{resource} is neither loaded nor built in (no /sys/module/{names[0]})",
                                resource=resource, observed="absent", expected="loaded or built in")
                continue
            name = present[0]
            how = "loaded" if t.stat(f"/sys/module/{name}/initstate") is not None else "built into the kernel"
            alias = f" (as {name})" if name != resource else ""
            yield self.passed(f"{resource}{alias} is {how}", resource=resource, observed=how,
                              expected="loaded or built in")


class VfioBinding(Check):
    meta = CheckMeta(
        id="host.vfio.binding",
        title="Each passthrough GPU and its group peers are bound to vfio-pci",
        severity=Severity.CRITICAL,
        scope=(Scope.HOST,),
        remediation="bind the device to vfio-pci (virsh nodedev-detach, or driver_override + drivers_probe)",
        docs=docs_link("host.vfio.binding"),
        description="The GPU and every non-bridge device of its IOMMU group must be bound to vfio-pci (or "
                    "nvgrace_gpu_vfio_pci); reports who holds them otherwise and whether /dev/vfio/GROUP exists.",
        requires=("host.iommu.active", "host.pci.gpus"),
        fix="fix.vfio.bind",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        for dev, why in devices_to_bind(ctx):
            yield self._one(ctx, dev, why)

    def _one(self, ctx: Context, dev: PciDevice, why: str) -> Finding:
        res = dev.address
        override = f", driver_override={dev.driver_override}" if dev.driver_override else ""
        observed = {"driver": dev.driver, "driver_override": dev.driver_override, "group": dev.iommu_group}
        if is_vfio_driver(dev.driver):
            node = f"/dev/vfio/{dev.iommu_group}"
            try:
                st = ctx.target.stat(node)
            except NotCaptured:
                return self.passed(f"{dev.describe()} ({why}) is bound to {dev.driver} ({node} not captured)",
                                   resource=res, observed=observed, expected="vfio-pci")
            if st is None or st.kind != "char":
                return self.fail(f"{dev.describe()} is bound to {dev.driver} but {node} does not exist: the VFIO group "
                                 "device was not created (is vfio_iommu_type1 or iommufd missing?)",
                                 resource=res, observed=observed, expected=f"vfio-pci and {node}",
                                 remediation="modprobe vfio_iommu_type1, then rebind the device")
            return self.passed(f"{dev.describe()} ({why}) is bound to {dev.driver}; {node} exists",
                               resource=res, observed=observed, expected="vfio-pci")
        if dev.driver is None:
            hint = (" driver_override is already vfio-pci: reprobe it (echo "
                    f"{res} > /sys/bus/pci/drivers_probe)") if is_vfio_driver(dev.driver_override) else ""
            return self.fail(f"{dev.describe()} ({why}) has no driver: vfio-pci is not bound{override}.{hint}",
                             resource=res, observed=observed, expected="vfio-pci", remediation=_bind_now(res))
        note = HOLDER_NOTES.get(dev.driver, "")
        return self.fail(f"{dev.describe()} ({why}) is held by the host driver {dev.driver}{override}, so the VM "
                         "cannot have it", resource=res, observed=observed, expected="vfio-pci",
                         remediation=_bind_now(res) + (f"; {note}" if note else ""))


class VfioPersistence(Check):
    meta = CheckMeta(
        id="host.vfio.persistence",
        title="vfio-pci claims the passthrough devices at every boot, before the host drivers",
        severity=Severity.HIGH,
        scope=(Scope.HOST,),
        remediation="options vfio-pci ids=VENDOR:DEVICE,... in /etc/modprobe.d plus softdep HOSTDRIVER pre: vfio-pci "
                    "(or vfio-pci.ids= on the kernel command line), then rebuild the initramfs",
        docs=docs_link("host.vfio.persistence"),
        description="Merges /etc, /run, /usr/lib and /lib modprobe.d like kmod and reads the kernel command line: "
                    "vfio-pci ids must cover every device to bind, and each native driver (nouveau, nvidia, amdgpu, "
                    "snd_hda_intel...) must be blacklisted or ordered after vfio-pci with a softdep.",
        requires=("host.iommu.active", "host.pci.gpus"),
        fix="fix.vfio.bind",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        for dev, why in devices_to_bind(ctx):
            yield self._one(ctx, dev, why)

    def _one(self, ctx: Context, dev: PciDevice, why: str) -> Finding:
        boot = boot_binding(ctx, dev)
        res = dev.address
        bound = is_vfio_driver(dev.driver)
        observed = {"bound_now": dev.driver, "boot": list(boot.sources), "ignored": list(boot.ignored),
                    "ordered": list(boot.ordered), "unordered": list(boot.unordered)}
        expected = f"vfio-pci ids cover {dev.ids}; native drivers kept off"
        ignored = f" ({'; '.join(boot.ignored)})" if boot.ignored else ""
        if not boot.sources:
            now = "is bound to vfio-pci now, but" if bound else f"is not bound to vfio-pci (driver {dev.driver or 'none'}) and"
            text = f"{dev.describe()} ({why}) {now} nothing binds it at boot{ignored}"
            todo = ctx.fact(recommendation).text()
            if bound:
                return self.warn(text + ": the binding is lost at reboot", resource=res, observed=observed,
                                 expected=expected, remediation=todo)
            return self.fail(text, resource=res, observed=observed, expected=expected, remediation=todo)
        if boot.unordered:
            mods = ", ".join(boot.unordered)
            return self.warn(
                f"{dev.describe()}: {'; '.join(boot.sources)}, but {mods} is neither blacklisted nor ordered after "
                f"vfio-pci: at boot {mods} can claim the device first and vfio-pci then finds it taken{ignored}",
                resource=res, observed=observed, expected=expected,
                remediation="; ".join(f"softdep {m} pre: vfio-pci" for m in boot.unordered)
                + " in /etc/modprobe.d/vfio.conf, then rebuild the initramfs (update-initramfs -u / dracut -f)")
        kept = f"; {', '.join(boot.ordered)}" if boot.ordered else ""
        return self.passed(f"{dev.address} ({why}): {'; '.join(boot.sources)}{kept}{ignored}", resource=res,
                           observed=observed, expected=expected)


class BootVga(PerGpu):
    meta = CheckMeta(
        id="host.vfio.boot_vga",
        title="A passthrough GPU is not the host's boot VGA",
        severity=Severity.MEDIUM,
        scope=(Scope.HOST,),
        remediation="give the host its own display (integrated graphics or a second card, chosen as primary in the "
                    "BIOS); otherwise keep the firmware framebuffer off it (video=efifb:off) and expect a blank console",
        docs=docs_link("host.vfio.boot_vga"),
        requires=("host.pci.gpus",),
    )

    def judge(self, ctx: Context, gpu: PciDevice) -> Iterator[Finding]:
        if gpu.boot_vga:
            yield self.warn(f"{gpu.describe()} is the host's boot VGA: the firmware and the host console "
                            "(efifb/simplefb) use it, its shadowed VBIOS may be unusable by the VM, and the host "
                            "loses its display", resource=gpu.address, observed="boot_vga=1", expected="boot_vga=0")
        else:
            what = "boot_vga=0" if gpu.boot_vga is False else "no boot_vga attribute (not a VGA-class device)"
            yield self.passed(f"{gpu.address} is not the host's boot VGA ({what})", resource=gpu.address,
                              observed=what, expected="boot_vga=0")


class ResetMethod(PerGpu):
    meta = CheckMeta(
        id="host.vfio.reset",
        title="A passthrough GPU can be reset between VM runs",
        severity=Severity.MEDIUM,
        scope=(Scope.HOST,),
        remediation="expect to reboot the host after the VM stops; for AMD cards with the reset bug the vendor-reset "
                    "module adds a device-specific reset",
        docs=docs_link("host.vfio.reset"),
        requires=("host.pci.gpus",),
    )

    def judge(self, ctx: Context, gpu: PciDevice) -> Iterator[Finding]:
        methods = " ".join(gpu.reset_methods) or "not listed"
        if gpu.has_reset:
            yield self.passed(f"{gpu.address} has a reset method ({methods})", resource=gpu.address,
                              observed=methods, expected="a reset method")
        else:
            yield self.warn(f"{gpu.describe()} has no reset method (no 'reset' attribute): the kernel cannot reset "
                            "it when the VM stops, so a VM restart can find it in a dirty state and hang",
                            resource=gpu.address, observed="no reset", expected="a reset method")


class GpuNuma(PerGpu):
    meta = CheckMeta(
        id="host.vfio.numa",
        title="A passthrough GPU sits on the NUMA node that holds the VM's memory",
        severity=Severity.LOW,
        scope=(Scope.HOST,),
        remediation="bind the VM to the GPU's node (libvirt <numatune><memory nodeset='N'/> and vCPU pinning) and set "
                    "profile.vm_numa_node to it",
        docs=docs_link("host.vfio.numa"),
        requires=("host.pci.gpus",),
    )

    def judge(self, ctx: Context, gpu: PciDevice) -> Iterator[Finding]:
        if not ctx.profile.is_set("vm_numa_node"):
            yield self.skip(f"profile.vm_numa_node is not set: where the VM's memory lives is unknown (the GPU "
                            f"is on node {gpu.numa_node})", resource=gpu.address)
            return
        want = ctx.profile.get("vm_numa_node")
        nodes = ctx.fact(numa_nodes)
        if nodes and want not in nodes:
            yield self.fail(f"profile.vm_numa_node is {want}, but this host has nodes {nodes}",
                            resource=gpu.address, observed=nodes, expected=f"node {want}",
                            remediation="set profile.vm_numa_node to one of the host's nodes")
        elif gpu.numa_node < 0:
            yield self.passed(f"{gpu.address}: the platform reports no NUMA locality for it (numa_node -1: one "
                              "node, or the firmware gives no proximity)", resource=gpu.address,
                              observed=-1, expected=want)
        elif gpu.numa_node != want:
            yield self.warn(f"{gpu.describe()} is on NUMA node {gpu.numa_node} but the VM's memory is on node "
                            f"{want}: every DMA and every kernel launch crosses the inter-socket link",
                            resource=gpu.address, observed=gpu.numa_node, expected=want,
                            remediation=f"bind the VM to the GPU's node (libvirt <numatune><memory "
                                        f"nodeset='{gpu.numa_node}'/> and vCPU pinning to node "
                                        f"{gpu.numa_node}'s CPUs) and set profile.vm_numa_node = "
                                        f"{gpu.numa_node}")
        else:
            yield self.passed(f"{gpu.address} is on node {want}, with the VM's memory", resource=gpu.address,
                              observed=gpu.numa_node, expected=want)


CHECKS = (PciInventoryRead, GpusPresent, VfioModules, VfioBinding, VfioPersistence, BootVga, ResetMethod, GpuNuma)
