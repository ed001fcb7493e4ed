"""Inside the guest: a kernel the NVIDIA module is built for, the vCPUs and memory the VM was sized
with, room for the model weights, and a synchronised clock (trace timelines across host, guest and
containers are ordered by their clocks)."""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.cpu import cpu_info
from autoglm_doctor.facts.guest_gpu import nvidia_gpus
from autoglm_doctor.facts.kernel import kernel_release
from autoglm_doctor.facts.meminfo import meminfo
from autoglm_doctor.facts.nvidia import modules_loaded
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.targets.base import GarbageValue

GUEST = (Scope.GUEST,)
GIB = 1 << 30
# MemTotal excludes what firmware and the kernel keep (a 64 GiB guest shows about 62.8 GiB)
MEMTOTAL_SHARE = 0.9
MODULE_DIRS = ("updates/dkms", "extra", "kernel/drivers/video", "updates", "kernel/drivers/gpu/drm/nvidia")


class GuestKernel(Check):
    meta = CheckMeta(
        id="guest.system.kernel",
        title="The guest's running kernel has an NVIDIA module built for it",
        severity=Severity.HIGH,
        scope=GUEST,
        remediation="install the headers of the running kernel (apt install linux-headers-$(uname -r) / dnf install "
                    "kernel-devel-$(uname -r)) so DKMS builds the NVIDIA module, or boot the kernel it was built for",
        docs=docs_link("guest.system.kernel"),
        description="After a guest kernel upgrade the NVIDIA module exists only for the old kernel until DKMS "
                    "rebuilds it (it needs that kernel's headers); the driver then silently does not load.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        rel = ctx.fact(kernel_release)
        kw = dict(resource=rel.text, expected="nvidia.ko for the running kernel")
        if not nvidia_gpus(ctx):
            yield self.passed(f"guest kernel {rel.text} (no NVIDIA GPU in the guest: no module needed)",
                              observed=rel.text, **kw)
            return
        if "nvidia" in modules_loaded(ctx.target.read_text("/proc/modules")):
            yield self.passed(f"guest kernel {rel.text} has the nvidia module loaded", observed="loaded", **kw)
            return
        base = f"/lib/modules/{rel.text}"
        if ctx.target.listdir(base) is None:
            yield self.fail(f"/lib/modules/{rel.text} does not exist: the running kernel has no modules installed "
                            "at all (booted a kernel whose package was removed?)", observed="no module tree", **kw)
            return
        for sub in MODULE_DIRS:
            names = ctx.target.listdir(f"{base}/{sub}") or []
            if any(n.startswith("nvidia.ko") for n in names):
                yield self.passed(f"guest kernel {rel.text} has {base}/{sub}/nvidia.ko (not loaded yet: see "
                                  "guest.driver.vendor)", observed=f"{sub}/nvidia.ko", **kw)
                return
        headers = ctx.target.listdir(f"{base}/build") is not None
        why = ("its headers are installed, so DKMS failed to build it — see /var/lib/dkms/nvidia/*/build/make.log"
               if headers else "its headers are not installed, so DKMS could not build it")
        yield self.fail(f"no nvidia.ko for the running kernel {rel.text}: {why}", observed="no nvidia.ko", **kw)


class GuestResources(Check):
    meta = CheckMeta(
        id="guest.system.resources",
        title="The guest sees the vCPUs and memory the VM was sized with",
        severity=Severity.MEDIUM,
        scope=GUEST,
        remediation="raise <vcpu> and <memory>/<currentMemory> in the domain (virsh edit) to the profile's vm_vcpus "
                    "and vm_memory_gb, and check that no balloon driver took memory back",
        docs=docs_link("guest.system.resources"),
        description="Online CPUs and MemTotal inside the guest against profile vm_vcpus / vm_memory_gb (MemTotal "
                    "may be up to 10% below the configured size: firmware and kernel reservations).",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        cpus = ctx.fact(cpu_info).logical_cpus
        mem = ctx.fact(meminfo).get("MemTotal")
        if mem is None:
            raise GarbageValue("/proc/meminfo has no MemTotal line")
        want_cpus, want_gb = ctx.profile.get("vm_vcpus"), ctx.profile.get("vm_memory_gb")
        if want_cpus is None and want_gb is None:
            yield self.passed(f"{cpus} vCPUs and {mem / GIB:.1f} GiB (profile sets no vm_vcpus / vm_memory_gb)",
                              resource="resources", observed={"vcpus": cpus, "memory_gib": round(mem / GIB, 1)},
                              expected="profile vm_vcpus / vm_memory_gb")
            return
        if want_cpus is not None:
            yield self.pass_or_fail(cpus >= want_cpus, f"{cpus} vCPUs online (profile: {want_cpus})",
                                    f"the guest has {cpus} vCPUs online, the profile wants {want_cpus}",
                                    resource="vcpus", observed=cpus, expected=want_cpus)
        if want_gb is not None:
            yield self.pass_or_fail(mem >= want_gb * GIB * MEMTOTAL_SHARE,
                                    f"{mem / GIB:.1f} GiB of memory (profile: {want_gb:g} GiB)",
                                    f"the guest has {mem / GIB:.1f} GiB, the profile wants {want_gb:g} GiB",
                                    resource="memory", observed=f"{mem / GIB:.1f} GiB", expected=f"{want_gb:g} GiB")


class WeightsDisk(Check):
    meta = CheckMeta(
        id="guest.system.disk",
        title="There is room for the model weights",
        severity=Severity.HIGH,
        scope=GUEST,
        runs_on=(Scope.HOST, Scope.GUEST),
        remediation="grow the guest's disk (virsh blockresize + growpart + resize2fs/xfs_growfs) or point "
                    "profile.model_path at a larger filesystem",
        docs=docs_link("guest.system.disk"),
        description="Free space on the filesystem of profile.model_path (else /): the weights (profile "
                    "model_weights_gb, default 20 GiB for a 9B model in bf16) when they are not there yet, 5 GiB "
                    "of headroom (compile caches, logs) when they are.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        path = ctx.profile.get("model_path") or "/"
        present = path != "/" and ctx.target.stat(f"{path}/config.json") is not None
        probe = path
        while ctx.target.stat(probe) is None and probe != "/":
            probe = probe.rsplit("/", 1)[0] or "/"
        usage = ctx.target.disk_usage(probe)
        if usage is None:
            raise GarbageValue(f"no filesystem answers for {probe}")
        need_gb = 5.0 if present else float(ctx.profile.get("model_weights_gb"))
        free_gb = usage.free / GIB
        what = "headroom beside the weights" if present else "the weights"
        yield self.pass_or_fail(free_gb >= need_gb, f"{free_gb:.1f} GiB free on {probe} ({need_gb:g} GiB needed for {what})",
                                f"{free_gb:.1f} GiB free on {probe}, {need_gb:g} GiB needed for {what}",
                                resource=path, observed=f"{free_gb:.1f} GiB free on {probe}",
                                expected=f">= {need_gb:g} GiB for {what}")


class ClockSync(Check):
    meta = CheckMeta(
        id="guest.system.clock",
        title="The clock is synchronised",
        severity=Severity.MEDIUM,
        scope=GUEST,
        runs_on=(Scope.HOST, Scope.GUEST),
        remediation="run a time sync daemon (chrony or systemd-timesyncd) against the same servers as the host; in a "
                    "KVM guest also keep kvm-clock as the clocksource",
        docs=docs_link("guest.system.clock"),
        description="chronyc tracking (leap status and offset), else timedatectl's NTPSynchronized, else "
                    "systemd-timesyncd's /run/systemd/timesync/synchronized. Log correlation across host, guest "
                    "and containers orders events by these clocks.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        limit_ms = float(ctx.profile.get("clock_max_offset_ms"))
        t = ctx.target
        chrony = t.run(["chronyc", "-c", "tracking"], timeout=5)
        if chrony.ok and chrony.stdout.count(",") >= 13:
            fields = chrony.stdout.strip().split(",")
            leap, offset_ms = fields[13], abs(float(fields[4])) * 1000 if _num(fields[4]) else None
            kw = dict(resource="chrony", expected=f"synchronised, |offset| <= {limit_ms:g} ms")
            if leap.lower().startswith("not synchron") or offset_ms is None:
                yield self.fail(f"chrony is not synchronised ({leap})", observed=leap, **kw)
            elif offset_ms > limit_ms:
                yield self.warn(f"chrony is synchronised but {offset_ms:.1f} ms off", observed=f"{offset_ms:.1f} ms", **kw)
            else:
                yield self.passed(f"chrony is synchronised ({offset_ms:.1f} ms off)", observed=f"{offset_ms:.1f} ms", **kw)
            return
        tdc = t.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], timeout=5)
        if tdc.ok and tdc.stdout.strip() in ("yes", "no"):
            yield self.pass_or_fail(tdc.stdout.strip() == "yes", "the system clock is NTP-synchronised (timedatectl)",
                                    "the system clock is not NTP-synchronised (timedatectl NTPSynchronized=no)",
                                    resource="timedatectl", observed=f"NTPSynchronized={tdc.stdout.strip()}",
                                    expected="yes")
            return
        if t.stat("/run/systemd/timesync/synchronized") is not None:
            yield self.passed("systemd-timesyncd has synchronised the clock", resource="timesyncd",
                              observed="synchronized", expected="synchronised")
            return
        yield self.warn("no clock synchronisation found (no chronyc, no timedatectl, no timesyncd state): the clock "
                        "drifts, and trace timelines across host, guest and containers go out of order",
                        resource="clock", observed="none", expected="chrony or systemd-timesyncd")


def _num(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


CHECKS = (GuestKernel, GuestResources, WeightsDisk, ClockSync)
