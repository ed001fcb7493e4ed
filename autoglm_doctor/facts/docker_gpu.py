"""How Docker can hand an NVIDIA GPU to a container, and what is missing.

- ``--gpus`` (DeviceRequests): dockerd registers its "nvidia" device driver only when the
  ``nvidia-container-runtime-hook`` binary is on its PATH (nvidia-container-toolkit installs it).
- ``--runtime=nvidia``: the runtime must be registered (docker info ``Runtimes``; daemon.json ``runtimes``).
- CDI (``--device nvidia.com/gpu=all``): Docker 25+ with CDI enabled (docker info ``CDISpecDirs``) and an
  NVIDIA spec in one of those directories (``nvidia-ctk cdi generate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.facts.docker import daemon_config, docker_info
from autoglm_doctor.facts.kernel import GarbageValue

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target

BIN_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin")
HOOK = "nvidia-container-runtime-hook"
RUNTIME_BIN = "nvidia-container-runtime"
CTK = "nvidia-ctk"
DEFAULT_CDI_DIRS = ("/etc/cdi", "/var/run/cdi")


@dataclass(frozen=True)
class GpuRoutes:
    hook: str | None  # path of nvidia-container-runtime-hook
    runtime_registered: bool
    runtime_binary: str | None
    default_runtime: str
    cdi_enabled: bool
    cdi_specs: tuple[str, ...]  # NVIDIA CDI spec files found
    driver_loaded: bool
    stale_runtime: str | None  # daemon.json registers nvidia, the daemon does not

    @property
    def usable(self) -> list[str]:
        out = []
        if self.hook:
            out.append(f"--gpus ({self.hook})")
        if self.runtime_registered:
            out.append("--runtime=nvidia" + (" (default runtime)" if self.default_runtime == "nvidia" else ""))
        if self.cdi_enabled and self.cdi_specs:
            out.append(f"CDI ({', '.join(self.cdi_specs)})")
        return out

    def why_not(self) -> str:
        parts = [f"{HOOK} is not installed (so --gpus has no driver)"]
        parts.append("no 'nvidia' runtime is registered" + (f" although {self.runtime_binary} exists"
                                                             if self.runtime_binary else ""))
        if self.cdi_specs and not self.cdi_enabled:
            parts.append(f"CDI specs exist ({', '.join(self.cdi_specs)}) but this Docker has CDI disabled or "
                         "does not support it (Docker 25+ with features.cdi)")
        elif not self.cdi_specs:
            parts.append("no NVIDIA CDI spec in /etc/cdi or /var/run/cdi")
        return "; ".join(parts)

    def summary(self) -> dict[str, object]:
        return {
            "hook": self.hook,
            "runtime_registered": self.runtime_registered,
            "default_runtime": self.default_runtime,
            "cdi_enabled": self.cdi_enabled,
            "cdi_specs": list(self.cdi_specs),
            "driver_loaded": self.driver_loaded,
        }


def find_binary(target: Target, name: str) -> str | None:
    for d in BIN_DIRS:
        st = target.stat(f"{d}/{name}")
        if st is not None and st.kind == "file" and st.perms & 0o111:
            return f"{d}/{name}"
    return None


def _nvidia_specs(target: Target, dirs: tuple[str, ...]) -> tuple[str, ...]:
    found = []
    for d in dirs:
        for entry in target.listdir(d) or []:
            if not entry.endswith((".yaml", ".yml", ".json")):
                continue
            text = target.read_text(f"{d}/{entry}") or ""
            if "nvidia.com/gpu" in text or "nvidia.com/" in text and "kind" in text:
                found.append(f"{d}/{entry}")
    return tuple(found)


def gpu_routes(ctx: Context) -> GpuRoutes:
    t = ctx.target
    info = ctx.fact(docker_info)
    runtimes = info.get("Runtimes") or {}
    try:
        cfg = ctx.fact(daemon_config).data
    except GarbageValue:
        cfg = {}
    cdi_dirs = info.get("CDISpecDirs")
    cdi_enabled = bool(cdi_dirs)
    specs = _nvidia_specs(t, tuple(cdi_dirs) if cdi_dirs else DEFAULT_CDI_DIRS)
    stale = None
    if "nvidia" in (cfg.get("runtimes") or {}) and "nvidia" not in runtimes:
        stale = "/etc/docker/daemon.json registers runtime 'nvidia'"
    return GpuRoutes(
        hook=find_binary(t, HOOK),
        runtime_registered="nvidia" in runtimes,
        runtime_binary=find_binary(t, RUNTIME_BIN),
        default_runtime=str(info.get("DefaultRuntime") or "runc"),
        cdi_enabled=cdi_enabled,
        cdi_specs=specs,
        driver_loaded=t.read_text("/proc/driver/nvidia/version") is not None,
        stale_runtime=stale,
    )
