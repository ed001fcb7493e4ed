"""Plans for VFIO findings.

fix.vfio.bind binds the passthrough devices to vfio-pci now (virsh nodedev-detach, reversible) and
at every boot:
- vfio-pci as a module: ``options vfio-pci ids=...`` plus ``softdep DRIVER pre: vfio-pci`` in
  /etc/modprobe.d/autoglm-doctor-vfio.conf, then the initramfs rebuilt (early boot must see them);
- vfio-pci built into the kernel: modprobe.d is ignored, so ``vfio-pci.ids=`` goes on the kernel
  command line through the detected boot loader (reboot required);
- ids= matches every card with that vendor:device: when the host keeps a second, identical card
  (its own display GPU), ids= would take it too, so the plan binds per address instead: a
  ``driver_override`` of vfio-pci for exactly those addresses, persisted the way driverctl keeps it
  (/etc/driverctl.d/pci-ADDR holding the driver name; driverctl's udev rule re-applies it at every
  boot, unbinding whatever driver took the device first, so no probe-order race between the two
  identical cards matters). driverctl is installed with the distribution's package manager when
  missing (Debian/Ubuntu and RHEL/Fedora both package it).
fix.vfio.modules loads vfio-pci (which pulls in vfio and the IOMMU backend) now and at every boot:
one plan for whichever of the three host.vfio.modules findings fail.
Plans only; never applies."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.bootloader import find_tool
from autoglm_doctor.facts.cmdline_plan import cmdline_changes
from autoglm_doctor.facts.pci import passthrough_gpus
from autoglm_doctor.facts.vfio import VFIO_CONF, devices_to_bind, is_vfio_driver, recommendation_for
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, Plan, RunCommand, WriteFile

DRIVERCTL_DIR = "/etc/driverctl.d"
PACKAGE_TOOLS = (("apt-get", ("apt-get", "install", "-y", "driverctl"), ("apt-get", "remove", "-y", "driverctl")),
                 ("dnf", ("dnf", "install", "-y", "driverctl"), ("dnf", "remove", "-y", "driverctl")),
                 ("yum", ("yum", "install", "-y", "driverctl"), ("yum", "remove", "-y", "driverctl")))
MODULES_LOAD = "/etc/modules-load.d/autoglm-doctor-vfio.conf"
INITRAMFS_TOOLS = (("update-initramfs", ("update-initramfs", "-u", "-k", "all")),
                   ("dracut", ("dracut", "-f", "--regenerate-all")),
                   ("mkinitcpio", ("mkinitcpio", "-P")))


def nodedev_name(address: str) -> str:
    return "pci_" + address.replace(":", "_").replace(".", "_")


def initramfs_rebuild(ctx: Context) -> RunCommand | None:
    for name, argv in INITRAMFS_TOOLS:
        if find_tool(ctx.target, name):
            return RunCommand(argv, regenerate=True, takes_effect_at_boot=True, risk="needs reboot", timeout=900)
    return None


def per_address_changes(ctx: Context, addresses: list[str]) -> tuple[list[Change], list[str]]:
    """driver_override vfio-pci for exactly ``addresses``, persisted in driverctl's own format."""
    changes: list[Change] = [WriteFile(f"{DRIVERCTL_DIR}/pci-{a}", "vfio-pci\n") for a in addresses]
    notes = []
    if find_tool(ctx.target, "driverctl") is None:
        tool = next(((i, u) for name, i, u in PACKAGE_TOOLS if find_tool(ctx.target, name)), None)
        if tool:
            changes.insert(0, RunCommand(tool[0], undo=tool[1], timeout=600, done_if=("driverctl", "--help")))
            notes.append(f"driverctl is not installed: {' '.join(tool[0])} (its udev rule applies "
                         f"{DRIVERCTL_DIR} at every boot)")
        else:
            notes.append(f"driverctl is not installed and no apt-get or dnf was found: install driverctl, whose udev "
                         f"rule applies {DRIVERCTL_DIR} at every boot")
    return changes, notes


