"""The libvirt: target against the real CI guest (tests/guest.py): files, commands and metadata through
qemu-guest-agent, the host-family checks' verdicts on a guest, multi-target reports, collect through the
agent, and an agent that stops answering or answers nonsense."""

import json
import os
import tarfile
import time

import pytest

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.registry import load_registry
from autoglm_doctor.runner import run_checks
from autoglm_doctor.targets.base import GarbageValue, ReadOnlyTarget, TargetError, TooLarge
from autoglm_doctor.targets.guest_agent import GuestAgentTarget
from tests.guest import boot_guest
from tests.helpers import doctor

pytestmark = pytest.mark.live


@pytest.fixture()
def target(ci_guest):
    t = GuestAgentTarget(ci_guest.name)
    yield t
    t.close()


def _agent_cat(guest, path):
    """Read a file with a raw guest-exec of cat: an independent path to the same bytes."""
    import base64

    pid = guest.agent("guest-exec", {"path": "/bin/cat", "arg": [path], "capture-output": True})["pid"]
    for _ in range(200):
        status = guest.agent("guest-exec-status", {"pid": pid})
        if status["exited"]:
            return base64.b64decode(status.get("out-data", ""))
        time.sleep(0.02)
    raise AssertionError("cat did not finish")


def test_reads_files_in_the_guest(ci_guest, target):
    assert target.read_text("/proc/sys/kernel/osrelease").strip() == ci_guest.kernel_release
    assert "console=ttyS0" in target.read_text("/proc/cmdline")
    assert target.read_bytes("/etc/hostname") == _agent_cat(ci_guest, "/etc/hostname") == b"autoglm-ci-guest\n"
    config = target.read_bytes(f"/boot/config-{ci_guest.kernel_release}")
    assert config == _agent_cat(ci_guest, f"/boot/config-{ci_guest.kernel_release}") and len(config) > 100_000
    assert target.read_bytes("/no/such/file") is None
    assert target.read_bytes("/etc/hostname/below-a-file") is None
    with pytest.raises(TargetError, match="Is a directory"):
        target.read_bytes("/proc")
    with pytest.raises(TooLarge):
        target.read_bytes(f"/boot/config-{ci_guest.kernel_release}", limit=1000)
    many = target.read_many(["/etc/hostname", "/missing", "/proc"])
    assert many["/etc/hostname"] == b"autoglm-ci-guest\n" and many["/missing"] is None
    assert isinstance(many["/proc"], TargetError)


def test_runs_commands_in_the_guest(ci_guest, target):
    res = target.run(["uname", "-r"])
    assert res.ok and res.stdout.strip() == ci_guest.kernel_release
    res = target.run(["cat", "/no/such"])
    assert res.returncode == 1 and "No such file" in res.stderr
    res = target.run(["no-such-command"])
    assert res.not_found and res.returncode == 127
    t0 = time.monotonic()
    res = target.run(["sleep", "5"], timeout=0.5)
    assert res.timed_out and time.monotonic() - t0 < 3


def test_metadata_in_the_guest(ci_guest, target):
    ports = target.listdir("/sys/class/virtio-ports")
    assert len(ports) == 1
    port = ports[0]
    assert target.read_text(f"/sys/class/virtio-ports/{port}/name").strip() == "org.qemu.guest_agent.0"
    major, minor = (int(x) for x in target.read_text(f"/sys/class/virtio-ports/{port}/dev").split(":"))
    st = target.stat(f"/dev/{port}")
    assert st.kind == "char" and (st.rdev_major, st.rdev_minor) == (major, minor)
    assert target.stat("/lib64", follow=False).kind == "link" and target.readlink("/lib64") == "lib"
    assert target.readlink("/etc/hostname") is None and target.readlink("/missing") is None
    assert target.listdir("/missing") is None and target.stat("/missing") is None
    usage = target.disk_usage("/")
    assert 0 < usage.free <= usage.total
    assert abs(target.now() - time.time()) < 120
    assert (target.kind, target.role, target.can_run, target.writable) == ("guest-agent", "guest", True, False)
    with pytest.raises(ReadOnlyTarget):
        target.mutator()


def test_host_family_checks_on_the_guest(ci_guest, target):
    ids = ["host.kernel.release", "host.kvm.device", "host.resources.cpu", "host.resources.memory",
           "host.pci.inventory"]
    classes = load_registry().select(ids)

    def verdicts(profile):
        found = run_checks(classes, Context(target, Profile(profile)), timeout=60)
        return {f.check_id: {g.status.value for g in found if g.check_id == f.check_id} for f in found}, found

    # the domain has 1 vCPU and 256 MiB: exactly what the domain XML in tests/guest.py asks for
    got, found = verdicts({"cpus": 1, "memory_gb": 0.1})
    assert got == {"host.kernel.release": {"pass"}, "host.kvm.device": {"skip"}, "host.resources.cpu": {"pass"},
                   "host.resources.memory": {"pass"}, "host.pci.inventory": {"pass"}}
    kvm = next(f for f in found if f.check_id == "host.kvm.device")
    assert "not applicable" in kvm.message and "guest" in kvm.message
    got, _found = verdicts({"cpus": 2, "memory_gb": 1})
    assert got["host.resources.cpu"] == {"fail"} and got["host.resources.memory"] == {"fail"}


