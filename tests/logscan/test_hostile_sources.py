"""A log source that is a FIFO, a device, kernel state or missing is said to be so (exit 2, one line),
never read (a FIFO blocks, /dev/zero never ends) and never a clean exit 0 with nothing scanned."""

import os

import pytest

from tests.helpers import doctor


@pytest.mark.parametrize("command", ["logs", "trace"])
@pytest.mark.parametrize("make, needle", [
    (lambda d: (os.mkfifo(d / "app.log"), d / "app.log")[1], "is a FIFO, not a log file: refused"),
    (lambda d: "/dev/zero", "is a character device, not a log file: refused"),
    (lambda d: "/proc/self/status", "is in /proc (kernel state, not a log): refused"),
    (lambda d: "/sys/kernel/mm/transparent_hugepage/enabled", "is in /sys (kernel state, not a log): refused"),
    (lambda d: d / "missing.log", "does not exist"),
])
def test_unreadable_log_sources_are_named(tmp_path, command, make, needle):
    source = str(make(tmp_path))
    args = [command] + (["0af7651916cd43dd8448eb211c80319c"] if command == "trace" else [])
    out = doctor(*args, "--source", source, "--format", "json", timeout=60)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, (out.returncode, out.stdout[-300:], out.stderr)
    assert len(lines) == 1 and lines[0].startswith("autoglm-doctor: error: no log source could be read: "), lines
    assert source in lines[0] and needle in lines[0], lines[0]
