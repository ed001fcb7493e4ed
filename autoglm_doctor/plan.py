"""Fixes only plan: a Fix returns a Plan of typed Changes and never touches the system.

The remediation engine (autoglm_doctor/remedy/) is the only code that applies Changes, journals
them, verifies the addressed checks now pass and rolls back. Dry-run is therefore safe by
construction: rendering a plan reads the target (for diffs and old -> new values) and writes nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from autoglm_doctor.changes import (
    RISKS,
    Change,
    EnsureKernelArgs,
    EnsureLine,
    GrantAcl,
    IpAddress,
    IpLink,
    IpRoute,
    RedefineDomain,
    RemoveFile,
    RunCommand,
    SetMode,
    SetOwner,
    SetSysctl,
    SetValue,
    SetXattr,
    WriteFile,
    sysctl,
)
from autoglm_doctor.model import Finding, FixMeta

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target


@dataclass(frozen=True)
class Plan:
    fix_id: str
    title: str
    changes: tuple[Change, ...]
    addresses: tuple[Finding, ...] = ()
    reboot_required: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    # interfaces whose loss cuts a remote session: applying is refused when the SSH client's route
    # goes through one of them, unless the operator says they have a console
    console_ifaces: tuple[str, ...] = ()
    # seconds the addressed state may take to appear once the changes are made (a bridge with STP on keeps
    # its ports listening and learning for 2 x forward_delay): verification is retried until then
    settle_s: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def risks(self) -> tuple[str, ...]:
        found = {c.risk for c in self.changes}
        if self.reboot_required or any(c.reboot for c in self.changes):
            found.add("needs reboot")
        if self.console_ifaces:
            found.add("may cut remote access")
        found.discard("safe")
        return tuple(r for r in RISKS if r in found) or ("safe",)

    @property
    def needs_reboot(self) -> bool:
        return self.reboot_required or any(c.reboot for c in self.changes)

    def render(self, target: Target) -> str:
        lines = [f"# fix {self.fix_id}: {self.title}"]
        for f in self.addresses:
            lines.append(f"#   addresses {f.check_id}{' [' + f.resource + ']' if f.resource else ''}: {f.message}")
        if self.changes:
            lines.append(f"#   risk: {', '.join(self.risks)}")
        if self.reboot_required:
            lines.append("#   takes effect after a reboot")
        lines.extend(f"#   note: {n}" for n in self.notes)
        if not self.changes:
            lines.append("(nothing to change)")
        for i, change in enumerate(self.changes, 1):
            lines.append(f"[{i}] {change.describe()}")
            preview = change.preview(target)
            if preview != change.describe():
                body = preview[len(change.describe()) + 1:] if preview.startswith(change.describe() + "\n") else preview
                lines.extend("    " + ln for ln in body.rstrip("\n").splitlines())
        return "\n".join(lines)

    def to_dict(self, target: Target | None = None) -> dict[str, Any]:
        return {
            "fix_id": self.fix_id,
            "title": self.title,
            "risk": list(self.risks),
            "reboot_required": self.needs_reboot,
            "addresses": [{"check_id": f.check_id, "resource": f.resource, "status": f.status.value,
                           "message": f.message} for f in self.addresses],
            "notes": list(self.notes),
            "changes": [dict(c.to_dict(), describe=c.describe(),
                             **({"preview": c.preview(target)} if target is not None else {}))
                        for c in self.changes],
        }


class Fix(ABC):
    meta: ClassVar[FixMeta]

    @abstractmethod
    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan: ...


__all__ = [
    "Change", "EnsureKernelArgs", "EnsureLine", "Fix", "GrantAcl", "IpAddress", "IpLink", "IpRoute", "Plan",
    "RedefineDomain", "RemoveFile", "RunCommand", "SetMode", "SetOwner", "SetSysctl", "SetValue", "SetXattr",
    "WriteFile", "sysctl",
]
