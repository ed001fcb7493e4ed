"""Plan for nouveau loaded in the guest (guest.driver.nouveau): nouveau claims the passed-through NVIDIA
GPU before the NVIDIA driver can. The plan blacklists it in the guest's modprobe.d and rebuilds the
guest's initramfs with the guest's own tool (update-initramfs, dracut, mkinitcpio), because nouveau is
usually loaded from the initramfs for early KMS; it takes effect when the guest reboots. nouveau is not
unloaded now: it drives the guest's console and unloading it there can hang the guest."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.modprobe import modprobe_config
from autoglm_doctor.fixes.host_vfio import initramfs_rebuild
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, Plan, WriteFile
from autoglm_doctor.targets.base import TargetError

BLACKLIST = "/etc/modprobe.d/autoglm-doctor-blacklist-nouveau.conf"
CONTENT = ("# Written by autoglm-doctor (fix.guest.nouveau_blacklist): nouveau would claim the passed-through\n"
           "# NVIDIA GPU before the NVIDIA driver.\nblacklist nouveau\noptions nouveau modeset=0\n")


class BlacklistNouveau(Fix):
    meta = FixMeta(
        id="fix.guest.nouveau_blacklist",
        title="Blacklist nouveau in the guest and rebuild its initramfs (takes effect at the guest's reboot)",
        fixes=("guest.driver.nouveau",),
        risk=Severity.MEDIUM,
        reboot_required=True,
        description=f"{BLACKLIST} (blacklist nouveau, options nouveau modeset=0) and the initramfs rebuilt with "
                    "update-initramfs, dracut or mkinitcpio; nouveau is not unloaded from the running guest.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        try:
            blocked = ctx.fact(modprobe_config).blocked("nouveau")
        except TargetError:
            blocked = None
        changes: list[Change] = []
        notes = ["nouveau stays loaded until the guest reboots: unloading it under the guest's console can hang it"]
        if blocked:
            notes.append(f"nouveau is already kept off by the configuration ({blocked}) but still loaded: the "
                         "initramfs predates it, so only the rebuild is planned")
        else:
            changes.append(WriteFile(BLACKLIST, CONTENT))
        tool = initramfs_rebuild(ctx)
        if tool:
            changes.append(tool)
        else:
            notes.append("no update-initramfs, dracut or mkinitcpio found in the guest: rebuild its initramfs by hand")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), reboot_required=True,
                    notes=tuple(notes))


FIXES = (BlacklistNouveau,)
