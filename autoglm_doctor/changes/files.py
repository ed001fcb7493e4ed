"""File changes: write a file, ensure a line or key in a config file, edit the kernel command line
in the boot loader's config, set a sysfs/procfs/sysctl value, remove a file.

Writes are atomic (temp file in the same directory, fsync, rename) through the Mutator and keep the
existing file's mode, owner and extended attributes (its POSIX ACL and SELinux label), so a fixed
/etc/default/grub is still labelled ``etc_t`` and readable by whoever could read it before. sysfs
and procfs attributes cannot be renamed over: those are written in place, which is how the kernel
takes them (the value is parsed on write; a rejected value raises, leaving the old one).
"""

from __future__ import annotations

import difflib
import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Any, ClassVar

from autoglm_doctor.targets.base import Mutator, Target
from autoglm_doctor.changes.base import Change, ChangeFailed, capture_file, register, restore_file, unb64


def _current_text(target: Target, path: str) -> str | None:
    try:
        return target.read_text(path)
    except Exception:  # noqa: BLE001 - a preview must not fail a dry run
        return None


def _diff(path: str, current: str | None, new: str) -> str:
    before = [] if current is None else current.splitlines(keepends=True)
    after = new.splitlines(keepends=True)
    diff = "".join(difflib.unified_diff(before, after, f"a{path}" if current is not None else "/dev/null",
                                        f"b{path}"))
    return diff or f"{path}: already as planned"


class _FileEdit(Change):
    """A change whose result is a whole new file content computed from the current one."""

    path: str
    mode: int = 0o644

    def render(self, current: str | None) -> str:
        raise NotImplementedError

    def preview(self, target: Target) -> str:
        current = _current_text(target, self.path)
        return _diff(self.path, current, self.render(current))

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    def capture(self, target: Target) -> dict[str, Any]:
        before = capture_file(target, self.path)
        if before["exists"] and before["type"] != "file":
            raise ChangeFailed(f"{self.path}: is a {before['type']}, not a regular file: refusing to replace it")
        return before

    def _new(self, before: dict[str, Any]) -> bytes:
        current = unb64(before["content"]).decode("utf-8", "replace") if before["exists"] else None
        return self.render(current).encode("utf-8")

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return bool(before["exists"]) and unb64(before["content"]) == self._new(before)

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        for d in reversed(before.get("missing_dirs", [])):
            mut.mkdir(d, 0o755)
        mut.write_bytes(self.path, self._new(before), mode=None if before["exists"] else self.mode)
        return None

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return target.read_bytes(self.path) == self._new(before)

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        restore_file(mut, target, self.path, before)


@register
@dataclass(frozen=True)
class WriteFile(_FileEdit):
    path: str
    content: str
    mode: int = 0o644  # for a new file; an existing file keeps its own
    kind: ClassVar[str] = "write_file"

    def describe(self) -> str:
        return f"write {self.path} (mode {self.mode:04o})"

    def render(self, current: str | None) -> str:
        return self.content


@register
@dataclass(frozen=True)
class EnsureLine(_FileEdit):
    """``line`` present in ``path``: the first line matching ``match`` (a regex, e.g. the key
    ``^\\s*net\\.ipv4\\.ip_forward\\s*=``) is replaced and later matches are dropped (they would
    override it); without a match the line is appended. The rest of the file is kept as is."""

    path: str
    line: str
    match: str
    mode: int = 0o644
    kind: ClassVar[str] = "ensure_line"

    def describe(self) -> str:
        return f"ensure {self.line!r} in {self.path}"

    def render(self, current: str | None) -> str:
        pattern = re.compile(self.match)
        lines = [] if current is None else current.splitlines()
        out: list[str] = []
        placed = False
        for ln in lines:
            if pattern.search(ln):
                if not placed:
                    out.append(self.line)
                    placed = True
                continue
            out.append(ln)
        if not placed:
            out.append(self.line)
        return "\n".join(out) + "\n"


def edit_cmdline(value: str, add: tuple[str, ...], remove: tuple[str, ...]) -> str:
    """Kernel parameters with ``add`` set (a ``key=value`` replaces that key's old value) and every
    parameter whose key is in ``remove`` dropped; order of the untouched ones is kept."""
    keys = {a.split("=", 1)[0] for a in add} | set(remove)
    words = [w for w in value.split() if w.split("=", 1)[0] not in keys]
    return " ".join(words + list(add))


