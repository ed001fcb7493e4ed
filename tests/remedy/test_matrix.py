"""Every registered fix held to the same contract, on the place it can be applied (tests/remedy/matrix.py):

1. a dry run changes nothing;
2. a failure injected in the middle of its plan (AUTOGLM_DOCTOR_FAIL_STEP: the steps before it really
   applied) rolls back to the exact state before, exit 1;
3. applied: exit 0, exactly the expected files changed (byte for byte) and commands recorded, and the
   addressed checks then pass (or are pending_reboot for a change that takes effect at the next boot);
4. a second apply changes nothing and says so;
5. ``--rollback`` restores the state before, byte for byte (content, mode, owner, ACLs, xattrs).

The lock and crash recovery do not depend on the fix: the lock is taken before any plan is looked
at, and recovery replays the journal, whose per-change-kind round trip (change_from_dict, revert
from the journalled before-state) each fix's ``--rollback`` above already exercises in a new
process. So a concurrent apply and a SIGKILL are tested once per engine path (sysroot, live
commands), not once per fix: see test_engine_paths.py.
"""

from __future__ import annotations

import json

import pytest

from autoglm_doctor.registry import load_registry
from autoglm_doctor.remedy.engine import FAIL_STEP_ENV
from tests.remedy.matrix import ADB_CASES, DOCKER_CASES, FIREWALL_CASES, LIBVIRT_CASES, NETNS_CASES, SYSROOT_CASES, Case, Env, SysrootEnv

LIVE = pytest.mark.live
CASES = [pytest.param(c, id=c.fix_id) for c in SYSROOT_CASES] + \
    [pytest.param(c, id=c.fix_id, marks=LIVE) for c in NETNS_CASES + FIREWALL_CASES + DOCKER_CASES + LIBVIRT_CASES + ADB_CASES]
# fixes that are in the registry but not yet in the matrix, each with the reason; this list only shrinks
GAPS: dict[str, str] = {
    "fix.adb.udev_rule": "needs a phone in the 'no permissions' state on USB; this machine has no USB phone and a "
                         "sysroot cannot run adb",
    "fix.usb.hostdev": "needs a phone in /sys/bus/usb and a libvirt domain on the same target: a sysroot has no "
                       "libvirt, this machine has no USB phone",
    "fix.guest.nouveau_blacklist": "a guest fix: the CLI's local:/SYSROOT target is always a host and guest checks read "
                                   "the guest's dmesg; applied in-process in tests/remedy/test_sysroot_fixes.py",
    "fix.container.nvidia_runtime": "restarts dockerd (shared by every live test) and reads docker info through the "
                                    "daemon, so a sysroot cannot make it applicable",
}


def test_every_registered_fix_has_a_matrix_entry():
    registered = set(load_registry().fixes)
    covered = {p.values[0].fix_id for p in CASES}
    missing = sorted(registered - covered - set(GAPS))
    assert not missing, (f"fixes without a matrix entry: {missing}: add a Case to tests/remedy/matrix.py (a scenario "
                         "sysroot or a live place that makes the fix applicable, and what the apply must produce)")
    assert not sorted(covered - registered), "matrix entries for fixes that are not registered"
    assert not sorted(covered & set(GAPS)), "a fix in the matrix is still listed as a gap"


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


@pytest.mark.parametrize("case", CASES)
def test_fix_contract(case: Case, env: Env):
    fix = ("--fix", case.fix_id)
    s0 = env.state()

    # 1. the dry run: the plan, nothing written
    dry = env.fix(*fix, "--format", "json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    plans = json.loads(dry.stdout)["plans"]
    assert [p["fix_id"] for p in plans] == [case.fix_id] and plans[0]["changes"], dry.stdout
    steps = len(plans[0]["changes"])
    assert env.state() == s0
    if case.reach:
        assert not case.reach(env.fixture)

    # 2. a failure in the middle (a one-step plan: its verification fails after the step is applied)
    mid = steps // 2 + 1 if steps > 1 else 2
    res = env.fix(*fix, "--apply", "--yes", "--format", "json", env={FAIL_STEP_ENV: str(mid)})
    out = json.loads(res.stdout)
    assert (res.returncode, out["state"]) == (1, "rolled_back"), res.stdout + res.stderr
    assert f"injected failure ({FAIL_STEP_ENV}={mid})" in out["reason"]
    assert [s["status"] for s in out["steps"]][:mid - 1] == ["reverted"] * (mid - 1)
    assert env.state() == s0

    # 3. applied: exactly these files, these commands, and the checks it addresses pass
    res = env.fix(*fix, "--apply", "--yes", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["state"] == "applied"
    s1 = env.state()
    if isinstance(env, SysrootEnv):
        assert changed(s0, s1) == set(case.files)
        for rel, text in case.files.items():
            if text is not None:
                assert (env.root / rel).read_text() == text, rel
    assert env.recorded(out["run_id"]) == case.recorded
    undo = [effect(env.root) for effect in case.effects] if isinstance(env, SysrootEnv) else []
    if case.reach:
        assert case.reach(env.fixture)
    found = env.check(tuple(case.after))
    assert {c: sorted({st for (cid, _r), st in found.items() if cid == c}) for c in case.after} == \
        {c: [st] for c, st in case.after.items()}

    # 4. a second apply is a no-op and says so
    s2 = env.state()
    res = env.fix(*fix, "--apply", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "nothing to apply" in res.stdout or "every step is already as planned: nothing changed" in res.stdout, res.stdout
    assert env.state() == s2
    for u in reversed(undo):
        u()
    assert env.state() == s1

    # 5. rollback: byte for byte
    res = env.fix("--rollback", out["run_id"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert env.state() == s0
    if case.reach:
        assert not case.reach(env.fixture)
