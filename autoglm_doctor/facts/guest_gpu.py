"""The GPUs a guest (or container) sees: the guest's PCI bus, their BAR placement, and ``nvidia-smi -q -x``
run once per run through the target, parsed (facts/nvidia.py), or the reason it could not be: not
installed, the driver not answering, garbage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.facts.bars import IORESOURCE_MEM
from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.facts.nvidia import Smi, parse_smi_xml
from autoglm_doctor.facts.pci import PciDevice, pci_inventory

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

IORESOURCE_UNSET = 0x20000000


def guest_gpus(ctx: Context) -> list[PciDevice]:
    return sorted((d for d in ctx.fact(pci_inventory).devices.values() if d.is_gpu), key=lambda d: d.address)


def nvidia_gpus(ctx: Context) -> list[PciDevice]:
    return [d for d in guest_gpus(ctx) if d.vendor == 0x10DE]


def unassigned_bars(ctx: Context, dev: PciDevice) -> list[int]:
    """Indexes of memory BARs the kernel could not place (start 0, or flagged IORESOURCE_UNSET)."""
    text = ctx.target.read_text(f"/sys/bus/pci/devices/{dev.address}/resource") or ""
    out = []
    for index, line in enumerate(text.splitlines()[:6]):
        parts = line.split()
        try:
            start, end, flags = (int(p, 16) for p in parts)
        except ValueError:
            continue
        if flags & IORESOURCE_MEM and end and (start == 0 or flags & IORESOURCE_UNSET):
            out.append(index)
    return out


@dataclass(frozen=True)
class SmiState:
    smi: Smi | None
    error: str | None = None


def nvidia_smi(ctx: Context) -> SmiState:
    result = ctx.target.run(["nvidia-smi", "-q", "-x"], timeout=30)
    if result.not_found:
        return SmiState(None, "nvidia-smi is not installed (the NVIDIA driver's utilities)")
    if result.timed_out:
        return SmiState(None, "nvidia-smi did not answer within 30 s: the driver is hung (check Xid lines in dmesg)")
    if result.returncode != 0:
        said = " ".join((result.stdout + " " + result.stderr).split())[:200]
        return SmiState(None, f"nvidia-smi failed (exit {result.returncode}): {said or 'no output'}")
    try:
        return SmiState(parse_smi_xml(result.stdout))
    except GarbageValue as exc:
        return SmiState(None, str(exc))
