"""Host basics: CPU virtualization, /dev/kvm, /dev/vhost-net, /dev/net/tun."""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.access import ACL_XATTR, R, W, Accounts, accounts, parse_acl, permitted, vm_user
from autoglm_doctor.facts.cpu import cpu_info
from autoglm_doctor.facts.kernel import kernel_config
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.targets.base import StatResult, TargetError

NESTED_HINT = (
    "enable nested virtualization on the outer hypervisor (KVM: load kvm_intel/kvm_amd with nested=1 and give "
    "this VM <cpu mode='host-passthrough'/>; VMware: 'Expose hardware assisted virtualization'; Hyper-V: "
    "Set-VMProcessor -ExposeVirtualizationExtensions $true), or run AutoGLM's VM host on bare metal"
)


def describe_node(st: StatResult, acc: Accounts) -> str:
    from stat import filemode

    return f"{filemode(st.mode)} {acc.user_name(st.uid)}:{acc.group_name(st.gid)}"


class CpuVirtualization(Check):
    meta = CheckMeta(
        id="host.cpu.virtualization",
        title="CPU hardware virtualization (VT-x / AMD-V)",
        severity=Severity.CRITICAL,
        scope=(Scope.HOST,),
        remediation="enable Intel VT-x / AMD SVM in the BIOS/UEFI setup",
        docs=docs_link("host.cpu.virtualization"),
        description="vmx or svm in the CPU flags; explains the case of a host that is itself a VM without nested virtualization.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        cpu = ctx.fact(cpu_info)
        kind = cpu.hardware_virt
        if kind:
            name = "Intel VT-x" if kind == "vmx" else "AMD-V"
            where = " (nested: this host is itself a VM)" if cpu.in_hypervisor else ""
            yield self.passed(f"{name} ({kind}) is available{where}", resource=cpu.model or cpu.vendor,
                              observed=kind, expected="vmx or svm")
            return
        if cpu.in_hypervisor:
            message = (
                "the CPU flags have no vmx/svm but do have 'hypervisor': this machine is itself a virtual machine "
                "and its hypervisor does not expose nested virtualization, so KVM guests cannot use hardware "
                "virtualization here"
            )
            if ctx.target.stat("/sys/module/kvm_pvm") is not None:
                message += (
                    "; a /dev/kvm is provided by kvm_pvm (pagetable-based virtualization for nested guests), "
                    "which can run VMs but cannot pass a GPU through with VFIO"
                )
            yield self.fail(message, resource=cpu.model or cpu.vendor, observed="hypervisor, no vmx/svm",
                            expected="vmx or svm", remediation=NESTED_HINT)
            return
        yield self.fail(
            "the CPU flags have neither vmx nor svm: virtualization is disabled in the firmware or unsupported by this CPU",
            resource=cpu.model or cpu.vendor, observed="no vmx/svm", expected="vmx or svm",
        )


class KvmDevice(Check):
    meta = CheckMeta(
        id="host.kvm.device",
        title="/dev/kvm exists and the VM user can read and write it",
        severity=Severity.CRITICAL,
        scope=(Scope.HOST,),
        remediation="give /dev/kvm to group kvm with mode 0660 (udev rule) and add the VM user to group kvm",
        docs=docs_link("host.kvm.device"),
        description="Checks the device node and computes access for the user who runs QEMU (mode bits and ACLs).",
        fix="fix.kvm.device_access",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        t = ctx.target
        st = t.stat("/dev/kvm")
        if st is None:
            try:
                vendor = ctx.fact(cpu_info).vendor
            except TargetError:
                vendor = ""
            modules = {"GenuineIntel": "kvm_intel", "AuthenticAMD": "kvm_amd"}.get(vendor, "kvm_intel or kvm_amd")
            yield self.fail(
                "/dev/kvm does not exist: the KVM module is not loaded or the CPU offers no virtualization",
                resource="/dev/kvm", observed="absent", expected="character device 10:232",
                remediation=f"modprobe {modules} (and check host.cpu.virtualization)",
            )
            return
        if st.kind != "char":
            yield self.fail(f"/dev/kvm is a {st.kind}, not a character device", resource="/dev/kvm",
                            observed=st.kind, expected="character device 10:232")
            return
        user = vm_user(ctx)
        acc = ctx.fact(accounts)
        account = acc.account(user)
        node = describe_node(st, acc)
        if account is None:
            yield self.fail(f"the VM user {user!r} does not exist in /etc/passwd", resource="/dev/kvm",
                            observed=node, expected=f"rw for {user}",
                            remediation="set profile.vm_user to the account that runs QEMU")
            return
        blob = t.getxattr("/dev/kvm", ACL_XATTR)
        acl = None
        if blob:
            try:
                acl = parse_acl(blob)
            except ValueError as exc:
                raise TargetError(f"/dev/kvm: {exc}") from exc
        if permitted(st, account, R | W, acl):
            yield self.passed(f"/dev/kvm ({node}) is read-write for {user}", resource="/dev/kvm",
                              observed=node, expected=f"rw for {user}")
        else:
            yield self.fail(
                f"/dev/kvm ({node}) is not read-write for the VM user {user} (groups: "
                + ", ".join(sorted(acc.group_name(g) for g in account.groups)) + ")",
                resource="/dev/kvm", observed=node, expected=f"rw for {user}: crw-rw---- root:kvm and {user} in kvm",
            )


class VhostNet(Check):
    meta = CheckMeta(
        id="host.kvm.vhost_net",
        title="/dev/vhost-net for in-kernel virtio networking",
        severity=Severity.MEDIUM,
        scope=(Scope.HOST,),
        remediation="load the vhost_net module (modprobe vhost_net) and persist it in /etc/modules-load.d",
        docs=docs_link("host.kvm.vhost_net"),
        description="Without vhost-net, virtio-net runs in QEMU userspace: it works, more slowly.",
        fix="fix.kvm.vhost_net",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        st = ctx.target.stat("/dev/vhost-net")
        if st is not None and st.kind == "char":
            yield self.passed("/dev/vhost-net exists", resource="/dev/vhost-net", observed="char", expected="char")
            return
        message = "/dev/vhost-net does not exist: guest networking falls back to QEMU userspace (slower)"
        remediation = None
        try:
            config = ctx.fact(kernel_config)
        except TargetError:
            config = None
        if config and config.source and config.state("CONFIG_VHOST_NET") == "n":
            message += f"; the kernel is built without CONFIG_VHOST_NET ({config.source})"
            remediation = "use a kernel built with CONFIG_VHOST_NET=m"
        yield self.warn(message, resource="/dev/vhost-net", observed="absent" if st is None else st.kind,
                        expected="char", remediation=remediation)


class TunDevice(Check):
    meta = CheckMeta(
        id="host.kvm.tun",
        title="/dev/net/tun for the VM's tap interface",
        severity=Severity.HIGH,
        scope=(Scope.HOST,),
        remediation="load the tun module (modprobe tun)",
        docs=docs_link("host.kvm.tun"),
        description="libvirt attaches the VM to the bridge through a tap device created via /dev/net/tun.",
        fix="fix.kvm.tun",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        st = ctx.target.stat("/dev/net/tun")
        if st is not None and st.kind == "char":
            yield self.passed("/dev/net/tun exists", resource="/dev/net/tun", observed="char", expected="char")
        else:
            yield self.fail("/dev/net/tun does not exist: libvirt cannot create the VM's tap interface",
                            resource="/dev/net/tun", observed="absent" if st is None else st.kind, expected="char")


CHECKS = (CpuVirtualization, KvmDevice, VhostNet, TunDevice)
