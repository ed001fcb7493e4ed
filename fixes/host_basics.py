"""Plans for host-basics findings: /dev/kvm access and the vhost_net and tun modules."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.access import accounts, vm_user
from autoglm_doctor.facts.kernel import kernel_config
from autoglm_doctor.targets.base import TargetError
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, Plan, RunCommand, SetMode, SetOwner, WriteFile

KVM_RULE_PATH = "/etc/udev/rules.d/65-autoglm-doctor-kvm.rules"
KVM_RULE = (
    "# Written by autoglm-doctor (fix.kvm.device_access): QEMU's user reaches /dev/kvm through group kvm.\n"
    'KERNEL=="kvm", GROUP="kvm", MODE="0660", OPTIONS+="static_node=kvm"\n'
)
VHOST_MODULES_PATH = "/etc/modules-load.d/autoglm-doctor-vhost-net.conf"
TUN_MODULES_PATH = "/etc/modules-load.d/autoglm-doctor-tun.conf"


class KvmDeviceAccess(Fix):
    meta = FixMeta(
        id="fix.kvm.device_access",
        title="Give /dev/kvm to group kvm (0660) and put the VM user in it",
        fixes=("host.kvm.device",),
        risk=Severity.LOW,
        description="udev rule for persistence, chgrp/chmod for now, usermod for the VM user.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        try:
            kvm = ctx.target.stat("/dev/kvm")
        except TargetError:
            kvm = None
        if kvm is None:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings),
                        notes=("/dev/kvm does not exist: the kvm module is not loaded or virtualization is off in the "
                               "firmware (see host.cpu.virtualization); no owner or mode change can help",))
        acc = ctx.fact(accounts)
        user = vm_user(ctx)
        changes: list[Change] = []
        notes = []
        if "kvm" not in acc.groups:
            changes.append(RunCommand(("groupadd", "--system", "kvm"), undo=("groupdel", "kvm")))
        changes += [
            WriteFile(KVM_RULE_PATH, KVM_RULE),
            SetOwner("/dev/kvm", group="kvm"),
            SetMode("/dev/kvm", 0o660),
        ]
        account = acc.account(user)
        kvm_gid = acc.groups["kvm"][0] if "kvm" in acc.groups else None
        if user != "root" and (account is None or kvm_gid not in account.groups):
            changes.append(RunCommand(("usermod", "-aG", "kvm", user), undo=("gpasswd", "-d", user, "kvm")))
            notes.append(f"{user}'s running processes keep their old groups: restart libvirtd/QEMU afterwards")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


class VhostNetModule(Fix):
    meta = FixMeta(
        id="fix.kvm.vhost_net",
        title="Load vhost_net now and at every boot",
        fixes=("host.kvm.vhost_net",),
        risk=Severity.LOW,
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        try:
            config = ctx.fact(kernel_config)
        except TargetError:
            config = None
        if config is not None and config.source and config.state("CONFIG_VHOST_NET") == "n":
            note = (f"the running kernel is built without CONFIG_VHOST_NET ({config.source}): there is no module to "
                    "load; boot a kernel that has CONFIG_VHOST_NET=m")
            return Plan(self.meta.id, self.meta.title, (), tuple(findings), notes=(note,))
        changes = (
            WriteFile(VHOST_MODULES_PATH, "# Written by autoglm-doctor (fix.kvm.vhost_net)\nvhost_net\n"),
            RunCommand(("modprobe", "vhost_net"), undo=("modprobe", "-r", "vhost_net")),
        )
        return Plan(self.meta.id, self.meta.title, changes, tuple(findings))


class TunModule(Fix):
    meta = FixMeta(
        id="fix.kvm.tun",
        title="Load tun now and at every boot (/dev/net/tun for the VM's tap interface)",
        fixes=("host.kvm.tun",),
        risk=Severity.LOW,
        description=f"{TUN_MODULES_PATH} for systemd-modules-load, modprobe tun now (devtmpfs creates "
                    "/dev/net/tun). A kernel without CONFIG_TUN, or a loaded module without the node (a container "
                    "started without --device /dev/net/tun), has no mechanical fix here.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        try:
            config = ctx.fact(kernel_config)
        except TargetError:
            config = None
        if config is not None and config.source and config.state("CONFIG_TUN") == "n":
            return Plan(self.meta.id, self.meta.title, (), tuple(findings), notes=(
                f"the running kernel is built without CONFIG_TUN ({config.source}): boot a kernel that has it",))
        try:
            loaded = ctx.target.stat("/sys/module/tun") is not None
        except TargetError:
            loaded = False
        if loaded:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings), notes=(
                "tun is loaded but /dev/net/tun is missing: devtmpfs is not mounted on /dev, or this is a container "
                "started without --device /dev/net/tun; fix how /dev is provided, not the module",))
        changes = (
            WriteFile(TUN_MODULES_PATH, "# Written by autoglm-doctor (fix.kvm.tun)\ntun\n"),
            RunCommand(("modprobe", "tun"), undo=("modprobe", "-r", "tun"), done_if=("test", "-c", "/dev/net/tun")),
        )
        return Plan(self.meta.id, self.meta.title, changes, tuple(findings))


FIXES = (KvmDeviceAccess, VhostNetModule, TunModule)
