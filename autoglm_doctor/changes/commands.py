"""Run a command as a change: the escape hatch for what only a tool can do (update-grub, grubby,
dracut, semanage, usermod, systemctl). It states its undo explicitly, or declares itself a
regenerator (its undo is running it again once the files it reads are restored: update-grub after
/etc/default/grub is put back), and may name the files it writes so the journal keeps them and a
rollback restores them byte for byte instead of trusting the tool. Commands run through the
Mutator with a timeout: a hanging tool is killed, and that counts as a failed step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from autoglm_doctor.targets.base import Mutator, Target
from autoglm_doctor.changes.base import Change, ChangeFailed, capture_file, register, restore_file

OUTPUT_TAIL = 2000


def run_or_fail(mut: Mutator, argv: tuple[str, ...], timeout: float) -> dict[str, Any]:
    result = mut.run_change(argv, timeout=timeout)
    info: dict[str, Any] = {"argv": list(argv), "returncode": result.returncode,
                            "stdout": result.stdout[-OUTPUT_TAIL:], "stderr": result.stderr[-OUTPUT_TAIL:]}
    if getattr(result, "recorded", False) or "recorded, not run" in result.stderr:
        info["recorded"] = True
    if result.timed_out:
        raise ChangeFailed(f"{' '.join(argv)}: timed out after {timeout:g}s (killed)")
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        raise ChangeFailed(f"{' '.join(argv)}: exit {result.returncode}: {tail[0]}")
    return info


@register
@dataclass(frozen=True)
class RunCommand(Change):
    argv: tuple[str, ...]
    undo: tuple[str, ...] | None = None
    timeout: float = 300.0
    # a command whose success means "already done" (idempotence), run read-only through the Target
    done_if: tuple[str, ...] | None = None
    # derived state: undone by running it again after the inputs are restored
    regenerate: bool = False
    # files the command writes: journalled before, restored byte for byte on undo
    outputs: tuple[str, ...] = ()
    takes_effect_at_boot: bool = False
    risk: str = "safe"  # type: ignore[misc]  # a field here: each command states its own risk
    kind: ClassVar[str] = "run_command"

    def describe(self) -> str:
        text = "run: " + " ".join(self.argv)
        if self.undo:
            return text + f"  (undo: {' '.join(self.undo)})"
        if self.regenerate:
            return text + "  (undo: run again after the inputs are restored)"
        if self.outputs:
            return text + f"  (undo: restore {', '.join(self.outputs)})"
        return text + "  (no automatic undo)"

    @property
    def paths(self) -> tuple[str, ...]:
        return self.outputs

    def capture(self, target: Target) -> dict[str, Any]:
        return {"outputs": {p: capture_file(target, p) for p in self.outputs}}

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        if not self.done_if or not target.can_run:
            return False
        return bool(target.run(self.done_if, timeout=min(self.timeout, 30.0)).ok)

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        return run_or_fail(mut, self.argv, self.timeout)

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        if self.undo:
            run_or_fail(mut, self.undo, self.timeout)
        for path, state in before.get("outputs", {}).items():
            restore_file(mut, target, path, state)

    def redo(self, mut: Mutator) -> dict[str, Any]:
        """The deferred undo of a regenerator."""
        return run_or_fail(mut, self.argv, self.timeout)