def test_host_and_guest_in_one_report(ci_guest):
    out = doctor("check", "--target", "local", "--guest", ci_guest.spec, "--only", "host.kernel.release",
                 "--only", "host.kvm.device", "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    report = json.loads(out.stdout)
    assert report["targets"] == ["local", ci_guest.spec]
    by_target = {}
    for f in report["findings"]:
        by_target.setdefault(f["target"], []).append(f)
    assert set(by_target) == {"local", ci_guest.spec}
    guest_kvm = [f for f in by_target[ci_guest.spec] if f["check_id"] == "host.kvm.device"]
    assert [f["status"] for f in guest_kvm] == ["skip"]
    assert all(f["status"] == "pass" for f in by_target[ci_guest.spec] if f["check_id"] == "host.kernel.release")
    console = doctor("check", "--target", "local", "--guest", ci_guest.spec, "--only", "host.kernel.release",
                     "--color", "never", "-v")
    assert f"@{ci_guest.spec}" in console.stdout and "@local" in console.stdout


def test_unreachable_guest_is_a_finding_not_a_crash(ci_guest):
    out = doctor("check", "--guest", "libvirt:autoglm-no-such-domain-remote", "--only", "host.kernel.release",
                 "--format", "json")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    connect = [f for f in json.loads(out.stdout)["findings"] if f["check_id"] == "doctor.target.connect"]
    assert [(f["status"], f["target"]) for f in connect] == [("error", "libvirt:autoglm-no-such-domain-remote")]
    assert "no libvirt domain 'autoglm-no-such-domain-remote'" in connect[0]["message"]
    alone = doctor("check", "--target", "libvirt:autoglm-no-such-domain-remote")
    assert alone.returncode == 2 and alone.stderr.count("\n") == 1 and "no libvirt domain" in alone.stderr


def test_collect_through_the_guest_agent(ci_guest, tmp_path):
    archive = tmp_path / "guest.tar.gz"
    out = doctor("collect", "--target", ci_guest.spec, "-o", str(archive), "--only", "host.kernel.*",
                 "--only", "host.resources.memory")
    assert out.returncode == 0, out.stderr
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".autoglm-doctor/manifest.json"))
        manifest = json.load(tar.extractfile(member))
    assert manifest["role"] == "guest" and manifest["source"] == ci_guest.spec
    live = json.loads(doctor("check", "--target", ci_guest.spec, "--only", "host.kernel.*", "--only",
                             "host.resources.memory", "--format", "json").stdout)
    replay = json.loads(doctor("check", "--target", f"snapshot:{archive}", "--only", "host.kernel.*", "--only",
                               "host.resources.memory", "--format", "json").stdout)
    key = lambda r: [(f["check_id"], f["status"], f["resource"]) for f in r["findings"]]  # noqa: E731
    assert key(replay) == key(live) and key(live)


def test_an_agent_that_stops_answering(ci_guest):
    pid = _agent_cat(ci_guest, "/run/qemu-ga.pid").decode().strip()
    # freeze qemu-ga for 15 s from inside the guest (it cannot thaw itself); the shell thaws it and says
    # on the serial console when the agent is frozen, which the host reads (the agent cannot tell)
    mark = f"autoglm-agent-frozen-{time.monotonic_ns()}"
    ci_guest.agent("guest-exec", {"path": "/bin/sh", "arg": [
        "-c", f"kill -STOP {pid}; echo {mark} >/dev/console; sleep 15; kill -CONT {pid}"]})
    deadline = time.monotonic() + 30
    while mark not in ci_guest.console_text():
        assert time.monotonic() < deadline, "the guest never froze its agent"
        time.sleep(0.1)
    target = GuestAgentTarget(ci_guest.name, timeout=1)
    try:
        with pytest.raises(TargetError, match="not answer"):
            target.read_bytes("/etc/hostname")
        t0 = time.monotonic()
        with pytest.raises(TargetError, match="not answer"):
            target.run(["true"])
        assert time.monotonic() - t0 < 0.1  # a dead agent costs one timeout, not one per call
        classes = load_registry().select(["host.kernel.release"])
        findings = run_checks(classes, Context(target, Profile({})), timeout=30)
        assert [(f.status.value, "not answer" in f.message) for f in findings] == [("error", True)]
    finally:
        target.close()
    deadline = time.monotonic() + 30
    while True:  # the shared guest must answer again for the tests after this one
        try:
            ci_guest.agent("guest-ping", timeout=2)
            break
        except Exception:  # noqa: BLE001
            assert time.monotonic() < deadline, "the CI guest's agent did not come back"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def garbage_guest():
    guest = boot_guest(f"autoglm-ci-garbage-{os.getpid()}", cmdline_extra="autoglm.agent=garbage")
    yield guest
    guest.close()


def test_garbage_agent_replies(garbage_guest):
    target = GuestAgentTarget(garbage_guest.name, timeout=3)
    try:
        with pytest.raises(GarbageValue, match="reply to guest-file-open is malformed"):
            target.read_bytes("/etc/hostname")
        with pytest.raises(GarbageValue, match="reply to guest-exec-status is malformed"):
            target.run(["uname", "-r"])
    finally:
        target.close()
    out = doctor("check", "--target", garbage_guest.spec, "--only", "host.kernel.release", "--format", "json")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    findings = json.loads(out.stdout)["findings"]
    assert [f["status"] for f in findings] == ["error"]
    assert "malformed" in findings[0]["message"] or "cannot parse" in findings[0]["message"]
