"""Targets: where checks read from. ``open_target`` turns a ``--target`` spec into one."""

from __future__ import annotations

from typing import Any

from autoglm_doctor.targets.base import (
    AdapterUnavailable,
    CommandResult,
    DiskUsage,
    NotCaptured,
    ReadOnlyTarget,
    StatResult,
    Target,
    TargetError,
)

SCHEMES = ("local", "snapshot")


class TargetSpecError(ValueError):
    pass


def open_target(spec: str | None) -> Any:
    """``local`` (default), ``local:/sysroot``, ``snapshot:PATH`` (directory or .tar.gz)."""
    spec = spec or "local"
    scheme, _, rest = spec.partition(":")
    if scheme == "local":
        import os

        from autoglm_doctor.targets.local import LocalTarget

        if rest and not os.path.isdir(rest):
            what = "no such directory" if not os.path.lexists(rest) else "not a directory"
            raise TargetSpecError(f"{rest}: {what} (local:SYSROOT reads a mounted system's root directory)")
        return LocalTarget(rest or "/", name="local" if not rest else f"local:{rest}")
    if scheme == "snapshot":
        if not rest:
            raise TargetSpecError("snapshot target needs a path: --target snapshot:PATH")
        from autoglm_doctor.targets.snapshot import SnapshotTarget

        return SnapshotTarget(rest)
    raise TargetSpecError(
        f"unknown target {spec!r}: use one of local, snapshot:PATH (ssh, guest-agent and docker targets come later)"
    )


__all__ = [
    "AdapterUnavailable",
    "CommandResult",
    "DiskUsage",
    "NotCaptured",
    "ReadOnlyTarget",
    "StatResult",
    "Target",
    "TargetError",
    "open_target",
]
