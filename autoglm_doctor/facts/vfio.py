"""What must be bound to vfio-pci for each passthrough GPU, and what binds it at boot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from autoglm_doctor.facts.iommu import iommu_state
from autoglm_doctor.facts.kernel import kernel_config
from autoglm_doctor.facts.modprobe import ids_cover, modprobe_config, module_name, parse_vfio_ids
from autoglm_doctor.facts.pci import AMD_ATI, NVIDIA, PciDevice, passthrough_gpus, pci_inventory
from autoglm_doctor.targets.base import NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

VFIO_DRIVERS = ("vfio_pci", "nvgrace_gpu_vfio_pci")
DRIVER_MODULE = {"xhci_hcd": "xhci_pci", "snd_hda_intel": "snd_hda_intel"}  # driver name -> module name


def is_vfio_driver(driver: str | None) -> bool:
    return driver is not None and module_name(driver) in VFIO_DRIVERS


def devices_to_bind(ctx: Context) -> list[tuple[PciDevice, str]]:
    """(device, why) for every passthrough GPU, then every non-bridge device of its IOMMU group
    (or, without an IOMMU group, the other functions of the same card), without duplicates."""
    inv = ctx.fact(pci_inventory)
    try:
        state = ctx.fact(iommu_state)
    except TargetError:
        state = None
    out: dict[str, tuple[PciDevice, str]] = {}
    for gpu in ctx.fact(passthrough_gpus).gpus:
        out.setdefault(gpu.address, (gpu, "passthrough GPU"))
        members = state.groups.get(gpu.iommu_group) if state and gpu.iommu_group else None
        if members:
            peers: Sequence[PciDevice | None] = [inv.get(a) for a in members if a != gpu.address]
            why = f"in the IOMMU group {gpu.iommu_group} of {gpu.address}"
        else:
            peers = inv.same_card(gpu)
            why = f"another function of {gpu.address}"
        for dev in peers:
            if dev is None or dev.is_bridge:
                continue
            reason = f"function of the same card as {gpu.address}" if dev.slot == gpu.slot else why
            out.setdefault(dev.address, (dev, reason))
    return list(out.values())


def native_modules(dev: PciDevice) -> list[str]:
    """Host modules that would claim this device at boot if vfio-pci did not get there first."""
    mods = []
    if dev.driver and not is_vfio_driver(dev.driver) and dev.driver != "pci-stub":
        mods.append(DRIVER_MODULE.get(module_name(dev.driver), module_name(dev.driver)))
    base = dev.base_class
    if dev.is_gpu and dev.vendor == NVIDIA:
        mods.append("nouveau")
    elif dev.is_gpu and dev.vendor == AMD_ATI:
        mods.append("amdgpu")
    elif base == 0x0403:
        mods.append("snd_hda_intel")
    elif base == 0x0C03:
        mods.append("xhci_pci")
    elif base == 0x0C80 and dev.vendor == NVIDIA:
        mods.append("i2c_nvidia_gpu")
    return list(dict.fromkeys(mods))


def vfio_pci_builtin(ctx: Context) -> bool | None:
    """True when vfio-pci is built into the kernel (modprobe.d options are then ignored)."""
    t = ctx.target
    if t.stat("/sys/module/vfio_pci") is not None:
        return t.stat("/sys/module/vfio_pci/initstate") is None
    try:
        config = ctx.fact(kernel_config)
    except TargetError:
        return None
    if not config.source:
        return None
    return config.state("CONFIG_VFIO_PCI") == "y"


@dataclass(frozen=True)
class BootBinding:
    sources: tuple[str, ...]  # what binds the device to vfio-pci at boot
    ignored: tuple[str, ...]  # settings that look like they would, but do not
    unordered: tuple[str, ...]  # native modules that may claim the device first
    ordered: tuple[str, ...]  # native modules kept off it, and how


def boot_binding(ctx: Context, dev: PciDevice) -> BootBinding:
    cfg = ctx.fact(modprobe_config)
    builtin = vfio_pci_builtin(ctx)
    sources, ignored = [], []
    cmd_ids = cfg.cmdline_param("vfio_pci", "ids")
    if ids_cover(parse_vfio_ids(cmd_ids), dev.vendor, dev.device, dev.subsystem_vendor, dev.subsystem_device):
        sources.append(f"vfio-pci.ids={cmd_ids} on the kernel command line")
    conf_ids, where = cfg.param("vfio_pci", "ids")
    if ids_cover(parse_vfio_ids(conf_ids), dev.vendor, dev.device, dev.subsystem_vendor, dev.subsystem_device):
        text = f"options vfio-pci ids={conf_ids} ({where})"
        if builtin:
            ignored.append(text + ": ignored, vfio_pci is built into this kernel and reads only the command line")
        else:
            sources.append(text)
    try:
        driverctl = ctx.target.read_text(f"/etc/driverctl.d/pci-{dev.address}")
    except NotCaptured:
        driverctl = None
    if driverctl is not None and module_name(driverctl.strip()) in VFIO_DRIVERS:
        sources.append(f"driverctl override /etc/driverctl.d/pci-{dev.address}")
    unordered: list[str] = []
    ordered: list[str] = []
    for mod in native_modules(dev):
        how = cfg.blocked(mod) or cfg.loads_before(mod, "vfio_pci")
        if how is None and builtin and sources:
            how = "vfio-pci is built in and binds before any module loads"
        (ordered if how else unordered).append(f"{mod}: {how}" if how else mod)
    return BootBinding(tuple(sources), tuple(ignored), tuple(unordered), tuple(ordered))


# the file fix.vfio.bind writes; the advice names the same file
VFIO_CONF = "/etc/modprobe.d/autoglm-doctor-vfio.conf"


@dataclass(frozen=True)
class Recommendation:
    ids: tuple[str, ...]  # vendor:device of every device to bind
    softdeps: tuple[str, ...]  # native modules to order after vfio-pci
    builtin: bool  # vfio-pci built in: only the kernel command line works
    # devices the host keeps with the same vendor:device (ids= would take them too), and the addresses to
    # bind: then the binding is per address (driver_override, persisted by driverctl), never ids=
    twins: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()

    @property
    def conf_lines(self) -> tuple[str, ...]:
        return (f"options vfio-pci ids={','.join(self.ids)}",) + tuple(f"softdep {m} pre: vfio-pci" for m in self.softdeps)

    def text(self) -> str:
        if self.twins:
            return (f"ids={','.join(self.ids)} would also take {', '.join(self.twins)} (same vendor:device, kept by the "
                    "host): bind per address instead, "
                    + "; ".join(f"driverctl set-override {a} vfio-pci" for a in self.addresses)
                    + " (persisted in /etc/driverctl.d, re-applied at every boot)")
        if self.builtin:
            return (f"vfio-pci is built into this kernel: add vfio-pci.ids={','.join(self.ids)} to the kernel command "
                    "line (GRUB_CMDLINE_LINUX), update-grub, reboot")
        return ("; ".join(repr(line) for line in self.conf_lines) + f" in {VFIO_CONF}, then rebuild the "
                "initramfs (update-initramfs -u, or dracut -f) and reboot")


def recommendation(ctx: Context) -> Recommendation:
    return recommendation_for(ctx, [dev for dev, _why in devices_to_bind(ctx)])


def recommendation_for(ctx: Context, devices: list[PciDevice]) -> Recommendation:
    ids = tuple(dict.fromkeys(dev.ids for dev in devices))
    mods = tuple(dict.fromkeys(m for dev in devices for m in native_modules(dev)))
    mine = {dev.address for dev in devices}
    twins = tuple(sorted(d.address for d in ctx.fact(pci_inventory).devices.values()
                         if d.ids in ids and d.address not in mine))
    return Recommendation(ids, mods, bool(vfio_pci_builtin(ctx)), twins, tuple(sorted(mine)))
