"""IOMMU facts: firmware tables, kernel IOMMU units and groups, interrupt remapping, ACS.

The verdict "is the IOMMU on" is taken from what the kernel did (non-empty /sys/kernel/iommu_groups);
the command line and kernel config only explain why and what to change (see explain_inactive).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autoglm_doctor.facts.kernel import GarbageValue, KernelConfig
from autoglm_doctor.targets.base import NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target

ACPI_TABLES = "/sys/firmware/acpi/tables"
IOMMU_CLASS = "/sys/class/iommu"
IOMMU_GROUPS = "/sys/kernel/iommu_groups"
# ACPI tables that describe an IOMMU: Intel VT-d, AMD-Vi, Arm SMMU, virtio-iommu.
IOMMU_TABLES = {"DMAR": "Intel VT-d", "IVRS": "AMD-Vi", "IORT": "Arm SMMU", "VIOT": "virtio-iommu"}
VENDOR_TABLE = {"GenuineIntel": "DMAR", "AuthenticAMD": "IVRS", "HygonGenuine": "IVRS"}
ECAP_IR = 1 << 3  # VT-d extended capability register: interrupt remapping supported


@dataclass(frozen=True)
class IommuState:
    acpi_tables: tuple[str, ...] | None  # None: no ACPI tables in sysfs (not an ACPI system, or not captured)
    units: tuple[str, ...]  # /sys/class/iommu entries: dmar0, ivhd0, ...
    groups: dict[str, tuple[str, ...] | None]  # group -> device addresses; None: no devices/ directory
    group_types: dict[str, str] = field(default_factory=dict)  # DMA, DMA-FQ, identity, blocked...
    interrupt_remapping: bool | None = None  # from VT-d ecap; None when not readable

    @property
    def firmware_tables(self) -> tuple[str, ...]:
        return tuple(t for t in (self.acpi_tables or ()) if t in IOMMU_TABLES)

    @property
    def active(self) -> bool:
        return bool(self.groups)

    def group_of(self, address: str) -> str | None:
        for group, devices in self.groups.items():
            if devices and address in devices:
                return group
        return None


def _group_sort(name: str) -> tuple[int, str]:
    return (int(name), name) if name.isdigit() else (1 << 30, name)


def iommu_state(ctx: Context) -> IommuState:
    t = ctx.target
    try:
        tables = t.listdir(ACPI_TABLES)
    except NotCaptured:
        tables = None
    units = tuple(t.listdir(IOMMU_CLASS) or ())
    names = t.listdir(IOMMU_GROUPS)
    if names is None:
        raise TargetError(f"{IOMMU_GROUPS} does not exist: is sysfs mounted?")
    groups: dict[str, tuple[str, ...] | None] = {}
    types: dict[str, str] = {}
    for name in sorted(names, key=_group_sort):
        devices = t.listdir(f"{IOMMU_GROUPS}/{name}/devices")
        groups[name] = None if devices is None else tuple(devices)
        kind = t.read_text(f"{IOMMU_GROUPS}/{name}/type")
        if kind is not None:
            types[name] = kind.strip()
    if tables is not None:  # table names are upper case (SSDT1 too); data/ and dynamic/ are directories
        tables = [n for n in tables if n == n.upper()]
    return IommuState(tuple(tables) if tables is not None else None, units, groups, types, _interrupt_remapping(t, units))


def _interrupt_remapping(t: Any, units: tuple[str, ...]) -> bool | None:
    seen = None
    for unit in units:
        if not unit.startswith("dmar"):
            continue
        text = t.read_text(f"{IOMMU_CLASS}/{unit}/intel-iommu/ecap")
        if text is None:
            continue
        try:
            ecap = int(text.strip(), 16)
        except ValueError as exc:
            raise GarbageValue(f"{IOMMU_CLASS}/{unit}/intel-iommu/ecap holds {text.strip()[:40]!r}, not hex") from exc
        seen = bool(ecap & ECAP_IR) if seen is None else (seen and bool(ecap & ECAP_IR))
    return seen


# -- ACS from PCI config space ------------------------------------------------------------------
ACS_CAP_ID = 0x000D
ACS_BITS = ("SV", "TB", "RR", "CR", "UF", "EC", "DT")
ACS_NEEDED = ("SV", "RR", "CR", "UF")  # what the kernel's pci_acs_enabled() wants for isolation


def acs_state(target: Target, address: str) -> str:
    """A one-line description of a port's ACS capability and control, from its config space."""
    try:
        data = target.read_bytes(f"/sys/bus/pci/devices/{address}/config")
    except TargetError:
        return "config space not readable"
    if data is None:
        return "config space absent"
    if len(data) <= 256:
        return "extended config space not readable (run as root)"
    offset, hops = 0x100, 0
    while offset and offset + 8 <= len(data) and hops < 64:
        header = int.from_bytes(data[offset:offset + 4], "little")
        if header in (0, 0xFFFFFFFF):
            break
        if header & 0xFFFF == ACS_CAP_ID:
            cap = int.from_bytes(data[offset + 4:offset + 6], "little")
            ctrl = int.from_bytes(data[offset + 6:offset + 8], "little")
            on = [b for i, b in enumerate(ACS_BITS) if ctrl & (1 << i)]
            missing = [b for b in ACS_NEEDED if not ctrl & (1 << ACS_BITS.index(b))]
            if not missing:
                return f"ACS enabled ({' '.join(on)})"
            capable = [b for i, b in enumerate(ACS_BITS) if cap & (1 << i)]
            return f"ACS present but {' '.join(missing)} not enabled (capable: {' '.join(capable) or 'none'})"
        offset, hops = (header >> 20) & 0xFFC, hops + 1
    return "no ACS capability"


