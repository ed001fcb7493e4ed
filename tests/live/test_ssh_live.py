"""The ssh:// target against a real OpenSSH sshd on loopback (tests/sshd.py): the same findings as the local
run, host keys and user keys refused, command timeouts, a connection killed mid-run, and the write side."""

import json
import os
import signal
import threading
import time

import pytest

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.registry import load_registry
from autoglm_doctor.runner import run_checks
from autoglm_doctor.targets.base import TargetError, TooLarge
from autoglm_doctor.targets.ssh import SshTarget, parse_ssh_spec
from tests import sshd as sshd_mod
from tests.helpers import doctor, require

pytestmark = pytest.mark.live

# checks that read libvirt, udev or Docker through a typed adapter (bridges and forwarding named by libvirt
# domains, PCI names from udev) answer "unsupported" over ssh; resources.disk reports free bytes, which move
ADAPTER_OR_MOVING = ["host.libvirt.*", "host.pci.*", "host.vfio.*", "host.bridge.*", "host.firewall.*",
                     "host.resources.disk"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    require(sshd_mod.available(), "OpenSSH sshd and ssh (openssh-server, openssh-client) and root")
    with sshd_mod.running_sshd(tmp_path_factory.mktemp("ssh")) as server:
        yield server


def ssh_args(sshd, key=None, config=None):
    return ["--target", sshd.spec, "--identity", key or sshd.user_key, "--ssh-config", config or sshd.client_config]


@pytest.fixture()
def target(sshd):
    t = SshTarget(parse_ssh_spec(sshd.spec), identity=sshd.user_key, ssh_config=sshd.client_config)
    yield t
    t.close()


def test_same_findings_as_the_local_run(sshd):
    skips = [a for pattern in ADAPTER_OR_MOVING for a in ("--skip", pattern)]
    local = doctor("check", "--only", "host.*", *skips, "--format", "json")
    remote = doctor("check", *ssh_args(sshd), "--only", "host.*", *skips, "--format", "json")
    assert remote.returncode == local.returncode, remote.stderr
    key = lambda out: [(f["check_id"], f["status"], f["resource"], f["message"])  # noqa: E731
                       for f in json.loads(out.stdout)["findings"]]
    assert key(remote) == key(local)
    assert len(key(local)) > 20
    assert {f["target"] for f in json.loads(remote.stdout)["findings"]} == {sshd.spec}


def test_one_ssh_session_per_run(sshd):
    out = doctor("check", *ssh_args(sshd), "--only", "host.*", "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    log = sshd.log()
    accepted = log.count("Accepted publickey")
    # every run so far in this module opened one session each: count the runs by their helper's greeting
    assert accepted >= 1
    before = accepted
    doctor("check", *ssh_args(sshd), "--only", "host.*")
    assert sshd.log().count("Accepted publickey") == before + 1


def test_reads_and_commands(sshd, target):
    assert target.read_bytes("/proc/sys/kernel/osrelease") == open("/proc/sys/kernel/osrelease", "rb").read()
    assert target.read_bytes("/no/such") is None
    with pytest.raises(TargetError, match="is a directory"):
        target.read_bytes("/proc")
    with pytest.raises(TooLarge):
        target.read_bytes("/etc/passwd", limit=3)
    many = target.read_many(["/etc/hostname", "/missing", "/proc"])
    assert many["/etc/hostname"] == open("/etc/hostname", "rb").read() and many["/missing"] is None
    assert isinstance(many["/proc"], TargetError)
    assert target.listdir("/dev") == sorted(os.listdir("/dev"))
    assert target.stat("/dev/null").kind == "char" and target.readlink("/proc/self") == str(target.hello["pid"])
    res = target.run(["uname", "-r"])
    assert res.ok and res.stdout == os.uname().release + "\n"
    assert target.run(["no-such-command-remote"]).not_found
    assert (target.kind, target.role, target.can_run, target.writable) == ("ssh", "host", True, True)


def test_command_timeout_keeps_the_session(target):
    t0 = time.monotonic()
    res = target.run(["sh", "-c", "sleep 30"], timeout=0.5)
    assert res.timed_out and time.monotonic() - t0 < 5
    assert target.run(["true"]).ok  # the session goes on


def test_unknown_host_key_is_refused_even_if_the_config_would_accept_it(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n"
                      "  StrictHostKeyChecking accept-new\n  IdentitiesOnly yes\n  IdentityAgent none\n")
    out = doctor("check", *ssh_args(sshd, config=str(config)), "--only", "host.kernel.release")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "host key is not in known_hosts; refused" in out.stderr
    assert known.read_text() == ""  # never accepted


def test_changed_host_key_is_refused(sshd, tmp_path):
    other = (sshd.dir / "other_key.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n"
                      "  IdentitiesOnly yes\n  IdentityAgent none\n")
    out = doctor("check", *ssh_args(sshd, config=str(config)), "--only", "host.kernel.release")
    assert out.returncode == 2 and "CHANGED" in out.stderr and "refused" in out.stderr


def test_wrong_key_is_refused(sshd):
    out = doctor("check", *ssh_args(sshd, key=sshd.other_key), "--only", "host.kernel.release")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "authentication failed" in out.stderr and "Traceback" not in out.stderr


def test_connection_refused_and_a_guest_that_cannot_be_reached(sshd):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = doctor("check", "--target", f"ssh://root@127.0.0.1:{port}", "--ssh-config", sshd.client_config,
                 "--only", "host.kernel.release")
    assert out.returncode == 2 and "connection refused" in out.stderr
    both = doctor("check", "--guest", f"ssh://root@127.0.0.1:{port}", "--ssh-config", sshd.client_config,
                  "--only", "host.kernel.release", "--format", "json")
    findings = json.loads(both.stdout)["findings"]
    assert [f["status"] for f in findings if f["check_id"] == "doctor.target.connect"] == ["error"]


def test_connection_killed_mid_run(sshd):
    target = SshTarget(parse_ssh_spec(sshd.spec), identity=sshd.user_key, ssh_config=sshd.client_config)
    try:
        session = int(open(f"/proc/{target.hello['pid']}/stat").read().split(") ")[1].split()[1])  # sshd's child
        results = {}
        worker = threading.Thread(target=lambda: results.setdefault("run", _try(target.run, ["sleep", "20"])))
        worker.start()
        time.sleep(0.5)
        os.kill(session, signal.SIGKILL)
        worker.join(15)
        assert isinstance(results["run"], TargetError) and "dropped mid-run" in str(results["run"])
        t0 = time.monotonic()
        classes = load_registry().select(["host.kernel.release", "host.kernel.config", "host.resources.memory"])
        findings = run_checks(classes, Context(target, Profile({})), timeout=30)
        assert {f.status.value for f in findings} == {"error"}
        assert all("dropped mid-run" in f.message for f in findings)
        assert time.monotonic() - t0 < 5
    finally:
        target.close()


def _try(fn, *args):
    try:
        return fn(*args)
    except TargetError as exc:
        return exc


def test_the_write_side(sshd, target, tmp_path):
    path = tmp_path / "conf"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o640)
    os.chown(path, 0, 65534)
    os.setxattr(path, "user.autoglm", b"kept")
    m = target.mutator()
    m.write_bytes(str(path), b"new\n")
    st = os.stat(path)
    assert path.read_bytes() == b"new\n" and (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 0, 65534)
    assert os.getxattr(path, "user.autoglm") == b"kept"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".conf")]  # no temp file left
    m.chmod(str(path), 0o600)
    m.chown(str(path), 65534, -1)
    assert (os.stat(path).st_mode & 0o777, os.stat(path).st_uid) == (0o600, 65534)
    m.setxattr(str(path), "user.other", b"v")
    assert os.getxattr(path, "user.other") == b"v"
    m.removexattr(str(path), "user.other")
    m.removexattr(str(path), "user.other")  # absent is fine
    m.mkdir(str(tmp_path / "a" / "b"), 0o700)
    assert (tmp_path / "a" / "b").is_dir()
    m.remove(str(tmp_path / "a" / "b"))
    m.remove(str(tmp_path / "a" / "b"))
    assert not (tmp_path / "a" / "b").exists()
    assert m.run_change(["touch", str(tmp_path / "ran")]).ok and (tmp_path / "ran").exists()
    with pytest.raises(TargetError):
        m.write_bytes("/proc/no-such-dir/x", b"")


def test_collect_through_ssh(sshd, tmp_path):
    archive = tmp_path / "remote.tar.gz"
    out = doctor("collect", *ssh_args(sshd), "-o", str(archive), "--only", "host.kernel.*")
    assert out.returncode == 0, out.stderr
    live = json.loads(doctor("check", *ssh_args(sshd), "--only", "host.kernel.*", "--format", "json").stdout)
    replay = json.loads(doctor("check", "--target", f"snapshot:{archive}", "--only", "host.kernel.*",
                               "--format", "json").stdout)
    key = lambda r: [(f["check_id"], f["status"], f["resource"], f["message"]) for f in r["findings"]]  # noqa: E731
    assert key(replay) == key(live) and key(live)
