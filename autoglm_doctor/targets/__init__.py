"""Targets: where checks read from. ``open_target`` turns a ``--target`` spec into one."""

from __future__ import annotations

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

SCHEMES = ("local", "snapshot", "ssh", "libvirt", "docker")


class TargetSpecError(ValueError):
    pass


def open_target(spec: str | None, *, identity: str | None = None, ssh_config: str | None = None) -> Target:
    """``local`` (default), ``local:/sysroot``, ``snapshot:PATH`` (directory or .tar.gz),
    ``ssh://[user@]host[:port]`` (``identity``/``ssh_config`` become ssh's -i/-F), ``libvirt:DOMAIN``
    (the QEMU guest agent) or ``docker:CONTAINER``. A remote that cannot be reached raises
    ``TargetError`` with one line saying why."""
    spec = spec or "local"
    if spec.startswith("ssh://"):
        from autoglm_doctor.targets.ssh import SshTarget, parse_ssh_spec

        # connects in the background; the caller's first request (or ``ready()``) waits for it
        return SshTarget(parse_ssh_spec(spec), identity=identity, ssh_config=ssh_config, wait=False)
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
    if scheme == "libvirt":
        if not rest:
            raise TargetSpecError("libvirt target needs a domain name: --target libvirt:DOMAIN")
        from autoglm_doctor.targets.guest_agent import GuestAgentTarget

        return GuestAgentTarget(rest)
    if scheme == "docker":
        if not rest:
            raise TargetSpecError("docker target needs a container: --target docker:CONTAINER")
        from autoglm_doctor.targets.docker_exec import DockerExecTarget

        return DockerExecTarget(rest)
    raise TargetSpecError(
        f"unknown target {spec!r}: use one of local, local:/SYSROOT, snapshot:PATH, ssh://[user@]host[:port], "
        "libvirt:DOMAIN, docker:CONTAINER"
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
