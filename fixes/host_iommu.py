"""Plan for an inactive IOMMU: the kernel command-line change the explanation calls for, made with
the detected boot loader's own tool (facts/cmdline_plan.py). Only what the command line can fix is
planned: intel_iommu=off -> intel_iommu=on, intel_iommu missing on a kernel that leaves it off,
iommu=off or amd_iommu=off removed. A firmware without DMAR/IVRS or a kernel built without the
driver has no mechanical fix (BIOS setup, another kernel): the plan says so and changes nothing.
Never amd_iommu=on (not a valid value) and never pcie_acs_override (it hides isolation, it does not
create it)."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.cmdline import kernel_cmdline
from autoglm_doctor.facts.cmdline_plan import cmdline_changes
from autoglm_doctor.facts.cpu import cpu_info
from autoglm_doctor.facts.iommu import iommu_state
from autoglm_doctor.facts.kernel import kernel_config
from autoglm_doctor.targets.base import TargetError
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Fix, Plan


def wanted_args(vendor: str, tables: tuple[str, ...], cmdline: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(parameters to set, parameter keys to drop)."""
    add: list[str] = []
    remove: list[str] = []
    if cmdline.last("iommu") == "off":  # type: ignore[attr-defined]
        remove.append("iommu")
    intel = "DMAR" in tables or (not tables and vendor == "GenuineIntel")
    amd = "IVRS" in tables or (not tables and vendor in ("AuthenticAMD", "HygonGenuine"))
    if intel:
        opts = (cmdline.last("intel_iommu") or "").split(",")  # type: ignore[attr-defined]
        if "on" not in opts:
            add.append("intel_iommu=on")
    if amd and "off" in (cmdline.last("amd_iommu") or "").split(","):  # type: ignore[attr-defined]
        remove.append("amd_iommu")
    return tuple(add), tuple(remove)


class EnableIommu(Fix):
    meta = FixMeta(
        id="fix.iommu.enable",
        title="Turn the IOMMU on from the kernel command line (boot loader's own tool)",
        fixes=("host.iommu.active",),
        risk=Severity.HIGH,
        reboot_required=True,
        description="intel_iommu=on (or removing iommu=off / amd_iommu=off) through grubby on BootLoaderSpec "
                    "systems, /etc/default/grub + update-grub or grub2-mkconfig -o <grub.cfg>, or "
                    "/etc/kernel/cmdline; takes effect at the next boot. Firmware and kernel-build causes have "
                    "no mechanical fix.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        state = ctx.fact(iommu_state)
        cmdline = ctx.fact(kernel_cmdline)
        try:
            vendor = ctx.fact(cpu_info).vendor
        except Exception:  # noqa: BLE001 - unknown CPU: only the firmware tables decide
            vendor = ""
        if state.acpi_tables is not None and not state.firmware_tables:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings),
                        notes=("the firmware describes no IOMMU: enable VT-d / AMD-Vi (IOMMU) in the BIOS/UEFI setup; "
                               "no command-line change can help",))
        try:
            config = ctx.fact(kernel_config)
        except TargetError:
            config = None
        for name in ("CONFIG_INTEL_IOMMU", "CONFIG_AMD_IOMMU"):
            expected = "DMAR" if "INTEL" in name else "IVRS"
            if config is not None and config.source and expected in state.firmware_tables and config.state(name) == "n":
                return Plan(self.meta.id, self.meta.title, (), tuple(findings),
                            notes=(f"the kernel is built without {name} ({config.source}): boot a kernel that has "
                                   "it; no command-line change can help",))
        add, remove = wanted_args(vendor, state.firmware_tables, cmdline)
        if not add and not remove:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings),
                        notes=("the command line already asks for the IOMMU: see the finding (kernel build, "
                               "firmware bug in the DMAR/IVRS table)",))
        changes, notes, _bl = cmdline_changes(ctx.target, add, remove)
        notes.append("optional, for host I/O performance: iommu=pt (not added)")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), reboot_required=True,
                    notes=tuple(notes))


FIXES = (EnableIommu,)