class BindToVfio(Fix):
    meta = FixMeta(
        id="fix.vfio.bind",
        title="Bind the passthrough GPU and its group peers to vfio-pci, now and at every boot",
        fixes=("host.vfio.binding", "host.vfio.persistence"),
        risk=Severity.HIGH,
        reboot_required=True,
        description=f"Module vfio-pci: options vfio-pci ids=... and softdeps in {VFIO_CONF}, initramfs rebuilt. "
                    "Built-in vfio-pci: vfio-pci.ids= on the kernel command line (boot loader's tool). A second "
                    "identical card the host keeps: per-address driver_override persisted by driverctl "
                    f"({DRIVERCTL_DIR}/pci-ADDR) instead of ids=. Detaches each device now with virsh "
                    "nodedev-detach (undo: nodedev-reattach). The host loses those devices.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        slots = {gpu.slot for gpu in ctx.fact(passthrough_gpus).gpus}
        # Only the cards' own functions: a NIC or disk sharing the group is the user's call (it may be
        # the host's only network), never something a fix takes away silently.
        own = [(d, w) for d, w in devices_to_bind(ctx) if d.slot in slots]
        foreign = [d for d, _w in devices_to_bind(ctx) if d.slot not in slots]
        rec = recommendation_for(ctx, [d for d, _w in own])
        changes: list[Change] = []
        notes: list[str] = []
        if foreign:
            notes.append("left alone: " + "; ".join(d.describe() for d in foreign) + " share the GPU's IOMMU group "
                         "(see host.iommu.group_isolation): move the card, or bind them yourself if the host can "
                         "spare them")
        if not rec.ids:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings), notes=("no passthrough device found",))
        reboot = True
        if rec.twins:
            notes.append(f"WARNING: ids={','.join(rec.ids)} would also claim {', '.join(rec.twins)} (same vendor:device, "
                         f"kept by the host): binding per address with driver_override instead "
                         f"({', '.join(f'{DRIVERCTL_DIR}/pci-{a}' for a in rec.addresses)}, applied at every boot "
                         "by driverctl)")
            per_address, pa_notes = per_address_changes(ctx, list(rec.addresses))
            changes += per_address
            notes += pa_notes
            if rec.softdeps and not rec.builtin:
                changes.append(WriteFile(VFIO_CONF, "# Written by autoglm-doctor (fix.vfio.bind): the host drivers load "
                                         "after vfio-pci; no ids= (it would take the host's identical card)\n"
                                         + "\n".join(f"softdep {m} pre: vfio-pci" for m in rec.softdeps) + "\n"))
                tool = initramfs_rebuild(ctx)
                if tool:
                    changes.append(tool)
        elif rec.builtin:
            cl, cl_notes, _bl = cmdline_changes(ctx.target, (f"vfio-pci.ids={','.join(rec.ids)}",))
            changes += cl
            notes.append("vfio-pci is built into this kernel and ignores modprobe.d: vfio-pci.ids= goes on the kernel "
                         "command line")
            notes += cl_notes
        else:
            content = ("# Written by autoglm-doctor (fix.vfio.bind): vfio-pci claims the passthrough devices at boot,\n"
                       "# before the host drivers that would otherwise take them.\n" + "\n".join(rec.conf_lines) + "\n")
            changes.append(WriteFile(VFIO_CONF, content))
            tool = initramfs_rebuild(ctx)
            if tool:
                changes.append(tool)
            else:
                notes.append("no update-initramfs, dracut or mkinitcpio found: rebuild the initramfs yourself so "
                             "the early boot sees the softdeps")
        for dev, _why in own:
            if is_vfio_driver(dev.driver):
                continue
            name = nodedev_name(dev.address)
            changes.append(RunCommand(("virsh", "nodedev-detach", name, "--driver", "vfio"),
                                      undo=("virsh", "nodedev-reattach", name), risk="disruptive"))
            if dev.driver in ("nouveau", "amdgpu", "nvidia"):
                notes.append(f"{dev.address} is driven by {dev.driver}: detaching it at runtime may hang if it "
                             "drives the console or a running Xorg/Wayland session; rebooting with the new "
                             "configuration is the safe path")
        notes.append("the host loses these devices: " + ", ".join(f"{d.address} ({d.kind})" for d, _w in own))
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), reboot_required=reboot,
                    notes=tuple(notes))


class LoadVfioModules(Fix):
    meta = FixMeta(
        id="fix.vfio.modules",
        title="Load vfio-pci (with vfio and vfio_iommu_type1) now and at every boot",
        fixes=("host.vfio.modules",),
        risk=Severity.LOW,
        description=f"One plan for any of the three host.vfio.modules failures: {MODULES_LOAD} lists the missing "
                    "modules for systemd-modules-load, modprobe vfio-pci loads them now (vfio-pci pulls in vfio "
                    "and vfio_iommu_type1).",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        missing = [f.resource for f in findings if f.resource]
        if not missing:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings))
        order = [m for m in ("vfio", "vfio_iommu_type1", "vfio_pci") if m in missing]
        content = "# Written by autoglm-doctor (fix.vfio.modules)\n" + "\n".join(order) + "\n"
        changes: list[Change] = [WriteFile(MODULES_LOAD, content)]
        for m in order:
            changes.append(RunCommand(("modprobe", m), undo=("modprobe", "-r", m),
                                      done_if=("test", "-d", f"/sys/module/{m}")))
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings),
                    notes=("a module that is not built for this kernel cannot be loaded: install the distribution's "
                           "full kernel (linux-modules-extra on Ubuntu)",))


FIXES = (BindToVfio, LoadVfioModules)
