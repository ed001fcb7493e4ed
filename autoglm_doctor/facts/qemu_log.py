"""A domain's QEMU log (/var/log/libvirt/qemu/NAME.log, written by virtlogd), read through the Target, and
the VFIO/memory messages that explain why a passthrough guest did not start.

libvirt appends one section per start: a "starting up" header, the QEMU command line, whatever QEMU
printed, and "shutting down, reason=..." at the end. Only the last section speaks of the last start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.targets.base import TargetError, TooLarge

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target

LOG_DIR = "/var/log/libvirt/qemu"
READ_LIMIT = 1 << 20  # a whole log up to 1 MiB; larger ones are tailed
TAIL_BYTES = 256 * 1024
_SECTION = re.compile(r"^\S+ \S+: starting up ", re.M)

# (pattern, what it means, what to do) — QEMU's own wording (hw/vfio, softmmu), matched case-sensitively
KNOWN: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"group (\d+) is not viable"),
     "VFIO group {0} is not viable: another device of that IOMMU group is still bound to a host driver",
     "bind every device of IOMMU group {0} to vfio-pci (see host.vfio.binding / host.iommu.group_isolation), "
     "or pass them all to the guest"),
    (re.compile(r"Failed to set iommu for container"),
     "the kernel refused to attach the VFIO container to the IOMMU: usually no interrupt remapping "
     "(dmesg: 'No interrupt remapping support') or an IOMMU that is not enabled",
     "enable interrupt remapping in the BIOS (VT-d/AMD-Vi with x2APIC), or as a last resort "
     "options vfio_iommu_type1 allow_unsafe_interrupts=1; check host.iommu.active"),
    (re.compile(r"BAR ?(\d+)\b.*no space", re.I),
     "BAR {0} found no space: the 64-bit MMIO window is smaller than the GPU's BARs",
     "enlarge the window (vm.hostdev.bars: pcihole64 or -fw_cfg opt/ovmf/X-PciMmio64Mb)"),
    (re.compile(r"Failed to mmap (\S+) BAR (\d+)"),
     "QEMU could not mmap {0} BAR {1}: a host framebuffer (efifb/simpledrm/vesafb) still claims the BAR, "
     "so the guest's accesses trap and crawl or fail",
     "keep host framebuffers off the GPU: video=efifb:off (or initcall_blacklist=sysfb_init) on the kernel "
     "command line, and bind vfio-pci early"),
    (re.compile(r"VFIO_MAP_DMA.*Cannot allocate memory|vfio_dma_map.*-12"),
     "VFIO could not pin the guest's memory: the locked-memory limit is too low or the host is out of memory",
     "libvirt raises the limit for managed hostdevs itself; with <memoryBacking><locked/> set "
     "<memtune><hard_limit> above the guest's memory, and check host.resources.memory/hugepages"),
    (re.compile(r"unable to map backing store for guest RAM|cannot set up guest memory"),
     "QEMU could not allocate the guest's RAM (hugepages pool too small or host memory exhausted)",
     "reserve enough hugepages (host.resources.hugepages) or lower the domain's memory"),
    (re.compile(r"vfio.*(?:[Nn]o available reset mechanism|Cannot reset device)"),
     "the device has no usable reset: it may be left in a bad state between guest boots",
     "reset the card by rebooting the host; prefer GPUs with FLR (reset_method)"),
)


@dataclass(frozen=True)
class Decoded:
    line: str
    meaning: str
    action: str


@dataclass(frozen=True)
class QemuLog:
    path: str
    text: str | None  # the last start's section; None: no log
    error: str = ""  # unreadable

    def tail(self, n: int = 8) -> list[str]:
        return [ln for ln in (self.text or "").splitlines() if ln.strip()][-n:]

    def decoded(self) -> list[Decoded]:
        out: list[Decoded] = []
        seen: set[str] = set()
        for line in (self.text or "").splitlines():
            for pattern, meaning, action in KNOWN:
                m = pattern.search(line)
                if m and meaning not in seen:
                    seen.add(meaning)
                    out.append(Decoded(line.strip()[:300], meaning.format(*m.groups()), action.format(*m.groups())))
        return out


def last_section(text: str) -> str:
    starts = [m.start() for m in _SECTION.finditer(text)]
    return text[starts[-1]:] if starts else text


def read_qemu_log(target: Target, name: str) -> QemuLog:
    path = f"{LOG_DIR}/{name}.log"
    try:
        try:
            data = target.read_bytes(path, limit=READ_LIMIT)
        except TooLarge:
            if not target.can_run:
                return QemuLog(path, None, f"{path} is larger than {READ_LIMIT} bytes and this target cannot tail it")
            result = target.run(["tail", "-c", str(TAIL_BYTES), path])
            if not result.ok:
                return QemuLog(path, None, f"tail -c {TAIL_BYTES} {path}: {result.stderr.strip()[:200]}")
            data = result.stdout.encode()
    except TargetError as exc:
        return QemuLog(path, None, str(exc))
    if data is None:
        return QemuLog(path, None)
    return QemuLog(path, last_section(data.decode("utf-8", "replace")))
