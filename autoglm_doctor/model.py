"""The vocabulary every part of the doctor speaks: statuses, severities, metadata, findings, reports."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*){2,}$")


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    # a reboot-required fix was applied (``staged_by`` names the fix run) and the running kernel does not
    # reflect it yet: the host is not ready until it reboots
    PENDING_REBOOT = "pending_reboot"

    def __str__(self) -> str:
        return self.value


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def at_least(self, other: "Severity") -> bool:
        return self.rank >= other.rank

    def __str__(self) -> str:
        return self.value


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class Scope(str, enum.Enum):
    """What a check inspects (``CheckMeta.scope``) and, for host/guest/container, also a target role
    (``CheckMeta.runs_on``): the machine the doctor reads (host), the VM definitions a hypervisor holds
    (vm), the system inside a guest VM (guest), containers (container), an attached device such as a
    phone reached over ADB (device)."""

    HOST = "host"
    VM = "vm"
    GUEST = "guest"
    CONTAINER = "container"
    DEVICE = "device"

    def __str__(self) -> str:
        return self.value


# Where a check that inspects a scope can run, when its metadata does not say (``runs_on`` empty):
# VM definitions are read on the hypervisor; containers through the docker daemon of a host or a
# guest; a device is reached from a host or a guest.
DEFAULT_RUNS_ON: dict[Scope, tuple[Scope, ...]] = {
    Scope.HOST: (Scope.HOST,),
    Scope.VM: (Scope.HOST,),
    Scope.GUEST: (Scope.GUEST,),
    Scope.CONTAINER: (Scope.HOST, Scope.GUEST),
    Scope.DEVICE: (Scope.HOST, Scope.GUEST),
}
ROLES = (Scope.HOST, Scope.GUEST, Scope.CONTAINER)  # the values ``Target.role`` and ``runs_on`` take


@dataclass(frozen=True)
class CheckMeta:
    id: str
    title: str
    severity: Severity
    scope: tuple[Scope, ...]
    remediation: str
    docs: str
    description: str = ""
    requires: tuple[str, ...] = ()
    fix: str | None = None
    # ``scope`` is what the check inspects; ``runs_on`` the target roles it can run on (a Target's
    # ``role``: host, guest, container; a snapshot has the role of the system it was taken from).
    # Empty means "derived from scope" (DEFAULT_RUNS_ON).
    runs_on: tuple[Scope, ...] = ()

    @property
    def roles(self) -> tuple[Scope, ...]:
        """The target roles this check runs on: ``runs_on``, or what its scope implies."""
        if self.runs_on:
            return self.runs_on
        out: list[Scope] = []
        for scope in self.scope:
            out.extend(r for r in DEFAULT_RUNS_ON[scope] if r not in out)
        return tuple(out)

    def runs_on_role(self, role: str | None) -> bool:
        """True when a target of ``role`` can run this check (an unknown role does not exclude it)."""
        return role is None or any(r.value == role for r in self.roles)

    @property
    def area(self) -> str:
        """The group a check is shown under: the first two id segments (``host.kvm``)."""
        return ".".join(self.id.split(".")[:2])


@dataclass(frozen=True)
class FixMeta:
    id: str
    title: str
    fixes: tuple[str, ...]
    risk: Severity
    reboot_required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Finding:
    check_id: str
    status: Status
    severity: Severity
    title: str
    message: str
    resource: str = ""
    observed: Any = None
    expected: Any = None
    remediation: str = ""
    fix_id: str | None = None
    duration_ms: float = 0.0
    ignored: bool = False
    ignore_reason: str = ""
    staged_by: str = ""  # the fix run that staged a pending_reboot change
    pending_allowed: bool = False  # --allow-pending-reboot: a pending_reboot finding does not gate
    target: str = ""  # the target (Target.name) the finding is about: "local", "libvirt:vm1", ...

    def with_(self, **changes: Any) -> "Finding":
        return replace(self, **changes)

    @property
    def evidence(self) -> dict[str, Any]:
        return {"observed": self.observed, "expected": self.expected}

    def gates(self, fail_on: Severity) -> bool:
        """True when this finding fails a CI gate set at ``fail_on``."""
        if self.ignored:
            return False
        if self.status is Status.ERROR:
            return True
        if self.status is Status.PENDING_REBOOT:
            return not self.pending_allowed and self.severity.at_least(fail_on)
        return self.status is Status.FAIL and self.severity.at_least(fail_on)


@dataclass(frozen=True)
class Report:
    tool_version: str
    target: str
    run_id: str
    started_at: str
    duration_ms: float
    findings: tuple[Finding, ...]
    checks: Mapping[str, CheckMeta] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    hostname: str = ""  # the machine the target is (a snapshot's: where it was recorded)
    targets: tuple[str, ...] = ()  # every target of a multi-target run (--guest), the first being ``target``

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for f in self.findings:
            out[f.status.value] += 1
        out["ignored"] = sum(1 for f in self.findings if f.ignored)
        return out

    def gate_failures(self, fail_on: Severity) -> list[Finding]:
        return [f for f in self.findings if f.gates(fail_on)]

    @property
    def evaluated(self) -> bool:
        """True when some check said pass, warn, fail or pending_reboot. A run where every selected check
        was skipped or errored (nothing captured, nothing readable) evaluated nothing: it cannot pass a gate."""
        return any(f.status not in (Status.SKIP, Status.ERROR) for f in self.findings)

    def passed_gate(self, fail_on: Severity) -> bool:
        return self.evaluated and not self.gate_failures(fail_on)
