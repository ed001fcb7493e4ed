"""Plan for VFIO binding findings: bind the passthrough devices to vfio-pci now (virsh nodedev-detach,
reversible) and at every boot (modprobe.d ids + softdeps, initramfs rebuilt). Plans only; never applies."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.pci import passthrough_gpus
from autoglm_doctor.facts.vfio import devices_to_bind, is_vfio_driver, recommendation_for
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, Plan, RunCommand, WriteFile

VFIO_CONF = "/etc/modprobe.d/autoglm-doctor-vfio.conf"
INITRAMFS_TOOLS = (("/usr/sbin/update-initramfs", ("update-initramfs", "-u")),
                   ("/usr/bin/dracut", ("dracut", "-f")),
                   ("/usr/bin/mkinitcpio", ("mkinitcpio", "-P")))


def nodedev_name(address: str) -> str:
    return "pci_" + address.replace(":", "_").replace(".", "_")


class BindToVfio(Fix):
    meta = FixMeta(
        id="fix.vfio.bind",
        title="Bind the passthrough GPU and its group peers to vfio-pci, now and at every boot",
        fixes=("host.vfio.binding", "host.vfio.persistence"),
        risk=Severity.HIGH,
        reboot_required=True,
        description="Writes options vfio-pci ids=... and softdep HOSTDRIVER pre: vfio-pci to "
                    f"{VFIO_CONF}, rebuilds the initramfs, and detaches each device from its host driver "
                    "with virsh nodedev-detach (undo: nodedev-reattach). The host loses those devices.",
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
        if rec.builtin:
            notes.append(f"vfio-pci is built into this kernel and ignores modprobe.d: add vfio-pci.ids="
                         f"{','.join(rec.ids)} to the kernel command line yourself (GRUB_CMDLINE_LINUX), then "
                         "update-grub; this plan only binds the devices for the current boot")
        else:
            content = ("# Written by autoglm-doctor (fix.vfio.bind): vfio-pci claims the passthrough devices at boot,\n"
                       "# before the host drivers that would otherwise take them.\n" + "\n".join(rec.conf_lines) + "\n")
            changes.append(WriteFile(VFIO_CONF, content))
            tool = next((argv for path, argv in INITRAMFS_TOOLS if ctx.target.stat(path) is not None), None)
            if tool:
                changes.append(RunCommand(tool))
            else:
                notes.append("no update-initramfs, dracut or mkinitcpio found: rebuild the initramfs yourself so "
                             "the early boot sees the softdeps")
        for dev, _why in own:
            if is_vfio_driver(dev.driver):
                continue
            name = nodedev_name(dev.address)
            changes.append(RunCommand(("virsh", "nodedev-detach", name, "--driver", "vfio"),
                                      undo=("virsh", "nodedev-reattach", name)))
            if dev.driver in ("nouveau", "amdgpu", "nvidia"):
                notes.append(f"{dev.address} is driven by {dev.driver}: detaching it at runtime may hang if it "
                             "drives the console or a running Xorg/Wayland session; rebooting with the new "
                             "configuration is the safe path")
        notes.append("the host loses these devices: " + ", ".join(f"{d.address} ({d.kind})"
                                                                  for d, _w in own))
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings),
                    reboot_required=not rec.builtin, notes=tuple(notes))


FIXES = (BindToVfio,)
