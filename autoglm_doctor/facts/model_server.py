"""The model server as Docker describes it: the vLLM / SGLang arguments it was started with, the weights
directory those arguments name (mapped through the container's mounts to a path the target can read),
the CUDA version its image was built for, and the GPUs it was given.

vLLM: ``vllm serve MODEL`` or ``python -m vllm.entrypoints.openai.api_server --model MODEL`` with
``--served-model-name``, ``--max-model-len``, ``--gpu-memory-utilization`` (0-1, default 0.9),
``--tensor-parallel-size``/``-tp``. SGLang: ``python -m sglang.launch_server --model-path MODEL`` with
``--served-model-name``, ``--context-length``, ``--mem-fraction-static``, ``--tp-size``/``--tp``.
Images built FROM nvidia/cuda carry ``CUDA_VERSION`` and ``NVIDIA_REQUIRE_CUDA="cuda>=12.1 …"``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

FLAG_ALIASES = {
    "--model": "model", "--model-path": "model",
    "--served-model-name": "served_model_name",
    "--max-model-len": "max_len", "--context-length": "max_len",
    "--gpu-memory-utilization": "mem_fraction", "--mem-fraction-static": "mem_fraction",
    "--tensor-parallel-size": "tp", "-tp": "tp", "--tp-size": "tp", "--tp": "tp",
}


@dataclass(frozen=True)
class ServerArgs:
    engine: str  # "vllm", "sglang" or "unknown"
    values: dict[str, str] = field(default_factory=dict)
    argv: tuple[str, ...] = ()

    def get(self, key: str) -> str | None:
        return self.values.get(key)


def parse_server_args(argv: list[str]) -> ServerArgs:
    joined = " ".join(argv)
    engine = "sglang" if "sglang" in joined else ("vllm" if "vllm" in joined else "unknown")
    values: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        key = FLAG_ALIASES.get(name)
        if key:
            value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else "")
            values[key] = value
            i += 1 if eq else 2
            continue
        if arg == "serve" and i + 1 < len(argv) and not argv[i + 1].startswith("-") and "model" not in values:
            values["model"] = argv[i + 1]  # vllm serve MODEL
            i += 2
            continue
        i += 1
    return ServerArgs(engine, values, tuple(argv))


def container_argv(inspect: dict[str, Any]) -> list[str]:
    cfg = inspect.get("Config") or {}
    entry = cfg.get("Entrypoint") or []
    cmd = cfg.get("Cmd") or []
    if isinstance(entry, str):
        entry = [entry]
    if isinstance(cmd, str):
        cmd = [cmd]
    return [str(a) for a in list(entry) + list(cmd)]


def env(inspect: dict[str, Any]) -> dict[str, str]:
    out = {}
    for item in (inspect.get("Config") or {}).get("Env") or []:
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


def image_cuda(inspect: dict[str, Any]) -> tuple[int, int] | None:
    """The CUDA version the image needs: NVIDIA_REQUIRE_CUDA's cuda>=X.Y, else CUDA_VERSION's X.Y."""
    e = env(inspect)
    m = re.search(r"cuda>=(\d+)\.(\d+)", e.get("NVIDIA_REQUIRE_CUDA", ""))
    if not m:
        m = re.match(r"^(\d+)\.(\d+)", e.get("CUDA_VERSION", ""))
    return (int(m.group(1)), int(m.group(2))) if m else None


def host_path(inspect: dict[str, Any], container_path: str) -> str | None:
    """The path on the container's host of ``container_path``, through the longest matching bind mount;
    None when no mount holds it (the weights are inside the image or a named volume)."""
    best: tuple[int, str] | None = None
    path = posixpath.normpath(container_path)
    for mount in inspect.get("Mounts") or []:
        dest = posixpath.normpath(str(mount.get("Destination", "")))
        src = mount.get("Source")
        if not src or not (path == dest or path.startswith(dest.rstrip("/") + "/")):
            continue
        if best is None or len(dest) > best[0]:
            rest = path[len(dest):].lstrip("/")
            best = (len(dest), posixpath.join(str(src), rest) if rest else str(src))
    return best[1] if best else None


def gpu_request(inspect: dict[str, Any]) -> int | None:
    """GPUs the container was given: -1 all, N, or None when it asked for none (no DeviceRequests, no
    NVIDIA_VISIBLE_DEVICES)."""
    for req in (inspect.get("HostConfig") or {}).get("DeviceRequests") or []:
        if "gpu" in str(req.get("Capabilities")):
            ids = req.get("DeviceIDs") or []
            return len(ids) if ids else int(req.get("Count") or 0) or -1
    visible = env(inspect).get("NVIDIA_VISIBLE_DEVICES")
    if visible in (None, "", "void", "none"):
        return None
    return -1 if visible == "all" else len([v for v in visible.split(",") if v])