@register
@dataclass(frozen=True)
class EnsureKernelArgs(_FileEdit):
    """Kernel command-line parameters in a boot loader's config: ``variable="..."`` in
    /etc/default/grub (GRUB_CMDLINE_LINUX), or the whole single-line file /etc/kernel/cmdline
    (systemd-boot, kernelstub, kernel-install) when ``variable`` is empty. Takes effect once the boot
    loader's config is regenerated and the machine reboots."""

    path: str
    add: tuple[str, ...]
    remove: tuple[str, ...] = ()
    variable: str = "GRUB_CMDLINE_LINUX"
    mode: int = 0o644
    kind: ClassVar[str] = "ensure_kernel_args"
    risk: ClassVar[str] = "needs reboot"
    takes_effect_at_boot: ClassVar[bool] = True

    def describe(self) -> str:
        where = f"{self.variable} in {self.path}" if self.variable else self.path
        parts = [f"add {' '.join(self.add)}"] if self.add else []
        parts += [f"remove {' '.join(self.remove)}"] if self.remove else []
        return f"kernel command line: {', '.join(parts)} ({where})"

    def render(self, current: str | None) -> str:
        if not self.variable:
            return edit_cmdline((current or "").strip(), self.add, self.remove) + "\n"
        lines = [] if current is None else current.splitlines()
        # GRUB puts GRUB_CMDLINE_LINUX_DEFAULT after GRUB_CMDLINE_LINUX and the last value wins: a key
        # we set or drop is dropped there too, or an old intel_iommu=off there would still win
        keys = tuple(a.split("=", 1)[0] for a in self.add) + self.remove
        if self.variable == "GRUB_CMDLINE_LINUX":
            self._edit(lines, "GRUB_CMDLINE_LINUX_DEFAULT", (), keys, append=False)
        self._edit(lines, self.variable, self.add, self.remove, append=True)
        return "\n".join(lines) + "\n"

    def _edit(self, lines: list[str], variable: str, add: tuple[str, ...], remove: tuple[str, ...],
              append: bool) -> None:
        pattern = re.compile(rf"^\s*{re.escape(variable)}=(.*)$")
        for i, ln in enumerate(lines):
            m = pattern.match(ln)
            if m:
                try:
                    words = shlex.split(m.group(1))
                except ValueError:
                    raise ChangeFailed(f"{self.path}: cannot parse {ln!r}") from None
                value = edit_cmdline(" ".join(words), add, remove)
                if value != " ".join(words) or add:
                    lines[i] = f'{variable}="{value}"'
                return
        if append:
            lines.append(f'{variable}="{edit_cmdline("", add, remove)}"')


@register
@dataclass(frozen=True)
class SetValue(Change):
    """A sysfs/procfs attribute written in place (``echo VALUE > path``)."""

    path: str
    value: str
    risk: str = "safe"  # type: ignore[misc]  # a field here: reserving memory or similar states its own risk
    kind: ClassVar[str] = "set_value"

    def describe(self) -> str:
        return f"set {self.path} to {self.value}"

    def preview(self, target: Target) -> str:
        current = _current_text(target, self.path)
        old = "(absent)" if current is None else current.strip()
        return f"{self.path}: {old} -> {self.value}"

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    def capture(self, target: Target) -> dict[str, Any]:
        text = target.read_text(self.path)
        if text is None:
            raise ChangeFailed(f"{self.path}: does not exist (module not loaded, or no such device)")
        return {"value": text.strip()}

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return bool(before["value"] == self.value)

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        mut.write_in_place(self.path, (self.value + "\n").encode())
        return None

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return (target.read_text(self.path) or "").strip() == self.value

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        mut.write_in_place(self.path, (before["value"] + "\n").encode())


@register
@dataclass(frozen=True)
class SetSysctl(SetValue):
    """A sysctl set now (its /proc/sys file); persistence is a separate EnsureLine in /etc/sysctl.d."""

    path: str = ""
    value: str = ""
    key: str = ""
    kind: ClassVar[str] = "set_sysctl"

    def __post_init__(self) -> None:
        if self.key and not self.path:
            object.__setattr__(self, "path", "/proc/sys/" + self.key.replace(".", "/"))

    def describe(self) -> str:
        return f"sysctl {self.key}={self.value}"

    def preview(self, target: Target) -> str:
        current = _current_text(target, self.path)
        return f"{self.key}: {'(absent)' if current is None else current.strip()} -> {self.value}"


def sysctl(key: str, value: str | int) -> SetSysctl:
    return SetSysctl(key=key, value=str(value))


@register
@dataclass(frozen=True)
class RemoveFile(Change):
    path: str
    kind: ClassVar[str] = "remove_file"

    def describe(self) -> str:
        return f"remove {self.path}"

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    def capture(self, target: Target) -> dict[str, Any]:
        return capture_file(target, self.path)

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return not before["exists"]

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        mut.remove(self.path)
        return None

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return target.stat(self.path, follow=False) is None

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        if before["exists"]:
            parent = posixpath.dirname(self.path)
            mut.mkdir(parent)
            restore_file(mut, target, self.path, before)
