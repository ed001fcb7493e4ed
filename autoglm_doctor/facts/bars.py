"""PCI BAR sizes from sysfs (/sys/bus/pci/devices/ADDR/resource) and the guest's 64-bit MMIO window.

The kernel writes one line per resource, "start end flags" in hex: BARs 0-5, the expansion ROM, then
bridge windows. A passthrough GPU's 64-bit prefetchable BARs (an A100 40GB has a 64 GiB BAR1, an H100 80GB
128 GiB) must fit in the 64-bit PCI MMIO window the guest firmware opens; when they do not, the guest kernel
logs "BAR 1: no space for [mem size ... 64bit pref]" and the NVIDIA driver fails (RmInitAdapter failed).

The window: OVMF's ``X-PciMmio64Mb`` (fw_cfg, set through ``<qemu:commandline>``) when given, else the
``<pcihole64>`` of the root controller, else the defaults: QEMU's q35 reserves 32 GiB above RAM (pcihole64),
and OVMF (edk2 before 2023, as in Debian 12 and RHEL 9) opens a 32 GiB aperture; i440fx with SeaBIOS only
2 GiB. Newer OVMF sizes the window from the guest's physical address bits — the default here is the
conservative one the firmware most hosts ship guarantees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autoglm_doctor.facts.kernel import GarbageValue

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target

GIB = 1 << 30
IORESOURCE_IO = 0x100
IORESOURCE_MEM = 0x200
IORESOURCE_PREFETCH = 0x2000
IORESOURCE_MEM_64 = 0x100000
Q35_HOLE64_DEFAULT = 32 * GIB  # QEMU Q35_PCI_HOST_HOLE64_SIZE_DEFAULT (1 << 35)
I440FX_HOLE64_DEFAULT = 2 * GIB  # QEMU I440FX_PCI_HOST_HOLE64_SIZE_DEFAULT (1 << 31)
OVMF_MMIO64_DEFAULT = 32 * GIB  # OvmfPkg PcdPciMmio64Size 0x800000000


@dataclass(frozen=True)
class Bar:
    index: int
    size: int
    flags: int

    @property
    def mem64(self) -> bool:
        return bool(self.flags & IORESOURCE_MEM) and bool(self.flags & IORESOURCE_MEM_64)

    @property
    def prefetch(self) -> bool:
        return bool(self.flags & IORESOURCE_PREFETCH)

    def describe(self) -> str:
        kind = "64bit" if self.mem64 else ("io" if self.flags & IORESOURCE_IO else "32bit")
        return f"BAR{self.index} {human(self.size)} {kind}{' pref' if self.prefetch else ''}"


def human(size: int) -> str:
    for unit, factor in (("TiB", 1 << 40), ("GiB", GIB), ("MiB", 1 << 20), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B" if size < 1024 else f"{size / (1 << 20):.1f} MiB"


def parse_resource(text: str, path: str) -> list[Bar]:
    bars = []
    for index, line in enumerate(text.splitlines()[:6]):  # 6 BARs; the ROM and bridge windows follow
        parts = line.split()
        try:
            start, end, flags = (int(p, 16) for p in parts)
        except ValueError as exc:
            raise GarbageValue(f"{path} line {index + 1} holds {line[:60]!r}, not 'start end flags' in hex") from exc
        if end > start or (flags and end):
            bars.append(Bar(index, end - start + 1, flags))
    return bars


def read_bars(target: Target, address: str) -> list[Bar] | None:
    """The device's memory BARs; None when sysfs has no resource file for it."""
    path = f"/sys/bus/pci/devices/{address}/resource"
    text = target.read_text(path)
    return None if text is None else parse_resource(text, path)


def window_need(bars: list[Bar]) -> int:
    """Bytes of 64-bit window the BARs need: each BAR is aligned to its own (power-of-two) size, so the
    sum rounded up to the largest BAR is enough and, for power-of-two sizes, exact."""
    sizes = [b.size for b in bars if b.mem64]
    if not sizes:
        return 0
    largest = max(sizes)
    return -(-sum(sizes) // largest) * largest


@dataclass(frozen=True)
class Window:
    size: int
    source: str  # where the number comes from


def mmio64_window(dom: Any) -> Window:
    if dom.ovmf_mmio64_mb is not None and dom.uefi:
        return Window(dom.ovmf_mmio64_mb << 20, f"OVMF X-PciMmio64Mb={dom.ovmf_mmio64_mb} (qemu:commandline)")
    if dom.pcihole64_bytes:
        return Window(dom.pcihole64_bytes, f"<pcihole64> {human(dom.pcihole64_bytes)}")
    if dom.uefi:
        return Window(OVMF_MMIO64_DEFAULT, "OVMF's default 64-bit aperture (32 GiB)")
    if dom.q35:
        return Window(Q35_HOLE64_DEFAULT, "QEMU q35's default pcihole64 (32 GiB)")
    return Window(I440FX_HOLE64_DEFAULT, "QEMU i440fx's default pcihole64 (2 GiB)")
