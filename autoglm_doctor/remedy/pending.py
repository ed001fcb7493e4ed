"""Findings a reboot-required fix has already addressed: the change is staged (boot loader config,
initramfs) but the running kernel does not reflect it yet, so the check still fails. Such a finding
becomes ``pending_reboot`` with the run id that staged it; it still fails the gate at its severity
(the host is not ready until it reboots) unless ``--allow-pending-reboot``. The pending list is read
through the Target from the journal root, so a collected snapshot records and replays it, and a
reboot (a new boot id) ends it: after that the finding is whatever the check says."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.targets.base import Target
from autoglm_doctor.model import Finding, Status
from autoglm_doctor.remedy.journal import journal_root, read_pending


def mark_pending(findings: Sequence[Finding], target: Target, *, allow: bool = False,
                 root: str | None = None) -> list[Finding]:
    entries = read_pending(target, journal_root(root))
    if not entries:
        return list(findings)
    staged: dict[tuple[str, str], str] = {}
    for e in entries:
        for key in e.get("resources", []):
            check_id, _, resource = str(key).partition("|")
            staged[(check_id, resource)] = str(e.get("run_id", ""))
    out = []
    for f in findings:
        run = staged.get((f.check_id, f.resource))
        if run and f.status in (Status.FAIL, Status.WARN):
            f = f.with_(status=Status.PENDING_REBOOT, staged_by=run, pending_allowed=allow,
                        message=f"{f.message} — fix run {run} staged the change; it takes effect at the next boot")
        out.append(f)
    return out
