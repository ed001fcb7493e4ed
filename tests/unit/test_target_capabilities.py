"""Targets declare what they offer (kind, role, can_run, writable, adapters, has_clock, hostname), and
nothing outside targets/ finds it out by probing their type or their private state."""

import ast
import json
import os
from pathlib import Path

import pytest

from autoglm_doctor.registry import load_registry
from autoglm_doctor.targets.base import ADAPTER_KINDS, AdapterUnavailable, Target, TargetDefaults
from autoglm_doctor.targets.deadline import DeadlineTarget
from autoglm_doctor.targets.docker_exec import DockerExecTarget
from autoglm_doctor.targets.guest_agent import GuestAgentTarget
from autoglm_doctor.targets.local import LocalTarget
from autoglm_doctor.targets.recorder import RecordingTarget
from autoglm_doctor.targets.snapshot import SnapshotTarget
from autoglm_doctor.targets.ssh import SshTarget
from tests.helpers import ROOT, run_check_ids


def _sysroot(tmp_path: Path) -> Path:
    root = tmp_path / "sysroot"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("imaged-host\n")
    return root


def test_every_target_class_declares_its_capabilities():
    for cls in (LocalTarget, SnapshotTarget, RecordingTarget, SshTarget, GuestAgentTarget, DockerExecTarget):
        assert issubclass(cls, TargetDefaults), cls
        for name in ("read_many", "read_range", "host_path", "hostname", "remaining", "ready", "adapter"):
            assert callable(getattr(cls, name)), (cls, name)
    # remote targets reach no typed adapter (yet): they declare none
    for cls in (SshTarget, GuestAgentTarget, DockerExecTarget):
        assert cls.adapters == frozenset(), cls


def test_the_local_host_offers_every_adapter_a_sysroot_none_unless_asked(tmp_path):
    root = _sysroot(tmp_path)
    assert LocalTarget("/").adapters == ADAPTER_KINDS
    sysroot = LocalTarget(str(root), name=f"local:{root}")
    assert isinstance(sysroot, Target)
    assert (sysroot.kind, sysroot.can_run, sysroot.adapters) == ("sysroot", False, frozenset())
    for kind in sorted(ADAPTER_KINDS) + ["libvirt@qemu:///system"]:
        with pytest.raises(AdapterUnavailable) as err:
            sysroot.adapter(kind)
        assert err.value.reason == "unsupported"
    assert LocalTarget(str(root), live=True).adapters == ADAPTER_KINDS


def test_a_check_needing_an_adapter_the_target_lacks_skips_with_the_reason(tmp_path):
    sysroot = LocalTarget(str(_sysroot(tmp_path)), name="local:sysroot")
    [finding] = run_check_ids(sysroot, ["container.docker.daemon"])
    assert finding.status.value == "skip"
    assert "sysroot" in finding.message and "docker" in finding.message


def test_wrappers_pass_the_declarations_through(tmp_path):
    sysroot = LocalTarget(str(_sysroot(tmp_path)), name="local:sysroot")
    rec = RecordingTarget(sysroot)
    try:
        bounded = DeadlineTarget(rec, float("inf"))
        for t in (rec, bounded):
            assert isinstance(t, Target)
            assert (t.role, t.can_run, t.adapters, t.has_clock) == ("host", False, frozenset(), True)
        assert bounded.remaining() == float("inf") and sysroot.remaining() is None
    finally:
        rec.close()


def test_hostname_is_the_targets_own_and_a_collected_snapshot_keeps_it(tmp_path):
    sysroot = LocalTarget(str(_sysroot(tmp_path)), name="local:sysroot")
    assert sysroot.hostname() == "imaged-host"
    rec = RecordingTarget(sysroot)
    try:
        assert rec.hostname() == "imaged-host"
        out = rec.save(str(tmp_path / "snap"))
    finally:
        rec.close()
    manifest = json.loads((Path(out) / ".autoglm-doctor" / "manifest.json").read_text())
    assert manifest["hostname"] == "imaged-host"  # the recorded machine, not the one collecting
    snap = SnapshotTarget(out)
    try:
        assert snap.hostname() == "imaged-host"
    finally:
        snap.close()


def test_read_many_and_read_range_come_from_one_place(tmp_path):
    root = _sysroot(tmp_path)
    (root / "etc" / "big").write_bytes(b"0123456789")
    for t in (LocalTarget(str(root)), DeadlineTarget(LocalTarget(str(root)), float("inf"))):
        got = t.read_many(["/etc/hostname", "/etc/missing"])
        assert got == {"/etc/hostname": b"imaged-host\n", "/etc/missing": None}
        assert t.read_range("/etc/big", 3, 4) == b"3456"
        assert t.host_path("/etc/big") == os.path.join(str(root), "etc/big")
    # the defaults: a slice of a capped read, and no host path
    rec = RecordingTarget(LocalTarget(str(root)))
    try:
        assert rec.read_range("/etc/big", 8, 10) == b"89" and rec.host_path("/etc/big") is None
    finally:
        rec.close()
    assert "read_many" not in vars(LocalTarget) and "read_many" not in vars(SnapshotTarget)


def _modules_outside_targets():
    for base in ("autoglm_doctor", "checks", "fixes"):
        for path in sorted((ROOT / base).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            # targets/ implements the declarations; the fix engine (changes/, remedy/) is held to the
            # Mutator protocol by its own tests
            if not rel.startswith(("autoglm_doctor/targets/", "autoglm_doctor/changes/", "autoglm_doctor/remedy/")):
                yield rel, ast.parse(path.read_text(encoding="utf-8"))


def test_no_check_or_fact_reads_a_snapshot_manifest_or_probes_a_target():
    offenders = []
    for rel, tree in _modules_outside_targets():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "manifest":
                offenders.append(f"{rel}:{node.lineno}: .manifest")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("getattr", "hasattr", "isinstance") and node.args:
                first = ast.unparse(node.args[0])
                if first.split(".")[-1] in ("target", "inner") or (node.func.id == "isinstance" and any(
                        "Target" in ast.unparse(a) for a in node.args[1:])):
                    offenders.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []


def test_checks_load_with_the_capability_declarations():
    assert not load_registry().problems
