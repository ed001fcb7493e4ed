"""Fixes only plan: a Fix returns a Plan of typed Changes and never touches the system.

The fix engine (a later issue) is the only code that applies Changes, journals them, verifies the
check now passes and rolls back. Dry-run is therefore safe by construction: rendering a plan reads
the target (for diffs) and writes nothing.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

from autoglm_doctor.model import Finding, FixMeta


class Change(ABC):
    kind: ClassVar[str]

    @abstractmethod
    def describe(self) -> str: ...

    def preview(self, target: Any) -> str:
        """What would change, as text (a unified diff for files)."""
        return self.describe()

    @property
    def paths(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class WriteFile(Change):
    path: str
    content: str
    mode: int = 0o644
    kind: ClassVar[str] = "write_file"

    def describe(self) -> str:
        return f"write {self.path} (mode {self.mode:04o})"

    def preview(self, target: Any) -> str:
        try:
            current = target.read_text(self.path)
        except Exception:  # noqa: BLE001 - a preview must not fail a dry run
            current = None
        before = [] if current is None else current.splitlines(keepends=True)
        after = self.content.splitlines(keepends=True)
        diff = "".join(
            difflib.unified_diff(before, after, f"a{self.path}" if current is not None else "/dev/null", f"b{self.path}")
        )
        return diff or f"{self.path}: already as planned"

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,)


@dataclass(frozen=True)
class SetMode(Change):
    path: str
    mode: int
    kind: ClassVar[str] = "set_mode"

    def describe(self) -> str:
        return f"chmod {self.mode:04o} {self.path}"

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,)


@dataclass(frozen=True)
class SetOwner(Change):
    path: str
    user: str | None = None
    group: str | None = None
    kind: ClassVar[str] = "set_owner"

    def describe(self) -> str:
        return f"chown {self.user or ''}{':' + self.group if self.group else ''} {self.path}"

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,)


@dataclass(frozen=True)
class RunCommand(Change):
    argv: tuple[str, ...]
    undo: tuple[str, ...] | None = None
    kind: ClassVar[str] = "run_command"

    def describe(self) -> str:
        text = "run: " + " ".join(self.argv)
        return text + (f"  (undo: {' '.join(self.undo)})" if self.undo else "  (no automatic undo)")


@dataclass(frozen=True)
class Plan:
    fix_id: str
    title: str
    changes: tuple[Change, ...]
    addresses: tuple[Finding, ...] = ()
    reboot_required: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.changes

    def render(self, target: Any) -> str:
        lines = [f"# fix {self.fix_id}: {self.title}"]
        for f in self.addresses:
            lines.append(f"#   addresses {f.check_id}{' [' + f.resource + ']' if f.resource else ''}: {f.message}")
        if self.reboot_required:
            lines.append("#   takes effect after a reboot")
        lines.extend(f"#   note: {n}" for n in self.notes)
        if not self.changes:
            lines.append("(nothing to change)")
        for i, change in enumerate(self.changes, 1):
            lines.append(f"[{i}] {change.describe()}")
            preview = change.preview(target)
            if preview != change.describe():
                lines.extend("    " + ln for ln in preview.rstrip("\n").splitlines())
        return "\n".join(lines)


class Fix(ABC):
    meta: ClassVar[FixMeta]

    @abstractmethod
    def plan(self, ctx: Any, findings: Sequence[Finding]) -> Plan: ...
