"""One apply at a time per target: an exclusive flock on ``<journal root>/.lock``, holding the run
id and pid. A second apply is refused naming the holder. A lock left by a dead process is no lock:
flock is released by the kernel when its holder dies, so the next apply takes it and says it
recovered it."""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass
from typing import Any

from autoglm_doctor.targets.base import Mutator, Target, TargetError, mutator_of


class LockHeld(Exception):
    def __init__(self, run_id: str, pid: int | None) -> None:
        super().__init__(f"another apply is running: run {run_id or '?'} (pid {pid or '?'}); wait for it to finish")
        self.run_id = run_id
        self.pid = pid


@dataclass
class Lock:
    handle: Any
    recovered: dict[str, Any] | None

    def release(self) -> None:
        try:
            self.handle.truncate(0)
        except OSError:
            pass
        self.handle.close()


def _holder(exc: BlockingIOError) -> LockHeld:
    try:
        holder = json.loads(str(exc.args[0]) if exc.args else "{}")
    except ValueError:
        holder = {}
    if not isinstance(holder, dict):
        holder = {}
    return LockHeld(holder.get("run_id", ""), holder.get("pid"))


def ensure_free(target: Target, root: str) -> None:
    """Raise LockHeld when another apply holds the lock now. Called before deciding there is nothing
    to do: a half-applied state read while another run works must not be reported as "nothing to
    apply". Takes nothing: the flock is dropped at once and the file is left as it was."""
    path = posixpath.join(root, ".lock")
    locker = getattr(mutator_of(target), "lock", None)
    if not callable(locker) or target.stat(path, follow=False) is None:
        return
    try:
        locker(path).close()
    except BlockingIOError as exc:
        raise _holder(exc) from None


def acquire(mut: Mutator, root: str, run_id: str) -> Lock:
    locker = getattr(mut, "lock", None)
    if not callable(locker):
        raise LockHeld("", None) from None
    mut.mkdir(root, 0o700)
    path = posixpath.join(root, ".lock")
    try:
        fh = locker(path)
    except BlockingIOError as exc:
        raise _holder(exc) from None
    fh.seek(0)
    old = fh.read(4096)
    try:
        recovered = json.loads(old) if old.strip() else None
    except ValueError:
        recovered = None
    try:
        fh.seek(0)
        fh.truncate(0)
        fh.write(json.dumps({"run_id": run_id, "pid": os.getpid()}))
        fh.flush()
    except OSError as exc:  # a full or failing filesystem: the journal could not be written either
        try:
            fh.close()  # flushes what is still buffered: fails the same way
        except OSError:
            pass
        raise TargetError(f"{path}: {exc.strerror or exc}") from None
    return Lock(fh, recovered)
