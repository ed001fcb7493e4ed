"""Inside the guest: the passed-through GPU is on the guest's PCI bus with its BARs assigned, the vendor
driver (not nouveau) owns it, nvidia-smi answers, persistence and — on NVSwitch (HGX) systems — the
fabric manager are up, and neither ECC nor Xid errors say the GPU is failing.

These run on a guest target (ssh://, libvirt:DOMAIN, or a snapshot of a guest) and read only through it.
A GPU whose BAR did not fit the guest's MMIO window is on the bus but unusable: the kernel logs
"BAR 1: no space for [mem size … 64bit pref]" and the NVIDIA driver fails in RmInitAdapter — the domain
side of that failure is vm.hostdev.bars."""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.nvidia import (
    FATAL_XIDS,
    NVSWITCH_DEVICE_IDS,
    SECURE_BOOT_VAR,
    driver_version,
    kernel_log,
    modules_loaded,
    secure_boot,
    signature_refusals,
    xids,
)
from autoglm_doctor.facts.guest_gpu import guest_gpus, nvidia_gpus, nvidia_smi, unassigned_bars
from autoglm_doctor.facts.pci import PciDevice, pci_inventory
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity

GUEST = (Scope.GUEST,)
NOUVEAU_FIX = ("blacklist nouveau: printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' > "
               "/etc/modprobe.d/blacklist-nouveau.conf, rebuild the initramfs (update-initramfs -u / dracut -f) "
               "and reboot the guest")


