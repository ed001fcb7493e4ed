"""How this machine's kernel command line is configured, so a fix edits the right file with the
distribution's own tool:

- RHEL/Fedora/CentOS (BootLoaderSpec entries in /boot/loader/entries, ``grubby`` installed):
  ``grubby --update-kernel=ALL --args=... / --remove-args=...`` edits every entry (and, on RHEL 9 and
  Fedora, GRUB_CMDLINE_LINUX in /etc/default/grub for future kernels).
- systemd-boot / kernel-install (``/etc/kernel/cmdline``; Pop!_OS's kernelstub keeps its own
  /etc/kernelstub/configuration and has ``kernelstub -a``).
- GRUB with /etc/default/grub: Debian/Ubuntu regenerate with ``update-grub``; elsewhere
  ``grub2-mkconfig -o`` the grub.cfg GRUB really reads (never without -o: it would only print it).
  On UEFI RHEL 9 / Fedora 34+, /boot/efi/EFI/<distro>/grub.cfg is a stub that ``configfile``s
  /boot/grub2/grub.cfg, which is the file to regenerate; on older EFI installs the EFI one is real.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autoglm_doctor.targets.base import TargetError

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target

BIN_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
BLS_DIR = "/boot/loader/entries"


def _stat(target: Target, path: str) -> Any:
    """A stat that takes "could not tell" (a snapshot that never recorded the path) as absent: the
    plan then names the generic route, it does not fail."""
    try:
        return target.stat(path)
    except TargetError:
        return None


def _listdir(target: Target, path: str) -> list[str]:
    try:
        return target.listdir(path) or []
    except TargetError:
        return []


def find_tool(target: Target, name: str) -> str | None:
    for d in BIN_DIRS:
        path = f"{d}/{name}"
        st = _stat(target, path)
        if st is not None and st.kind == "file":
            return path
    return None


@dataclass(frozen=True)
class BootLoader:
    kind: str  # grubby | kernelstub | kernel-cmdline | update-grub | grub-mkconfig | unknown
    config: str = ""  # the file holding the command line (/etc/default/grub, /etc/kernel/cmdline)
    tool: str = ""  # the regenerating tool's name
    output: str = ""  # the generated file (grub.cfg)
    entries: tuple[str, ...] = ()  # BLS entry files grubby rewrites
    why: str = ""

    def describe(self) -> str:
        return self.why


def _grub_cfg(target: Target) -> str | None:
    efi = "/boot/efi/EFI"
    stubs = []
    for vendor in _listdir(target, efi):
        cfg = posixpath.join(efi, vendor, "grub.cfg")
        if _stat(target, cfg) is not None:
            stubs.append(cfg)
    if _stat(target, "/boot/grub2/grub.cfg") is not None:
        return "/boot/grub2/grub.cfg"
    for cfg in stubs:
        try:
            text = target.read_text(cfg) or ""
        except TargetError:
            text = ""
        if "configfile" not in text:
            return cfg  # an old-style EFI install: this one is the real config
    if _stat(target, "/boot/grub/grub.cfg") is not None:
        return "/boot/grub/grub.cfg"
    return None


def detect(target: Target) -> BootLoader:
    entries = tuple(posixpath.join(BLS_DIR, n) for n in _listdir(target, BLS_DIR) if n.endswith(".conf"))
    grubby = find_tool(target, "grubby")
    if entries and grubby:
        return BootLoader("grubby", "/etc/default/grub" if _stat(target, "/etc/default/grub") else "", "grubby",
                          entries=entries, why=f"BootLoaderSpec entries in {BLS_DIR} and {grubby}")
    if _stat(target, "/etc/kernelstub/configuration") is not None and find_tool(target, "kernelstub"):
        return BootLoader("kernelstub", "/etc/kernelstub/configuration", "kernelstub",
                          why="kernelstub (/etc/kernelstub/configuration)")
    if _stat(target, "/etc/kernel/cmdline") is not None and _stat(target, "/etc/default/grub") is None:
        return BootLoader("kernel-cmdline", "/etc/kernel/cmdline", "kernel-install",
                          why="systemd-boot / kernel-install (/etc/kernel/cmdline)")
    if _stat(target, "/etc/default/grub") is not None:
        if find_tool(target, "update-grub"):
            return BootLoader("update-grub", "/etc/default/grub", "update-grub", output="/boot/grub/grub.cfg",
                              why="GRUB (/etc/default/grub, update-grub)")
        for tool in ("grub2-mkconfig", "grub-mkconfig"):
            if find_tool(target, tool):
                out = _grub_cfg(target)
                if out:
                    return BootLoader("grub-mkconfig", "/etc/default/grub", tool, output=out,
                                      why=f"GRUB (/etc/default/grub, {tool} -o {out})")
        return BootLoader("unknown", "/etc/default/grub", why="/etc/default/grub exists but no update-grub or "
                          "grub-mkconfig (with a grub.cfg to write) was found")
    return BootLoader("unknown", why="no /etc/default/grub, /etc/kernel/cmdline or BootLoaderSpec entries with "
                      "grubby were found")
