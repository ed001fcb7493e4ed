"""The engine against real trees and real faults: mid-plan failure, concurrent apply, stale lock,
read-only file, full filesystem, hanging command, unwritable journal, idempotence."""

import json
import os
import subprocess

import pytest

from autoglm_doctor.changes import SetMode, SetXattr, WriteFile, RunCommand
from autoglm_doctor.plan import Plan
from autoglm_doctor.remedy import journal as jn
from autoglm_doctor.remedy.engine import JournalUnwritable, apply_plans, rollback
from autoglm_doctor.remedy.lock import LockHeld
from autoglm_doctor.targets.local import LocalTarget
from tests.remedy.treestate import tree_state

ROOT = "/var/lib/autoglm-doctor/journal"


def no_checks(_plans):
    return []


def tree(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "a.conf").write_text("a=1\n")
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "data").write_text("data")
    os.chmod(tmp_path / "srv" / "data", 0o600)
    return LocalTarget(str(tmp_path))


def state_without_journal(tmp_path):
    return {k: v for k, v in tree_state(str(tmp_path)).items() if not k.startswith("var")}


def three_step(fail_last=True):
    last = SetXattr("/srv/data", "bogus.name", b"1") if fail_last else SetXattr("/srv/data", "user.ok", b"1")
    return Plan("fix.test.three", "three steps", (WriteFile("/etc/a.conf", "a=2\n"), SetMode("/srv/data", 0o644), last))


def test_failure_in_the_middle_of_a_plan_leaves_everything_as_it_was(tmp_path):
    target = tree(tmp_path)
    before = state_without_journal(tmp_path)
    out = apply_plans(target, [three_step()], root=ROOT, run_id="aaaaaaaaaaaa", verify=no_checks)
    assert out.state == "rolled_back"
    assert "step 3 of fix.test.three" in out.reason
    assert [s["status"] for s in out.steps] == ["reverted", "reverted", "reverted"]
    assert state_without_journal(tmp_path) == before
    data = json.loads((tmp_path / ROOT.lstrip("/") / "aaaaaaaaaaaa" / "journal.json").read_text())
    assert data["state"] == "rolled_back"


def test_verification_failure_rolls_back(tmp_path):
    target = tree(tmp_path)
    before = state_without_journal(tmp_path)
    out = apply_plans(target, [three_step(False)], root=ROOT, run_id="bbbbbbbbbbbb",
                      verify=lambda plans: ["host.x.y still fail: nope"])
    assert out.state == "rolled_back" and out.reason == "verification failed: host.x.y still fail: nope"
    assert state_without_journal(tmp_path) == before


def test_apply_then_second_apply_is_a_no_op_then_rollback_is_byte_identical(tmp_path):
    target = tree(tmp_path)
    before = state_without_journal(tmp_path)
    out = apply_plans(target, [three_step(False)], root=ROOT, run_id="cccccccccccc", verify=no_checks)
    assert out.state == "applied"
    applied = state_without_journal(tmp_path)
    again = apply_plans(target, [three_step(False)], root=ROOT, run_id="dddddddddddd", verify=no_checks)
    assert again.state == "unchanged" and {s["status"] for s in again.steps} == {"already"}
    assert state_without_journal(tmp_path) == applied
    assert not (tmp_path / ROOT.lstrip("/") / "dddddddddddd").exists()
    back = rollback(target, ROOT, "cccccccccccc")
    assert back.state == "rolled_back"
    assert state_without_journal(tmp_path) == before
    assert rollback(target, ROOT, "cccccccccccc").state == "unchanged"
    assert [j.run_id for j in jn.history(target, ROOT)] == ["cccccccccccc"]


def test_a_second_apply_is_refused_while_the_first_holds_the_lock(tmp_path):
    target = tree(tmp_path)
    mut = target.mutator()
    from autoglm_doctor.remedy.lock import acquire

    held = acquire(mut, ROOT, "eeeeeeeeeeee")
    try:
        with pytest.raises(LockHeld, match=rf"run eeeeeeeeeeee \(pid {os.getpid()}\)"):
            apply_plans(target, [three_step(False)], root=ROOT, run_id="ffffffffffff", verify=no_checks)
    finally:
        held.release()


