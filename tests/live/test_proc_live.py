"""The proc adapter against the kernel's own view: a socket this test opens is listed with this
process as its owner, and a collected snapshot replays the same answer."""

import os
import socket

import pytest

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.facts.listeners import listener_owner, listening_on
from autoglm_doctor.targets.local import LocalTarget
from autoglm_doctor.targets.recorder import RecordingTarget
from autoglm_doctor.targets.snapshot import SnapshotTarget

pytestmark = pytest.mark.live


@pytest.fixture()
def listening():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_local_listener_has_this_process_as_owner_and_replays(listening, tmp_path):
    with open("/proc/self/comm") as fh:
        comm = fh.read().strip()
    recorder = RecordingTarget(LocalTarget())
    try:
        ctx = Context(recorder, Profile({}))
        [found] = listening_on(ctx, listening)
        assert (found.address, found.port) == ("127.0.0.1", listening)
        assert listener_owner(ctx, found) == f"PID {os.getpid()} ({comm})"
        path = recorder.save(str(tmp_path / "snap"))
    finally:
        recorder.close()
    snap = SnapshotTarget(path)
    replay = Context(snap, Profile({}))
    [again] = listening_on(replay, listening)
    assert listener_owner(replay, again) == f"PID {os.getpid()} ({comm})"


def _online_cpus() -> int:
    with open("/sys/devices/system/cpu/online") as fh:
        spans = [part.split("-") for part in fh.read().strip().split(",") if part]
    return sum(int(s[-1]) - int(s[0]) + 1 for s in spans)


def test_counts_agree_with_the_kernel_without_loading_psutil():
    import subprocess
    import sys

    probe = ("import sys\nfrom autoglm_doctor.targets.local import LocalTarget\n"
             "LocalTarget().adapter('proc').counts()\nprint('psutil' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"
    counts = LocalTarget().adapter("proc").counts()
    assert counts["cpus"] == _online_cpus()
    with open("/proc/meminfo") as fh:
        total_kb = int(next(line for line in fh if line.startswith("MemTotal:")).split()[1])
    assert counts["memory_total"] == total_kb * 1024


def test_host_resources_counts_come_from_the_adapter_and_replay(tmp_path):
    """On the local host host.resources.* count through the proc adapter (checked against the kernel's
    own numbers read here), and a collected snapshot replays the same counts from its recorded answers."""
    from tests.helpers import run_check_ids

    online = _online_cpus()
    with open("/proc/meminfo") as fh:
        total = int(next(line for line in fh if line.startswith("MemTotal:")).split()[1]) * 1024
    shown = f"{total / 1024**3:.1f} GiB"
    recorder = RecordingTarget(LocalTarget())
    try:
        live = {f.check_id: f for f in run_check_ids(recorder, ["host.resources.cpu", "host.resources.memory"])}
        path = recorder.save(str(tmp_path / "snap"))
    finally:
        recorder.close()
    assert live["host.resources.cpu"].observed == online
    assert live["host.resources.memory"].observed.startswith(shown) or shown in live["host.resources.memory"].message
    snap = SnapshotTarget(path)
    try:
        assert any(key.startswith("proc.counts(") for key in snap._api)
        again = {f.check_id: f for f in run_check_ids(snap, ["host.resources.cpu", "host.resources.memory"])}
    finally:
        snap.close()
    for cid, finding in live.items():
        assert (again[cid].status, again[cid].observed) == (finding.status, finding.observed)


class _Counting(LocalTarget):
    """The local host read the way a remote target is: every call counted (and find refused, when asked)."""

    def __init__(self, refuse_find: bool = False) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.refuse_find = refuse_find

    def run(self, argv, *, timeout=10.0):
        self.calls.append("run")
        if self.refuse_find and argv[0] == "find":
            from autoglm_doctor.targets.base import CommandResult

            return CommandResult(tuple(argv), 1, "", "find: unrecognized: -lname")
        return super().run(argv, timeout=timeout)

    def listdir(self, path):
        self.calls.append("listdir")
        return super().listdir(path)

    def readlink(self, path):
        self.calls.append("readlink")
        return super().readlink(path)


def test_a_socket_owner_is_found_with_one_command_where_the_target_runs_them(listening):
    from autoglm_doctor.facts.listeners import parse_proc_net_tcp, socket_owner

    with open("/proc/self/comm") as fh:
        comm = fh.read().strip()
    with open("/proc/net/tcp") as fh:
        [mine] = [s for s in parse_proc_net_tcp(fh.read(), "/proc/net/tcp") if s.port == listening]
    one = _Counting()
    assert socket_owner(one, mine.inode) == f"PID {os.getpid()} ({comm})"
    assert one.calls == ["run"]  # no per-descriptor walk
    walked = _Counting(refuse_find=True)  # a find without -lname (some busybox builds): the walk answers
    assert socket_owner(walked, mine.inode) == f"PID {os.getpid()} ({comm})"
    assert walked.calls[0] == "run" and walked.calls.count("readlink") >= 1
