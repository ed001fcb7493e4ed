"""A concurrent apply and a SIGKILL in the middle of an apply, once per engine path: a sysroot (files
written, commands recorded), live commands (``ip`` changes in a network namespace) and the libvirt
writer (a domain redefined on the real libvirtd).

Why once per path and not once per fix (test_matrix.py holds every fix to the rest): the lock is an
flock on the journal root taken by ``apply_plans`` before any plan is looked at, so what is being
applied cannot change whether a second apply is refused; and a crashed run is recovered from its
journal alone — every step's change and before-state, written before the step — by the same code
that ``--rollback`` of each fix in the matrix already runs in a fresh process. What differs between
paths is how a half-applied state is undone (file restore, inverse ``ip`` command, redefining the old
XML), so each path is killed for real here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.remedy.matrix import LIBVIRT_CASES, NETNS_CASES, SYSROOT_CASES, Case, Env

LIVE = pytest.mark.live


def case(cases: list[Case], fix_id: str) -> Case:
    return next(c for c in cases if c.fix_id == fix_id)


PATHS = [
    pytest.param(case(SYSROOT_CASES, "fix.vfio.modules"), id="sysroot"),
    pytest.param(case(NETNS_CASES, "fix.net.bridge_address"), id="live-commands", marks=LIVE),
    pytest.param(case(LIBVIRT_CASES, "fix.vm.domain_xml"), id="libvirt", marks=LIVE),
]


def first_step_applied(env: Env, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        root = env.journal_root()
        runs = [n for n in os.listdir(root) if not n.startswith(".") and n != "pending.json"] if root.exists() else []
        try:
            if runs and env.journal(runs[0])["steps"][0]["status"] == "applied":
                return runs[0]
        except (FileNotFoundError, ValueError, KeyError, IndexError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"the apply never reached its first step: {proc.poll()}")


@pytest.mark.parametrize("case", PATHS)
def test_a_second_apply_is_refused_and_a_killed_apply_is_rolled_back_at_the_next_start(case: Case, env: Env):
    s0 = env.state()
    argv, base = env.argv("fix", *[w for c in env.only for w in ("--only", c)], "--fix", case.fix_id, "--apply", "--yes")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env={**os.environ, "AUTOGLM_DOCTOR_JOURNAL": "", **base, "AUTOGLM_DOCTOR_STEP_DELAY": "60"})
    try:
        run_id = first_step_applied(env, proc)
        # a second apply while the first holds the lock: refused, naming the holder; nothing changed by it
        held = env.state()
        res = env.fix("--fix", case.fix_id, "--apply", "--yes")
        assert res.returncode == 2, res.stdout + res.stderr
        assert f"another apply is running: run {run_id} (pid {proc.pid}); wait for it to finish" in res.stderr
        assert env.state() == held
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert held != s0  # the first step really changed the system before the kill

    # the next start finds the interrupted run, refuses a new apply and names the rollback
    res = env.fix("--fix", case.fix_id, "--apply", "--yes")
    assert res.returncode == 2 and f"run {run_id} ({case.fix_id}) was interrupted while applying" in res.stderr
    assert f"fix --rollback {run_id}" in res.stderr
    assert env.state() == held
    res = env.fix("--rollback", run_id)
    assert res.returncode == 0, res.stdout + res.stderr
    assert env.state() == s0
    assert "interrupted" not in env.fix("--fix", case.fix_id).stderr
