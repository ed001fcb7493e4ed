"""Kernel command-line changes as typed Changes for the detected boot loader (see
facts/bootloader.py). Every path takes effect at the next boot: the plan is reboot-required and the
engine records it as pending until the running kernel's /proc/cmdline shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from autoglm_doctor.changes import Change, EnsureKernelArgs, RunCommand
from autoglm_doctor.facts.bootloader import BootLoader, detect

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target


def cmdline_changes(target: Target, add: tuple[str, ...], remove: tuple[str, ...] = ()) -> tuple[list[Change], list[str], BootLoader]:
    """(changes, notes, boot loader) setting ``add`` and dropping the keys in ``remove``."""
    bl = detect(target)
    notes: list[str] = []
    changes: list[Change] = []
    if bl.kind == "grubby":
        argv = ["grubby", "--update-kernel=ALL"]
        if add:
            argv.append("--args=" + " ".join(add))
        if remove:
            argv.append("--remove-args=" + " ".join(remove))
        outputs = bl.entries + ((bl.config,) if bl.config else ())
        changes.append(RunCommand(tuple(argv), outputs=outputs, takes_effect_at_boot=True, risk="needs reboot"))
        notes.append(f"boot loader: {bl.why}; the rollback restores {len(outputs)} file(s) grubby rewrites byte for byte")
    elif bl.kind == "kernelstub":
        for a in add:
            changes.append(RunCommand(("kernelstub", "-a", a), undo=("kernelstub", "-d", a),
                                      takes_effect_at_boot=True, risk="needs reboot"))
        for r in remove:
            notes.append(f"remove {r} with kernelstub -d {r}=VALUE (its value is needed)")
        notes.append(f"boot loader: {bl.why}")
    elif bl.kind == "kernel-cmdline":
        changes.append(EnsureKernelArgs(bl.config, add, remove, variable=""))
        notes.append(f"boot loader: {bl.why}; the new line is used for the boot entries kernel-install writes "
                     "next: reinstall the running kernel's entry (kernel-install add) if it is older")
    elif bl.kind in ("update-grub", "grub-mkconfig"):
        changes.append(EnsureKernelArgs(bl.config, add, remove))
        command: tuple[str, ...] = ("update-grub",) if bl.kind == "update-grub" else (bl.tool, "-o", bl.output)
        changes.append(RunCommand(command, outputs=(bl.output,), takes_effect_at_boot=True, risk="needs reboot"))
        notes.append(f"boot loader: {bl.why}")
    else:
        notes.append(f"boot loader not recognised ({bl.why}): add {' '.join(add) or '-'}"
                     f"{' and remove ' + ' '.join(remove) if remove else ''} on the kernel command line by hand")
    return changes, notes, bl