# -- explaining an inactive IOMMU ---------------------------------------------------------------
BIOS_NAMES = {
    "DMAR": "Intel VT-d ('Intel Virtualization Technology for Directed I/O')",
    "IVRS": "AMD-Vi ('IOMMU' / 'AMD-Vi' in the AMD CBS / NBIO menu; SVM alone is not enough)",
}


def explain_inactive(state: IommuState, cpu_vendor: str, cmdline: Any, config: Any, in_vm: bool) -> tuple[str, str]:
    """(why the kernel has no IOMMU groups, what to do). ``config`` may be None (not readable)."""
    expected = VENDOR_TABLE.get(cpu_vendor)
    present = state.firmware_tables
    iommu_off = cmdline.last("iommu") == "off"
    if state.acpi_tables is not None and not present:
        table = expected or "DMAR/IVRS"
        if in_vm:
            return (f"the ACPI tables have no {table}: this machine is itself a virtual machine and its hypervisor "
                    "exposes no IOMMU to it",
                    "pass the GPU through on the bare-metal host; inside a VM an IOMMU exists only if the hypervisor "
                    "emulates one (QEMU -device intel-iommu / virtio-iommu), which cannot pass on a physical GPU")
        what = BIOS_NAMES.get(expected or "", "VT-d (Intel) / AMD-Vi (AMD)")
        return (f"the firmware exposes no IOMMU: the ACPI tables ({', '.join(state.acpi_tables)}) have no {table}",
                f"enable {what} in the BIOS/UEFI setup; the kernel command line cannot turn on an IOMMU the "
                "firmware does not describe")
    if iommu_off:
        return ("the kernel command line disables every IOMMU (iommu=off)", "remove iommu=off from the kernel command line")
    if "DMAR" in present or (not present and cpu_vendor == "GenuineIntel"):
        return _explain_intel(cmdline, config)
    if "IVRS" in present or (not present and cpu_vendor in ("AuthenticAMD", "HygonGenuine")):
        return _explain_amd(cmdline, config)
    tables = ", ".join(present) or "none readable"
    return (f"IOMMU firmware tables: {tables}, but the kernel created no IOMMU groups",
            "check the kernel log (dmesg | grep -i -e iommu -e smmu) for why the IOMMU driver did not initialise")


def _config_state(config: KernelConfig | None, name: str) -> str | None:
    if config is None or not config.source:
        return None
    return config.state(name)


def _explain_intel(cmdline: Any, config: Any) -> tuple[str, str]:
    value = cmdline.last("intel_iommu")
    opts = (value or "").split(",")
    if "off" in opts:
        return ("DMAR is present but the command line turns the Intel IOMMU off (intel_iommu=off)",
                "replace intel_iommu=off with intel_iommu=on on the kernel command line")
    built = _config_state(config, "CONFIG_INTEL_IOMMU")
    if built == "n":
        return (f"the kernel is built without the Intel IOMMU driver (CONFIG_INTEL_IOMMU not set in {config.source})",
                "boot a kernel built with CONFIG_INTEL_IOMMU=y (any distribution kernel)")
    if "on" in opts:
        return ("DMAR is present and intel_iommu=on is on the command line, yet the kernel created no IOMMU groups",
                "read the kernel log (dmesg | grep -i -e DMAR -e IOMMU): broken DMAR tables are a firmware bug; "
                "update the BIOS")
    default_on = _config_state(config, "CONFIG_INTEL_IOMMU_DEFAULT_ON")
    if default_on == "y":
        return ("DMAR is present and the kernel enables the Intel IOMMU by default (CONFIG_INTEL_IOMMU_DEFAULT_ON=y), "
                "yet it created no IOMMU groups",
                "read the kernel log (dmesg | grep -i -e DMAR -e IOMMU) for why initialisation failed")
    why = ("CONFIG_INTEL_IOMMU_DEFAULT_ON is not set" if default_on == "n"
           else "the kernel config is not readable; most distribution kernels leave it off")
    return (f"DMAR is present but the Intel IOMMU is off by default in this kernel ({why}) and the command line does "
            "not turn it on",
            "add intel_iommu=on to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then "
            "update-grub or grub2-mkconfig) and reboot; iommu=pt is optional, for host I/O performance")


def _explain_amd(cmdline: Any, config: Any) -> tuple[str, str]:
    opts = (cmdline.last("amd_iommu") or "").split(",")
    if "off" in opts:
        return ("IVRS is present but the command line disables the AMD IOMMU (amd_iommu=off)",
                "remove amd_iommu=off from the kernel command line; the AMD IOMMU is on by default when the "
                "firmware describes it (there is no amd_iommu=on)")
    built = _config_state(config, "CONFIG_AMD_IOMMU")
    if built == "n":
        return (f"the kernel is built without the AMD IOMMU driver (CONFIG_AMD_IOMMU not set in {config.source})",
                "boot a kernel built with CONFIG_AMD_IOMMU=y (any distribution kernel)")
    return ("IVRS is present and the AMD IOMMU is on by default, yet the kernel created no IOMMU groups",
            "read the kernel log (dmesg | grep -i AMD-Vi): a broken IVRS table is a firmware bug, update the BIOS; "
            "do not add amd_iommu=on, it is not a valid value")
