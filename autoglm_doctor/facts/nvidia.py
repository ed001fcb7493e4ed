"""What the NVIDIA driver says inside a guest (or a container): modules, the driver's version file,
``nvidia-smi -q -x`` and the kernel log.

- Loaded modules come from /proc/modules (a built-in driver shows as /sys/module/NAME instead).
- /proc/driver/nvidia/version: ``NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  <date>``.
- ``nvidia-smi -q -x`` prints the documented ``<nvidia_smi_log>`` XML: ``driver_version``, ``cuda_version``
  (the newest CUDA the driver supports), one ``<gpu id="00000000:01:00.0">`` per GPU with
  ``product_name``, ``persistence_mode``, ``fb_memory_usage/total`` ("81920 MiB"), ``ecc_errors`` (per
  generation: ``volatile/double_bit/total`` on older drivers, ``volatile/dram_uncorrectable`` and
  ``sram_uncorrectable`` on newer ones) and, on NVSwitch systems, ``fabric/state`` and ``fabric/status``.
- Xid lines (``NVRM: Xid (PCI:0000:01:00): 79, pid=…, GPU has fallen off the bus``) and signature
  refusals under Secure Boot (``Loading of unsigned module is rejected``, ``module verification failed``,
  ``Lockdown: … unsigned module loading is restricted``) come from the kernel log (``dmesg``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autoglm_doctor.facts.kernel import GarbageValue

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

MAX_XML = 4 * 1024 * 1024
NVSWITCH_DEVICE_IDS = {0x1AF1, 0x22A3, 0x22A4}  # 2nd gen (A100 HGX), 3rd gen (H100/H200 HGX)
SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
_VERSION = re.compile(r"Kernel Module\s+(\d+\.\d+(?:\.\d+)?)")
_XID = re.compile(r"NVRM: Xid \(PCI:([0-9a-fA-F:.]+)\): (\d+)(?:, pid=[^,]*)?(?:, name=[^,]*)?,?\s*(.*)")
_SIGNATURE = re.compile(r"(Loading of unsigned module is rejected|module verification failed|"
                        r"unsigned module loading is restricted|Key was rejected by service)", re.I)
# Xids that mean the GPU or its memory is failing (NVIDIA's Xid catalogue), not an application fault
FATAL_XIDS = {48: "double-bit ECC error", 63: "ECC page retirement or row remap failure", 64: "ECC page retirement "
              "or row remap recording failure", 74: "NVLink error", 79: "GPU has fallen off the bus",
              92: "high single-bit ECC error rate", 94: "contained ECC error", 95: "uncontained ECC error",
              119: "GSP RPC timeout", 120: "GSP error"}


@dataclass(frozen=True)
class SmiGpu:
    bus_id: str  # normalised to 0000:01:00.0
    name: str
    memory_mib: int | None
    persistence: str | None
    ecc_uncorrectable: int | None  # volatile (since driver load)
    fabric_state: str | None = None
    fabric_status: str | None = None


@dataclass(frozen=True)
class Smi:
    driver_version: str
    cuda_version: str | None
    gpus: tuple[SmiGpu, ...] = field(default_factory=tuple)


def modules_loaded(text: str | None) -> set[str]:
    """Names from /proc/modules ("name size refcount deps state address")."""
    return {line.split()[0] for line in (text or "").splitlines() if line.split()}


def driver_version(text: str | None, path: str = "/proc/driver/nvidia/version") -> str | None:
    if text is None:
        return None
    m = _VERSION.search(text)
    if not m:
        raise GarbageValue(f"{path} holds {text[:60]!r}, not an 'NVRM version: … Kernel Module X.Y.Z' line")
    return m.group(1)


def bus_id(text: str) -> str:
    """nvidia-smi's 00000000:01:00.0 (8-digit domain) as the kernel's 0000:01:00.0."""
    value = text.strip().lower()
    m = re.match(r"^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$", value)
    if not m:
        raise GarbageValue(f"nvidia-smi gpu id {text[:40]!r} is not a PCI bus id")
    return f"{int(m.group(1), 16):04x}:{m.group(2)}:{m.group(3)}.{m.group(4)}"


def _mib(text: str | None) -> int | None:
    if not text:
        return None
    m = re.match(r"^\s*(\d+)\s*MiB\s*$", text)
    return int(m.group(1)) if m else None


def _uncorrectable(gpu: ET.Element) -> int | None:
    """Volatile uncorrectable ECC errors, whatever the driver generation calls them (``double_bit/total``;
    ``dram_uncorrectable`` + ``sram_uncorrectable*``); None when ECC is off or not reported ("N/A")."""
    volatile = gpu.find("ecc_errors/volatile")
    if volatile is None:
        return None
    values = [el.text for el in volatile if "uncorrectable" in el.tag]
    double = volatile.find("double_bit/total")
    if double is not None:
        values.append(double.text)
    counts = [int(v.strip()) for v in values if v and v.strip().isdigit()]
    return sum(counts) if counts else None


def parse_smi_xml(text: str) -> Smi:
    if len(text) > MAX_XML:
        raise GarbageValue(f"nvidia-smi -q -x printed {len(text)} bytes, more than the {MAX_XML}-byte cap")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise GarbageValue(f"nvidia-smi -q -x did not print XML ({exc})") from exc
    if root.tag != "nvidia_smi_log":
        raise GarbageValue(f"nvidia-smi -q -x printed <{root.tag}>, not <nvidia_smi_log>")
    driver = (root.findtext("driver_version") or "").strip()
    if not re.match(r"^\d+\.\d+", driver):
        raise GarbageValue(f"nvidia-smi -q -x: driver_version {driver[:40]!r} is not a version")
    cuda = (root.findtext("cuda_version") or "").strip() or None
    if cuda is not None and not re.match(r"^\d+\.\d+$", cuda):
        cuda = None  # "Not Found" / "N/A"
    gpus = []
    for gpu in root.findall("gpu"):
        gpus.append(SmiGpu(
            bus_id=bus_id(gpu.get("id", "")),
            name=(gpu.findtext("product_name") or "").strip(),
            memory_mib=_mib(gpu.findtext("fb_memory_usage/total")),
            persistence=(gpu.findtext("persistence_mode") or "").strip() or None,
            ecc_uncorrectable=_uncorrectable(gpu),
            fabric_state=(gpu.findtext("fabric/state") or "").strip() or None,
            fabric_status=(gpu.findtext("fabric/status") or "").strip() or None,
        ))
    return Smi(driver, cuda, tuple(gpus))


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


@dataclass(frozen=True)
class Xid:
    device: str
    code: int
    text: str

    @property
    def fatal(self) -> bool:
        return self.code in FATAL_XIDS


def xids(kernel_log: str) -> list[Xid]:
    out = []
    for line in kernel_log.splitlines():
        m = _XID.search(line)
        if m:
            out.append(Xid(m.group(1), int(m.group(2)), m.group(3).strip()))
    return out


def signature_refusals(kernel_log: str) -> list[str]:
    return [line.strip() for line in kernel_log.splitlines() if _SIGNATURE.search(line)][-5:]


def secure_boot(data: bytes | None) -> bool | None:
    """The SecureBoot EFI variable: 4 attribute bytes, then 1 (on) or 0 (off); None on a BIOS guest."""
    if data is None:
        return None
    if len(data) < 5:
        raise GarbageValue(f"{SECURE_BOOT_VAR} holds {len(data)} bytes, not attributes + a value byte")
    return data[4] == 1


def kernel_log(ctx: Context) -> str | None:
    """The kernel ring buffer through the target (``dmesg``); None when it cannot be read there."""
    result = ctx.target.run(["dmesg"], timeout=10)
    if not result.ok:
        return None
    return result.stdout[-2 * 1024 * 1024:]
