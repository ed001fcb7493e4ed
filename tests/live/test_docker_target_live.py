"""The docker: target against a real container of the CI busybox image: files (archive and exec), commands,
metadata, the write side, a stopped container and one that does not exist."""

import json
import os
import subprocess

import pytest

from autoglm_doctor.targets.base import TargetError, TooLarge
from autoglm_doctor.targets.docker_exec import DockerExecTarget
from tests.helpers import doctor, require

pytestmark = pytest.mark.live
IMAGE = "autoglm-doctor-test/busybox:latest"


def _docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def container():
    name = f"autoglm-remote-target-{os.getpid()}"
    _docker("rm", "-f", name)
    started = _docker("run", "-d", "--name", name, "--memory", "64m", IMAGE, "sleep", "600")
    require(started.returncode == 0, f"docker and the image {IMAGE} ({started.stderr.strip()})")
    yield name
    _docker("rm", "-f", name)


@pytest.fixture()
def target(container):
    t = DockerExecTarget(container)
    yield t
    t.close()


def test_reads_files_and_runs_commands(container, target):
    assert target.read_bytes("/etc/passwd") == _docker("exec", container, "cat", "/etc/passwd").stdout.encode()
    status = target.read_text("/proc/1/status")  # procfs: through exec, the archive would be empty
    assert "Name:\tsleep" in status
    assert target.read_bytes("/sbin/../etc/group").startswith(b"root:x:0:")
    assert target.read_bytes("/no/such") is None
    with pytest.raises(TargetError, match="is a directory"):
        target.read_bytes("/etc")
    with pytest.raises(TooLarge):
        target.read_bytes("/bin/busybox", limit=1000)
    res = target.run(["id", "-u"])
    assert res.ok and res.stdout == "0\n"
    assert target.run(["no-such-command"]).not_found
    assert target.run(["sleep", "5"], timeout=0.3).timed_out
    assert target.listdir("/home") == ["app"] and target.readlink("/sbin") == "bin"
    assert target.stat("/home/app").uid == 1000 and target.stat("/missing") is None
    assert (target.kind, target.role, target.writable) == ("docker", "container", True)


def test_write_side(container, target):
    m = target.mutator()
    m.write_bytes("/etc/autoglm.conf", b"one\n", mode=0o640, uid=1000, gid=1000)
    assert _docker("exec", container, "stat", "-c", "%a %u %g", "/etc/autoglm.conf").stdout == "640 1000 1000\n"
    m.write_bytes("/etc/autoglm.conf", b"two\n")  # keeps mode and owner
    assert _docker("exec", container, "stat", "-c", "%a %u %g", "/etc/autoglm.conf").stdout == "640 1000 1000\n"
    assert target.read_bytes("/etc/autoglm.conf") == b"two\n"
    assert "autoglm-doctor-tmp" not in _docker("exec", container, "ls", "-a", "/etc").stdout
    m.mkdir("/srv/a/b", 0o700)
    m.chmod("/srv/a/b", 0o750)
    m.chown("/srv/a/b", 1000, -1)
    assert _docker("exec", container, "stat", "-c", "%a %u %g", "/srv/a/b").stdout == "750 1000 0\n"
    m.remove("/srv/a/b")
    m.remove("/srv/a/b")
    assert target.stat("/srv/a/b") is None
    assert m.run_change(["touch", "/tmp/ran"]).ok and target.stat("/tmp/ran") is not None


def test_container_checks_in_one_report_with_the_host(container):
    out = doctor("check", "--guest", f"docker:{container}", "--only", "host.resources.memory",
                 "--only", "host.kvm.device", "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    findings = json.loads(out.stdout)["findings"]
    got = {(f["target"], f["check_id"]): f["status"] for f in findings}
    assert got[(f"docker:{container}", "host.kvm.device")] == "skip"
    assert (f"docker:{container}", "host.resources.memory") in got


def test_stopped_and_missing_containers(container):
    name = f"autoglm-remote-stopped-{os.getpid()}"
    _docker("rm", "-f", name)
    _docker("create", "--name", name, IMAGE, "true")
    try:
        t = DockerExecTarget(name)
        assert t.read_bytes("/etc/passwd").startswith(b"root:")  # the archive API works on a stopped container
        with pytest.raises(TargetError, match="not running"):
            t.run(["true"])
        t.close()
    finally:
        _docker("rm", "-f", name)
    out = doctor("check", "--target", "docker:autoglm-remote-no-such-container", "--only", "host.kernel.release")
    assert out.returncode == 2 and "no such container" in out.stderr and out.stderr.count("\n") == 1
