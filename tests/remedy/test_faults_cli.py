"""The engine against real faults, through the CLI as an operator meets them: the exit code, one clear
message naming the cause, and nothing changed.

- a read-only file (chattr +i): the step fails, what was done is undone, exit 1;
- a full filesystem (a 64 KiB tmpfs mounted by the test): the write fails with ENOSPC and leaves no
  temp file, exit 1; a journal on a full filesystem stops before the first change, exit 2;
- a command that hangs: killed at its timeout, then everything rolled back, exit 1 (the ``ip`` the
  engine runs is a shim that hangs on ``ip route add``, in a network namespace);
- a journal directory that cannot be written (a read-only mount): refused before anything, exit 2;
- permission denied as a non-root user (the CLI run as nobody): tests/remedy/test_fix_cli.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.remedy.matrix import SysrootEnv
from tests.remedy.sysroots import sysroot
from tests.remedy.matrix import NETNS_CASES

IOMMU = ("host.iommu.*",)


def iommu_root(tmp_path: Path) -> SysrootEnv:
    return SysrootEnv(sysroot("gpu-iommu-kernel-off", tmp_path / "sr", "debian"), IOMMU)


@pytest.fixture
def tmpfs(tmp_path):
    mounted: list[Path] = []

    def mount(path: Path, *opts: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=64k",) + opts), "matrix-fault", str(path)],
                       check=True)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", str(path)], check=True)


def fill(directory: Path) -> None:
    """Fill a filesystem up, whatever its exact block accounting."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_read_only_file_fails_its_step_rolls_back_and_exits_1(tmp_path):
    env = iommu_root(tmp_path)
    grub = env.root / "etc/default/grub"
    subprocess.run(["chattr", "+i", str(grub)], check=True)
    try:
        before = env.state()
        res = env.fix("--apply", "--yes")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "rolled back: step 1 of fix.iommu.enable (kernel command line: add intel_iommu=on (GRUB_CMDLINE_LINUX " \
               "in /etc/default/grub)) failed: /etc/default/grub: Operation not permitted" in res.stdout
        assert env.state() == before
    finally:
        subprocess.run(["chattr", "-i", str(grub)], check=True)


def test_a_full_filesystem_fails_the_write_leaves_no_temp_file_and_exits_1(tmp_path, tmpfs):
    env = iommu_root(tmp_path)
    default = env.root / "etc/default"
    saved = {p.name: p.read_bytes() for p in default.iterdir()}
    tmpfs(default)
    for name, data in saved.items():
        (default / name).write_bytes(data)
    fill(default)
    before = env.state()
    res = env.fix("--apply", "--yes", "--format", "json")
    assert res.returncode == 1, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["state"] == "rolled_back"
    assert out["reason"].endswith("failed: /etc/default/grub: No space left on device")
    assert env.state() == before
    assert sorted(os.listdir(default)) == sorted([*saved, "filler"])  # no temp file left behind


def test_a_journal_on_a_full_filesystem_stops_before_the_first_change(tmp_path, tmpfs):
    env = iommu_root(tmp_path)
    journal = tmpfs(env.root / "var/lib/autoglm-doctor/journal")
    fill(journal)
    before = env.state()
    res = env.fix("--apply", "--yes")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "/var/lib/autoglm-doctor/journal" in res.stderr and "No space left on device" in res.stderr
    assert "nothing was changed" in res.stderr
    assert env.state() == before
    assert os.listdir(journal) in (["filler"], ["filler", ".lock"], [".lock", "filler"])


def test_a_journal_directory_that_cannot_be_written_is_refused_before_anything(tmp_path, tmpfs):
    env = iommu_root(tmp_path)
    journal = tmpfs(env.root / "var/lib/autoglm-doctor/journal", "ro")
    before = env.state()
    res = env.fix("--apply", "--yes")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        "autoglm-doctor: error: cannot start the apply: /var/lib/autoglm-doctor/journal/.lock: Read-only file "
        "system; "
        "nothing was changed")
    assert env.state() == before
    assert os.listdir(journal) == []


HANG_IP = """#!/bin/sh
# the real ip, except that the first route added hangs (a tool stuck on a lock); the rollback's work
if [ "$1" = route ] && [ "$2" = add ] && mkdir "$0.hung" 2>/dev/null; then exec sleep 600; fi
exec /usr/sbin/ip "$@"
"""


@pytest.mark.live
@pytest.mark.parametrize("case", [c for c in NETNS_CASES if c.fix_id == "fix.net.bridge_address"], ids=str)
def test_a_hanging_command_is_killed_at_its_timeout_and_everything_rolled_back(case, netns_env, tmp_path):
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "ip").write_text(HANG_IP)
    (shim / "ip").chmod(0o755)
    before = netns_env.state()
    res = netns_env.fix("--fix", case.fix_id, "--apply", "--yes", "--format", "json",
                        env={"PATH": f"{shim}:{os.environ['PATH']}"})
    assert res.returncode == 1, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["state"] == "rolled_back"
    assert "ip route add default via 10.77.0.254 dev rmd-br: timed out after 20s (killed)" in out["reason"]
    assert [s["status"] for s in out["steps"]][:2] == ["reverted", "reverted"]
    assert netns_env.state() == before
    assert not subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True).stdout  # the hung tool is gone
