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
from typing import Any

BIN_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
BLS_DIR = "/boot/loader/entries"


def find_tool(target: Any, name: str) -> str | None:
    for d in BIN_DIRS:
        path = f"{d}/{name}"
        st = target.stat(path)
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


def _grub_cfg(target: Any) -> str | None:
    efi = "/boot/efi/EFI"
    stubs = []
    for vendor in target.listdir(efi) or []:
        cfg = posixpath.join(efi, vendor, "grub.cfg")
        if target.stat(cfg) is not None:
            stubs.append(cfg)
    if target.stat("/boot/grub2/grub.cfg") is not None:
        return "/boot/grub2/grub.cfg"
    for cfg in stubs:
        text = target.read_text(cfg) or ""
        if "configfile" not in text:
            return cfg  # an old-style EFI install: this one is the real config
    if target.stat("/boot/grub/grub.cfg") is not None:
        return "/boot/grub/grub.cfg"
    return None


def detect(target: Any) -> BootLoader:
    entries = tuple(posixpath.join(BLS_DIR, n) for n in (target.listdir(BLS_DIR) or []) if n.endswith(".conf"))
    grubby = find_tool(target, "grubby")
    if entries and grubby:
        return BootLoader("grubby", "/etc/default/grub" if target.stat("/etc/default/grub") else "", "grubby",
                          entries=entries, why=f"BootLoaderSpec entries in {BLS_DIR} and {grubby}")
    if target.stat("/etc/kernelstub/configuration") is not None and find_tool(target, "kernelstub"):
        return BootLoader("kernelstub", "/etc/kernelstub/configuration", "kernelstub",
                          why="kernelstub (/etc/kernelstub/configuration)")
    if target.stat("/etc/kernel/cmdline") is not None and target.stat("/etc/default/grub") is None:
        return BootLoader("kernel-cmdline", "/etc/kernel/cmdline", "kernel-install",
                          why="systemd-boot / kernel-install (/etc/kernel/cmdline)")
    if target.stat("/etc/default/grub") is not None:
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