def test_a_stale_lock_of_a_dead_process_is_recovered(tmp_path):
    target = tree(tmp_path)
    proc = subprocess.run(["true"])  # a pid that no longer runs
    lock = tmp_path / ROOT.lstrip("/") / ".lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"run_id": "999999999999", "pid": 2 ** 22 + 1}))
    assert proc.returncode == 0
    out = apply_plans(target, [three_step(False)], root=ROOT, run_id="121212121212", verify=no_checks)
    assert out.state == "applied"
    assert out.lock_recovered == {"run_id": "999999999999", "pid": 2 ** 22 + 1}


def test_an_unwritable_journal_stops_before_any_change(tmp_path):
    target = tree(tmp_path)
    (tmp_path / "var").write_text("a file where the journal directory would be")
    before = state_without_journal(tmp_path)
    with pytest.raises(Exception) as info:
        apply_plans(target, [three_step(False)], root=ROOT, run_id="131313131313", verify=no_checks)
    assert "nothing was changed" in str(info.value) or isinstance(info.value, JournalUnwritable) or "var" in str(info.value)
    assert state_without_journal(tmp_path) == before


def test_read_only_file_fails_the_step_and_rolls_back(tmp_path):
    target = tree(tmp_path)
    (tmp_path / "etc" / "b.conf").write_text("b=1\n")
    subprocess.run(["chattr", "+i", str(tmp_path / "etc" / "b.conf")], check=True)
    try:
        before = state_without_journal(tmp_path)
        plan = Plan("fix.test.ro", "ro", (WriteFile("/etc/a.conf", "a=2\n"), SetMode("/etc/b.conf", 0o600)))
        out = apply_plans(target, [plan], root=ROOT, run_id="141414141414", verify=no_checks)
        assert out.state == "rolled_back"
        assert "Operation not permitted" in out.reason
        assert state_without_journal(tmp_path) == before
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "etc" / "b.conf")], check=True)


@pytest.fixture
def small_etc(tmp_path):
    """A sysroot whose /etc is a 64 KiB tmpfs (the journal, under /var, is on another filesystem)."""
    mnt = tmp_path / "etc"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "remedy-tmpfs", str(mnt)], check=True)
    try:
        yield tmp_path
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_filesystem_fails_the_write_and_rolls_back(small_etc):
    root = small_etc
    (root / "etc" / "a.conf").write_text("a=1\n")
    target = LocalTarget(str(root))
    # /etc fills up on the second file
    plan = Plan("fix.test.full", "full", (WriteFile("/etc/a.conf", "a=2\n"), WriteFile("/etc/big", "x" * 400_000)))
    before = state_without_journal(root)
    out = apply_plans(target, [plan], root=ROOT, run_id="151515151515", verify=no_checks)
    assert out.state == "rolled_back"
    assert "No space left on device" in out.reason
    assert state_without_journal(root) == before
    assert not [n for n in os.listdir(root / "etc") if "autoglm-doctor" in n]  # no temp file left


def test_a_hanging_command_times_out_and_rolls_back(tmp_path):
    target = LocalTarget("/")
    marker = tmp_path / "marker"
    marker.write_text("before")
    plan = Plan("fix.test.hang", "hang", (RunCommand(("sh", "-c", f"echo after > {marker}"),
                                                     undo=("sh", "-c", f"echo before > {marker}")),
                                          RunCommand(("sleep", "60"), timeout=1.0)))
    out = apply_plans(target, [plan], root=str(tmp_path / "journal"), run_id="161616161616", verify=no_checks)
    assert out.state == "rolled_back"
    assert "timed out after 1s" in out.reason
    assert marker.read_text() == "before\n"
