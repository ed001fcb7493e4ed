"""fix.hugepages.reserve on the real kernel: 32 more 2M pages (64 MiB) reserved for real through the
engine, read back by the kernel's own counters, the check re-run and passing, then rolled back to
the count the machine had. /etc/sysctl.d is a per-test directory bind-mounted in a private mount
namespace, so the machine's configuration is never written."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.remedy.treestate import tree_state

pytestmark = pytest.mark.live

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "autoglm-doctor"
POOL = Path("/sys/kernel/mm/hugepages/hugepages-2048kB")
EXTRA = 32


def meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def doctor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    script = f'mount --bind "{tmp_path / "sysctl.d"}" /etc/sysctl.d && exec "$@"'
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(EXE), "fix",
            "--config", str(tmp_path / "hp.toml"), "--journal-dir", str(tmp_path / "journal"),
            "--only", "host.resources.hugepages", *args]
    env = {**os.environ, "AUTOGLM_DOCTOR_JOURNAL": ""}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, stdin=subprocess.DEVNULL)


def test_2m_pages_reserved_now_read_back_and_rolled_back(tmp_path):
    if not POOL.is_dir() or meminfo("Hugepagesize") != 2048:
        pytest.fail("this kernel has no default 2M hugepage pool")
    before = int((POOL / "nr_hugepages").read_text())
    if int((POOL / "free_hugepages").read_text()) != before:
        pytest.fail("2M hugepages are in use on this machine: the test would disturb their user")
    assert meminfo("MemAvailable") > 4 * 1024 * 1024, "less than 4 GiB available: not reserving more"
    want = before + EXTRA
    (tmp_path / "sysctl.d").mkdir()
    (tmp_path / "hp.toml").write_text(f'[profile]\nhugepage_size = "2M"\nvm_memory_gb = {want * 2 / 1024}\n')
    etc_before = tree_state(str(tmp_path / "sysctl.d"))

    res = doctor(tmp_path, "--apply", "--yes", "--format", "json")
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        out = json.loads(res.stdout)
        assert out["state"] == "applied" and out["reboot_pending"] is False
        # the kernel's own counters, read independently of the tool
        assert int((POOL / "nr_hugepages").read_text()) == want
        assert meminfo("HugePages_Total") == want and meminfo("HugePages_Free") == want
        assert (tmp_path / "sysctl.d" / "90-autoglm-doctor-hugepages.conf").read_text() == (
            f"# Written by autoglm-doctor: {want} x 2M pages for the AutoGLM VM's memory\nvm.nr_hugepages = {want}\n")
        again = doctor(tmp_path, "--apply", "--yes")
        assert again.returncode == 0 and "nothing to apply" in again.stdout, again.stdout + again.stderr
    finally:
        back = doctor(tmp_path, "--rollback", json.loads(res.stdout)["run_id"]) if res.returncode == 0 else None
    assert back is not None and back.returncode == 0, (back.stdout + back.stderr) if back else res.stderr
    assert int((POOL / "nr_hugepages").read_text()) == before
    assert tree_state(str(tmp_path / "sysctl.d")) == etc_before
