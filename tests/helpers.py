"""Test helpers: scenario cases with exact expected verdicts, and CLI running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.registry import load_registry
from autoglm_doctor.runner import run_checks
from autoglm_doctor.targets.snapshot import SnapshotTarget

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "scenarios"


def scenario_path(name: str) -> Path:
    path = SCENARIOS / name
    if not path.is_dir():
        raise FileNotFoundError(f"no scenario {name!r} under {SCENARIOS}")
    return path


@dataclass
class Case:
    """Run one check on a scenario and expect exactly these {resource: status} verdicts.

    ``scenario`` is a directory name under tests/scenarios, or a callable(tmp_path) -> path that builds
    the tree. ``requires`` checks are run too (so requirement skipping is exercised)."""

    scenario: str | Callable[[Path], Path]
    check_id: str
    expected: dict[str, str]
    profile: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def __str__(self) -> str:
        name = self.scenario if isinstance(self.scenario, str) else getattr(self.scenario, "__name__", "built")
        return f"{name}:{self.check_id}{'-' + self.note if self.note else ''}"

    @property
    def statuses(self) -> set[str]:
        return set(self.expected.values())

    def findings(self, tmp_path: Path | None = None) -> list:
        path = scenario_path(self.scenario) if isinstance(self.scenario, str) else self.scenario(tmp_path)
        target = SnapshotTarget(str(path))
        try:
            return run_check_ids(target, [self.check_id], self.profile)
        finally:
            target.close()

    def verify(self, tmp_path: Path | None = None) -> list:
        findings = self.findings(tmp_path)
        got = {f.resource: f.status.value for f in findings if f.check_id == self.check_id}
        messages = {f.resource: f.message for f in findings if f.check_id == self.check_id}
        assert got == self.expected, f"{self}: got {got}\nmessages: {messages}"
        return findings


def run_check_ids(target: Any, ids: list[str], profile: dict[str, Any] | None = None) -> list:
    registry = load_registry()
    classes = registry.select(ids)
    return run_checks(classes, Context(target, Profile(dict(profile or {}))), timeout=60)


def doctor(*args: str, env: dict[str, str] | None = None, cwd: str | None = None,
           input_text: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed CLI as a real process."""
    exe = Path(sys.executable).with_name("autoglm-doctor")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "autoglm_doctor"]
    full_env = {**os.environ, **(env or {})}
    out = subprocess.run(cmd + list(args), capture_output=True, text=True, env=full_env, cwd=cwd,
                         input=input_text, timeout=timeout)
    if args[:1] == ("check",) and out.returncode in (0, 1) and out.stdout.strip() and _is_json_format(args):
        validate_report(json.loads(out.stdout))  # every JSON report a test produces must match the schema
    return out


def _is_json_format(args: tuple[str, ...]) -> bool:
    return any(a == "--format" and i + 1 < len(args) and args[i + 1] == "json" for i, a in enumerate(args)) \
        or "--format=json" in args


def validate_report(report: dict) -> None:
    """Validate a JSON report against the published schema."""
    import jsonschema

    schema = json.loads((ROOT / "autoglm_doctor" / "schema" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(report)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, what: str) -> None:
    """Live tests: a missing component skips locally but fails in CI (CI=true)."""
    import pytest

    if condition:
        return
    if in_ci():
        pytest.fail(f"live component missing in CI: {what}")
    pytest.skip(f"live component missing: {what}")
