"""IOMMU readiness for VFIO: firmware tables, an active kernel IOMMU, and IOMMU-group isolation of
every passthrough GPU."""

from __future__ import annotations

from typing import Iterable, Iterator

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.cmdline import kernel_cmdline
from autoglm_doctor.facts.cpu import cpu_info
from autoglm_doctor.facts.iommu import BIOS_NAMES, IOMMU_TABLES, VENDOR_TABLE, acs_state, explain_inactive, iommu_state, IommuState
from autoglm_doctor.facts.kernel import kernel_config
from autoglm_doctor.facts.pci import PciDevice, PciInventory, pci_inventory
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import PerGpu
from autoglm_doctor.targets.base import TargetError

NO_PASSTHROUGH = "profile.gpus is [] (this host passes no GPU through): IOMMU not needed"
ACS_CAVEAT = (
    "the ACS override patch (pcie_acs_override=, not in mainline kernels) only makes the kernel pretend the devices "
    "are isolated: they can still reach each other by peer-to-peer DMA, so the VM could reach host devices; use it "
    "only on a machine whose every tenant you trust"
)


def passthrough_disabled(ctx: Context) -> bool:
    return ctx.profile.is_set("gpus") and not ctx.profile.get("gpus")


def _cpu(ctx: Context) -> tuple[str, bool]:
    try:
        cpu = ctx.fact(cpu_info)
    except TargetError:
        return "", False
    return cpu.vendor, cpu.in_hypervisor


