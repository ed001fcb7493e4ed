"""The apply journal: one directory per run under the journal root (default
/var/lib/autoglm-doctor/journal, on the target: a sysroot keeps its journal inside the sysroot).

``journal.json`` holds the run's state, every step's change and its before-state. It is written
atomically through the Mutator before the first change is made and after every step, so a run
killed at any instant (SIGKILL, power loss) leaves a journal that says which steps may have been
applied; the next start finds it ("interrupted") and ``fix --rollback RUN_ID`` reverts them.
``pending.json`` in the root lists reboot-required changes not yet in effect, with the boot id they
were staged in; it is read through the Target, so a snapshot records and replays it.
"""

from __future__ import annotations
from autoglm_doctor.targets.base import Mutator, Target

import json
import os
import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ROOT = "/var/lib/autoglm-doctor/journal"
ENV_ROOT = "AUTOGLM_DOCTOR_JOURNAL"
PENDING = "pending.json"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
LIVE_STATES = ("applying", "verifying", "rolling_back")
MAX_JOURNAL = 256 * 1024 * 1024


def journal_root(option: str | None = None) -> str:
    return option or os.environ.get(ENV_ROOT) or DEFAULT_ROOT


def boot_id(target: Target) -> str | None:
    try:
        text = target.read_text(BOOT_ID)
    except Exception:  # noqa: BLE001 - no boot id (a sysroot, a snapshot without it): pending stays
        return None
    return text.strip() if text else None


@dataclass
class Journal:
    root: str
    run_id: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> str:
        return posixpath.join(self.root, self.run_id)

    @property
    def path(self) -> str:
        return posixpath.join(self.dir, "journal.json")

    @property
    def state(self) -> str:
        return str(self.data.get("state", ""))

    @property
    def steps(self) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = self.data.setdefault("steps", [])
        return steps

    def save(self, mut: Mutator) -> None:
        self.data["updated_at"] = time.time()
        mut.mkdir(self.dir, 0o700)
        mut.write_bytes(self.path, (json.dumps(self.data, indent=1, sort_keys=True) + "\n").encode(), mode=0o600)

    def set_state(self, mut: Mutator, state: str, **extra: Any) -> None:
        self.data["state"] = state
        self.data.update(extra)
        self.save(mut)


def load(target: Target, root: str, run_id: str) -> Journal | None:
    if not run_id or "/" in run_id or run_id.startswith("."):
        return None
    j = Journal(root, run_id)
    raw = target.read_bytes(j.path, limit=MAX_JOURNAL)
    if raw is None:
        return None
    try:
        j.data = json.loads(raw)
    except ValueError:
        j.data = {"state": "corrupt", "run_id": run_id, "steps": []}
    return j


def history(target: Target, root: str) -> list[Journal]:
    out = []
    for name in target.listdir(root) or []:
        if name.startswith(".") or name == PENDING:
            continue
        j = load(target, root, name)
        if j is not None:
            out.append(j)
    return sorted(out, key=lambda j: (j.data.get("started_at", 0), j.run_id))


def pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def interrupted(target: Target, root: str) -> list[Journal]:
    """Runs whose journal says a step may be half done and whose process is gone."""
    return [j for j in history(target, root)
            if j.state in LIVE_STATES and not (j.data.get("host") == os.uname().nodename and pid_alive(j.data.get("pid"))
                                               and j.data.get("pid") != os.getpid())]


def read_pending(target: Target, root: str) -> list[dict[str, Any]]:
    """Reboot-required changes staged and not yet in effect (entries of an older boot are dropped:
    the machine rebooted since, so the running kernel reflects them or never will)."""
    try:
        raw = target.read_bytes(posixpath.join(root, PENDING), limit=4 * 1024 * 1024)
    except Exception:  # noqa: BLE001 - an unreadable pending file must not break a check run
        return []
    if not raw:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    current = boot_id(target)
    return [e for e in entries if isinstance(e, dict) and (e.get("boot_id") is None or e.get("boot_id") == current)]


def write_pending(mut: Mutator, target: Target, root: str, entries: list[dict[str, Any]]) -> None:
    mut.mkdir(root, 0o700)
    mut.write_bytes(posixpath.join(root, PENDING), (json.dumps(entries, indent=1) + "\n").encode(), mode=0o644)