class GpuVisible(Check):
    meta = CheckMeta(
        id="guest.gpu.visible",
        title="The passed-through GPU is on the guest's PCI bus with its BARs assigned",
        severity=Severity.CRITICAL,
        scope=GUEST,
        remediation="pass the GPU (and its audio function) to the domain as a managed PCI hostdev "
                    "(see vm.hostdev.*) and give the guest a 64-bit MMIO window large enough for its BARs "
                    "(see vm.hostdev.bars)",
        docs=docs_link("guest.gpu.visible"),
        description="An NVIDIA (0x10de) or AMD (0x1002) device of class 0300/0302/0380 in the guest's sysfs; "
                    "every memory BAR placed (an unplaced BAR is the 'BAR 1: no space' failure).",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        gpus = guest_gpus(ctx)
        if not gpus:
            seen = ", ".join(sorted(d.ids for d in ctx.fact(pci_inventory).devices.values())) or "none"
            yield self.fail("no NVIDIA or AMD GPU on the guest's PCI bus: the domain has no GPU hostdev, or the "
                            "host could not hand it over (see vm.hostdev.* and the domain's QEMU log)",
                            resource="gpus", observed=f"PCI devices: {seen}", expected="a GPU of class 03xx")
            return
        log = kernel_log(ctx) or ""
        for dev in gpus:
            missing = unassigned_bars(ctx, dev)
            if missing:
                lines = [ln.strip() for ln in log.splitlines() if dev.address in ln and "no space" in ln][-2:]
                yield self.fail(f"{dev.describe()}: BAR {', '.join(map(str, missing))} not assigned — the guest's "
                                "64-bit MMIO window is too small, so the driver cannot map the GPU"
                                + (f" (kernel: {lines[-1]})" if lines else ""),
                                resource=dev.address, observed=f"unassigned BARs {missing}",
                                expected="every memory BAR assigned",
                                remediation="enlarge the guest's 64-bit MMIO window (vm.hostdev.bars, fix.vm.domain_xml)")
            else:
                yield self.passed(f"{dev.describe()} is visible with its BARs assigned", resource=dev.address,
                                  observed=dev.ids, expected="GPU with assigned BARs")


class NouveauAbsent(Check):
    meta = CheckMeta(
        id="guest.driver.nouveau",
        title="nouveau is not loaded in the guest",
        severity=Severity.HIGH,
        scope=GUEST,
        remediation=NOUVEAU_FIX,
        docs=docs_link("guest.driver.nouveau"),
        description="The in-tree nouveau driver claims NVIDIA GPUs first and keeps the NVIDIA driver from binding.",
        requires=("guest.gpu.visible",),
        fix="fix.guest.nouveau_blacklist",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        if not nvidia_gpus(ctx):
            yield self.skip("no NVIDIA GPU in the guest: nouveau does not matter", resource="nouveau")
            return
        loaded = "nouveau" in modules_loaded(ctx.target.read_text("/proc/modules"))
        if loaded:
            held = [d.address for d in nvidia_gpus(ctx) if d.driver == "nouveau"]
            yield self.fail("nouveau is loaded" + (f" and drives {', '.join(held)}" if held else ""),
                            resource="nouveau", observed="loaded", expected="not loaded")
        else:
            yield self.passed("nouveau is not loaded", resource="nouveau", observed="not loaded", expected="not loaded")


class VendorDriver(Check):
    meta = CheckMeta(
        id="guest.driver.vendor",
        title="The GPU vendor's driver owns each GPU in the guest",
        severity=Severity.CRITICAL,
        scope=GUEST,
        remediation="install the NVIDIA driver (the datacenter driver for A100/H100) matching the guest kernel, "
                    "or amdgpu for AMD GPUs; under Secure Boot sign the module (MOK) or disable Secure Boot",
        docs=docs_link("guest.driver.vendor"),
        description="Each GPU's bound driver from sysfs (nvidia or amdgpu); an NVIDIA driver refused for a "
                    "missing signature under Secure Boot is named as such (kernel log, SecureBoot EFI variable).",
        requires=("guest.gpu.visible",),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        t = ctx.target
        version = driver_version(t.read_text("/proc/driver/nvidia/version"))
        for dev in guest_gpus(ctx):
            want = "nvidia" if dev.vendor == 0x10DE else "amdgpu"
            if dev.driver == want:
                detail = f" {version}" if want == "nvidia" and version else ""
                yield self.passed(f"{dev.address} is driven by {want}{detail}", resource=dev.address,
                                  observed=dev.driver + detail, expected=want)
                continue
            if dev.driver == "nouveau":
                yield self.fail(f"{dev.address} is driven by nouveau, not {want}", resource=dev.address,
                                observed="nouveau", expected=want, remediation=NOUVEAU_FIX)
                continue
            yield self.fail(self._why_unbound(ctx, dev, want), resource=dev.address,
                            observed=dev.driver or "no driver", expected=want)

    def _why_unbound(self, ctx: Context, dev: PciDevice, want: str) -> str:
        t = ctx.target
        loaded = modules_loaded(t.read_text("/proc/modules")) | {m for m in (want,) if t.stat(f"/sys/module/{m}")}
        log = kernel_log(ctx) or ""
        refused = [ln for ln in signature_refusals(log) if want in ln or "unsigned" in ln.lower()]
        sb = secure_boot(t.read_bytes(SECURE_BOOT_VAR))
        if sb and refused:
            return (f"{dev.address} has no driver: Secure Boot is on and the kernel refused the unsigned {want} "
                    f"module ({refused[-1][-120:]}); sign it with a MOK key (mokutil --import) or turn Secure "
                    "Boot off in the domain's OVMF")
        if want in loaded:
            lines = [ln.strip() for ln in log.splitlines() if "NVRM" in ln or "amdgpu" in ln][-1:]
            return (f"{dev.address} has no driver although {want} is loaded: it failed to initialise the GPU"
                    + (f" ({lines[0][-160:]})" if lines else "") + " — see the kernel log (dmesg)")
        hint = " (Secure Boot is on: the module must be signed)" if sb else ""
        return f"{dev.address} has no driver: the {want} module is not loaded{hint}"


class NvidiaSmi(Check):
    meta = CheckMeta(
        id="guest.nvidia.smi",
        title="nvidia-smi answers and sees every NVIDIA GPU of the guest",
        severity=Severity.CRITICAL,
        scope=GUEST,
        runs_on=(Scope.GUEST, Scope.CONTAINER),
        remediation="install the NVIDIA driver's utilities (nvidia-utils / the driver's .run) matching the "
                    "loaded kernel module; a version mismatch after an upgrade needs a reboot",
        docs=docs_link("guest.nvidia.smi"),
        description="Parses `nvidia-smi -q -x`; the GPUs it lists must be the NVIDIA GPUs on the bus.",
        requires=("guest.driver.vendor",),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        on_bus = {d.address for d in nvidia_gpus(ctx)}
        if not on_bus:
            yield self.skip("no NVIDIA GPU in the guest", resource="nvidia-smi")
            return
        smi = ctx.fact(nvidia_smi)
        if smi.error:
            yield self.fail(smi.error, resource="nvidia-smi", observed=smi.error, expected="nvidia-smi -q -x answers")
            return
        assert smi.smi is not None
        seen = {g.bus_id for g in smi.smi.gpus}
        kw = dict(resource="nvidia-smi", expected=sorted(on_bus))
        if seen != on_bus:
            yield self.fail(f"nvidia-smi lists {sorted(seen) or 'no GPU'} but the bus has {sorted(on_bus)}",
                            observed=sorted(seen), **kw)
            return
        yield self.passed(f"nvidia-smi (driver {smi.smi.driver_version}, CUDA {smi.smi.cuda_version or '?'}) sees "
                          f"{len(seen)} GPU{'s' if len(seen) != 1 else ''}: "
                          + ", ".join(f"{g.name} {g.memory_mib or '?'} MiB" for g in smi.smi.gpus),
                          observed=sorted(seen), **kw)


class Persistenced(Check):
    meta = CheckMeta(
        id="guest.nvidia.persistenced",
        title="nvidia-persistenced keeps the GPUs initialised",
        severity=Severity.MEDIUM,
        scope=GUEST,
        remediation="systemctl enable --now nvidia-persistenced (or nvidia-smi -pm 1)",
        docs=docs_link("guest.nvidia.persistenced"),
        description="Without persistence the driver tears the GPU down when the last client exits, so every "
                    "model-server start pays seconds of re-initialisation (and ECC state is lost).",
        requires=("guest.nvidia.smi",),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        smi = ctx.fact(nvidia_smi).smi
        running = ctx.target.run(["pidof", "nvidia-persistenced"], timeout=5).ok
        modes = {g.bus_id: g.persistence for g in smi.gpus} if smi else {}
        if running or (modes and all(m == "Enabled" for m in modes.values())):
            yield self.passed("persistence is on" + (" (nvidia-persistenced runs)" if running else ""),
                              resource="persistence", observed=modes or "daemon running", expected="Enabled")
        else:
            yield self.warn("nvidia-persistenced is not running and persistence mode is off", resource="persistence",
                            observed=modes or "daemon not running", expected="Enabled")


class FabricManager(Check):
    meta = CheckMeta(
        id="guest.nvidia.fabricmanager",
        title="On NVSwitch (HGX) systems the fabric manager has trained the fabric",
        severity=Severity.CRITICAL,
        scope=GUEST,
        remediation="install the nvidia-fabricmanager package of exactly the driver's version and "
                    "systemctl enable --now nvidia-fabricmanager",
        docs=docs_link("guest.nvidia.fabricmanager"),
        description="With NVSwitches present, CUDA refuses to start (error 802, 'system not yet initialized') "
                    "until nv-fabricmanager has trained the fabric: nvidia-smi shows fabric state Completed.",
        requires=("guest.nvidia.smi",),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        switches = [d for d in ctx.fact(pci_inventory).devices.values()
                    if d.vendor == 0x10DE and (d.device in NVSWITCH_DEVICE_IDS or d.class_code >> 8 == 0x0680)]
        if not switches:
            yield self.skip("no NVSwitch in the guest: no fabric to manage", resource="fabric")
            return
        smi = ctx.fact(nvidia_smi).smi
        running = ctx.target.run(["pidof", "nv-fabricmanager"], timeout=5).ok
        untrained = [f"{g.bus_id} {g.fabric_state or '?'}/{g.fabric_status or '?'}" for g in (smi.gpus if smi else ())
                     if g.fabric_state != "Completed" or (g.fabric_status or "Success") != "Success"]
        kw = dict(resource="fabric", expected="nv-fabricmanager running, fabric Completed/Success")
        if not running:
            yield self.fail(f"{len(switches)} NVSwitch(es) but nv-fabricmanager is not running: CUDA fails with "
                            "'system not yet initialized'", observed="not running", **kw)
        elif untrained:
            yield self.fail(f"nv-fabricmanager runs but the fabric is not trained: {', '.join(untrained)}",
                            observed=untrained, **kw)
        else:
            yield self.passed(f"nv-fabricmanager runs; the fabric of {len(switches)} NVSwitch(es) is trained",
                              observed="Completed", **kw)


class GpuErrors(Check):
    meta = CheckMeta(
        id="guest.nvidia.errors",
        title="No uncorrectable ECC errors and no fatal Xid events",
        severity=Severity.HIGH,
        scope=GUEST,
        remediation="reset the GPU (nvidia-smi -r) or reboot the guest; recurring fatal Xids or uncorrectable ECC "
                    "errors mean the card needs service (RMA) — check the host's kernel log for AER errors too",
        docs=docs_link("guest.nvidia.errors"),
        description="Volatile uncorrectable ECC counts from nvidia-smi and NVRM Xid lines from the kernel log; "
                    "Xids in NVIDIA's catalogue of hardware faults (48, 63, 64, 74, 79, 92, 94, 95, 119, 120) fail, "
                    "others (application faults such as 13, 31, 43) warn.",
        requires=("guest.driver.vendor",),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        if not nvidia_gpus(ctx):
            yield self.skip("no NVIDIA GPU in the guest", resource="errors")
            return
        state = ctx.fact(nvidia_smi)
        ecc = {g.bus_id: g.ecc_uncorrectable for g in state.smi.gpus} if state.smi else {}
        bad_ecc = {k: v for k, v in ecc.items() if v}
        log = kernel_log(ctx)
        events = xids(log or "")
        fatal = sorted({f"Xid {x.code} ({FATAL_XIDS[x.code]}) on {x.device}" for x in events if x.fatal})
        other = sorted({f"Xid {x.code} on {x.device}" for x in events if not x.fatal})
        kw = dict(resource="errors", expected="no uncorrectable ECC errors, no fatal Xid")
        if bad_ecc or fatal:
            parts = [f"{n} uncorrectable ECC error(s) on {b}" for b, n in sorted(bad_ecc.items())] + fatal
            yield self.fail("; ".join(parts), observed={"ecc": ecc, "xid": [x.code for x in events]}, **kw)
        elif other:
            yield self.warn("application Xid events in the kernel log: " + ", ".join(other) + " (a CUDA program "
                            "faulted; not a hardware error)", observed=[x.code for x in events], **kw)
        else:
            where = "the kernel log" if log is not None else "nvidia-smi (the kernel log was not readable)"
            yield self.passed(f"no uncorrectable ECC error and no Xid event in {where}", observed={"ecc": ecc}, **kw)


CHECKS = (GpuVisible, NouveauAbsent, VendorDriver, NvidiaSmi, Persistenced, FabricManager, GpuErrors)