class IommuFirmware(Check):
    meta = CheckMeta(
        id="host.iommu.firmware",
        title="The firmware describes an IOMMU (ACPI DMAR / IVRS)",
        severity=Severity.CRITICAL,
        scope=(Scope.HOST,),
        remediation="enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the BIOS/UEFI setup",
        docs=docs_link("host.iommu.firmware"),
        description="Looks for the ACPI table the kernel's IOMMU driver is built from: DMAR (Intel VT-d), IVRS "
                    "(AMD-Vi), IORT (Arm SMMU) or VIOT (virtio-iommu). Absent means the firmware has the IOMMU off.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        if passthrough_disabled(ctx):
            yield self.skip(NO_PASSTHROUGH, resource="acpi")
            return
        state = ctx.fact(iommu_state)
        vendor, in_vm = _cpu(ctx)
        expected = VENDOR_TABLE.get(vendor)
        if state.acpi_tables is None:
            yield self.skip("no ACPI tables in /sys/firmware/acpi/tables (not an ACPI system, or not captured): "
                            "firmware IOMMU support cannot be read", resource="acpi")
            return
        found = state.firmware_tables
        want = expected or "DMAR/IVRS/IORT/VIOT"
        if found:
            names = ", ".join(f"{t} ({IOMMU_TABLES[t]})" for t in found)
            yield self.passed(f"the firmware describes an IOMMU: {names}", resource=found[0],
                              observed=list(found), expected=want)
            return
        message = f"no {want} table among the ACPI tables ({', '.join(state.acpi_tables) or 'none'}): the firmware " \
                  "has the IOMMU disabled or the platform has none"
        remediation = f"enable {BIOS_NAMES.get(expected or '', 'VT-d (Intel) / AMD-Vi (AMD)')} in the BIOS/UEFI " \
                      "setup; no kernel command-line option can replace it"
        if in_vm:
            message += "; this machine is itself a VM and its hypervisor exposes no IOMMU"
            remediation = "run the passthrough checks on the bare-metal host that owns the GPU"
        yield self.fail(message, resource=expected or "acpi", observed=list(state.acpi_tables), expected=want,
                        remediation=remediation)


class IommuActive(Check):
    meta = CheckMeta(
        id="host.iommu.active",
        title="The kernel's IOMMU is active (IOMMU groups exist)",
        severity=Severity.CRITICAL,
        scope=(Scope.HOST,),
        remediation="see the message: BIOS setting, intel_iommu=on, or removing a command-line option that turns it off",
        docs=docs_link("host.iommu.active"),
        fix="fix.iommu.enable",
        description="Decides from what the kernel did (non-empty /sys/kernel/iommu_groups); the firmware tables, "
                    "/proc/cmdline and the kernel config only explain why and what to change. Never advises "
                    "amd_iommu=on (not a valid value); iommu=pt is mentioned as an optional performance setting.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        if passthrough_disabled(ctx):
            yield self.skip(NO_PASSTHROUGH, resource="iommu")
            return
        state = ctx.fact(iommu_state)
        cmdline = ctx.fact(kernel_cmdline)
        vendor, in_vm = _cpu(ctx)
        relevant = {k: v for k, v in cmdline.params if k.replace("-", "_") in ("intel_iommu", "amd_iommu", "iommu",
                                                                              "iommu.passthrough", "intremap")}
        observed = {"groups": len(state.groups), "units": list(state.units),
                    "firmware_tables": list(state.firmware_tables), "cmdline": relevant}
        if not state.active:
            try:
                config = ctx.fact(kernel_config)
            except TargetError:
                config = None
            why, todo = explain_inactive(state, vendor, cmdline, config, in_vm)
            yield self.fail(f"no IOMMU groups: the kernel has no active IOMMU, so VFIO cannot pass any device "
                            f"through; {why}", resource="iommu", observed=observed, expected="IOMMU groups",
                            remediation=todo)
            return
        types = sorted(set(state.group_types.values()))
        observed.update(default_domain=types, interrupt_remapping=state.interrupt_remapping)
        notes = []
        if state.interrupt_remapping is True:
            notes.append("interrupt remapping supported")
        if types and all(t in ("DMA", "DMA-FQ") for t in types) and cmdline.last("iommu") != "pt":
            notes.append("optional: iommu=pt skips DMA translation for devices the host keeps (performance only)")
        if "on" in (cmdline.last("amd_iommu") or "").split(","):
            notes.append("amd_iommu=on on the command line is not a valid value and is ignored: remove it")
        summary = f"{len(state.groups)} IOMMU groups, units {', '.join(state.units) or 'none listed'}"
        if types:
            summary += f", default domain {'/'.join(types)}"
        if state.interrupt_remapping is False:
            yield self.warn(summary + "; the IOMMU does not support interrupt remapping: vfio_iommu_type1 refuses "
                            "to assign devices unless allow_unsafe_interrupts=1, which lets the VM forge interrupts",
                            resource="iommu", observed=observed, expected="interrupt remapping",
                            remediation="use a platform with interrupt remapping (x2APIC/IR in the BIOS), or accept "
                                        "the risk with options vfio_iommu_type1 allow_unsafe_interrupts=1")
            return
        yield self.passed("; ".join([summary] + notes), resource="iommu", observed=observed, expected="IOMMU groups")


def _peer_line(dev: PciDevice | None, address: str) -> str:
    return dev.describe() if dev else f"{address} (unreadable)"


class GroupIsolation(PerGpu):
    meta = CheckMeta(
        id="host.iommu.group_isolation",
        title="Each passthrough GPU's IOMMU group holds only that card (and bridges)",
        severity=Severity.CRITICAL,
        scope=(Scope.HOST,),
        remediation="move the GPU to a slot whose IOMMU group holds nothing else (usually one wired to the CPU), or "
                    "give the whole group to the VM; " + ACS_CAVEAT,
        docs=docs_link("host.iommu.group_isolation"),
        description="Every device in the GPU's group must be another function of the same card (HDMI audio, USB-C, "
                    "UCSI) or a PCI bridge: VFIO hands a group to one owner, all or nothing.",
        requires=("host.iommu.active", "host.pci.gpus"),
    )

    def judge(self, ctx: Context, gpu: PciDevice) -> Iterator[Finding]:
        yield self._one(ctx, ctx.fact(iommu_state), ctx.fact(pci_inventory), gpu)

    def _one(self, ctx: Context, state: IommuState, inv: PciInventory, gpu: PciDevice) -> Finding:
        res = gpu.address
        group = gpu.iommu_group
        if group is None:
            return self.fail(f"{gpu.describe()} has no IOMMU group: the active IOMMU does not cover this device",
                             resource=res, observed="no iommu_group", expected="an IOMMU group",
                             remediation="check the kernel log for IOMMU errors about this device; try another slot")
        if group not in state.groups:
            return self.error(f"{gpu.address}/iommu_group points to group {group}, which does not exist under "
                              "/sys/kernel/iommu_groups (dangling link)", resource=res, observed=f"group {group}")
        members = state.groups[group]
        if members is None:
            return self.error(f"/sys/kernel/iommu_groups/{group} has no devices/ directory: the group's members "
                              "cannot be read", resource=res, observed=f"group {group} without devices/")
        same_card, bridges, foreign = [], [], []
        for address in members:
            if address == gpu.address:
                continue
            dev = inv.get(address)
            if dev is not None and dev.slot == gpu.slot:
                same_card.append(dev)
            elif dev is not None and dev.is_bridge:
                bridges.append(dev)
            else:
                foreign.append((address, dev))
        acs = {b: acs_state(ctx.target, b) for b in _upstream_bridges(inv, gpu)}
        observed = {"group": group, "members": list(members), "upstream_acs": acs}
        if foreign:
            lines = "; ".join(_peer_line(dev, a) for a, dev in foreign)
            return self.fail(
                f"IOMMU group {group} of {gpu.describe()} also holds devices that are not part of this card: {lines}. "
                "VFIO gives a group to one owner: passing the GPU through takes all of these away from the host "
                "(they must be bound to vfio-pci too), or the VM cannot start",
                resource=res, observed=observed, expected="only functions of the same card and PCI bridges")
        parts = [f"IOMMU group {group} holds {gpu.address}"]
        if same_card:
            parts.append("its own functions " + ", ".join(f"{d.address} ({d.kind})" for d in same_card))
        if bridges:
            parts.append("bridges " + ", ".join(d.address for d in bridges) + " (never assigned, allowed)")
        return self.passed(", ".join(parts), resource=res, observed=observed,
                           expected="only functions of the same card and PCI bridges")


def _upstream_bridges(inv: PciInventory, gpu: PciDevice) -> list[str]:
    out: list[str] = []
    current: PciDevice | None = gpu
    hops = 0
    while current is not None and current.upstream and hops < 16:
        out.append(current.upstream)
        current, hops = inv.get(current.upstream), hops + 1
    return out


CHECKS = (IommuFirmware, IommuActive, GroupIsolation)
