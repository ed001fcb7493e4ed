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
import os

import pytest

from autoglm_doctor.registry import load_registry
from autoglm_doctor.remedy.engine import FAIL_STEP_ENV
from tests.live.test_fix_network_live import BR, NO_LIBVIRT, lab, net_state  # noqa: F401 - lab is a fixture
from tests.live.test_fix_volumes_live import container  # noqa: F401 - a fixture
from tests.remedy.matrix import DOCKER_CASES, FIREWALL_CASES, LIBVIRT_CASES, NETNS_CASES, SYSROOT_CASES, Case, Env, LiveEnv, SysrootEnv
from tests.remedy.treestate import tree_state
from tests.remedy.sysroots import sysroot

LIVE = pytest.mark.live
CASES = [pytest.param(c, id=c.fix_id) for c in SYSROOT_CASES] + \
    [pytest.param(c, id=c.fix_id, marks=LIVE) for c in NETNS_CASES + FIREWALL_CASES + DOCKER_CASES + LIBVIRT_CASES]
# fixes that are in the registry but not yet in the matrix, each with the reason; this list only shrinks
GAPS: dict[str, str] = {
    "fix.adb.reconnect": "needs a stateful fake phone (tests/adbdevice.py answers are scripted, not changed by a "
                         "reconnect)",
    "fix.adb.keyboard": "needs a stateful fake phone: 'ime set' on tests/adbdevice.py changes no later answer",
    "fix.adb.udev_rule": "needs a phone in the 'no permissions' state on USB; this machine has no USB phone and a "
                         "sysroot cannot run adb",
    "fix.usb.hostdev": "needs a phone in /sys/bus/usb and a libvirt domain on the same target: a sysroot has no "
                       "libvirt, this machine has no USB phone",
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


@pytest.fixture
def sysroot_env(case: Case, tmp_path) -> Env:
    root = sysroot(case.scenario, tmp_path / "sr", case.family)
    if case.prepare:
        case.prepare(root)
    config = None
    if case.profile:
        config = tmp_path / "profile.toml"
        config.write_text("[profile]\n" + case.profile)
    return SysrootEnv(root, case.only, config)


@pytest.fixture
def netns_env(case: Case, lab) -> Env:  # noqa: F811 - the fixture imported above
    """A bridge in a throw-away network namespace (tests/live/test_fix_network_live.py): the host's
    address and default route left on the enslaved port, STP on; the CLI runs inside the namespace."""
    lab["bridge"] = BR
    if case.prepare:
        case.prepare(lab)

    def state() -> dict:
        link = json.loads(lab["h"]("ip", "-j", "link", "show", "dev", BR).stdout)[0]
        return {**net_state(lab), "admin_up": "UP" in link["flags"]}  # carrier follows STP timing, not the fix

    return LiveEnv(case.only, lab["cfg"], lab["journal"], state, prefix=("ip", "netns", "exec", lab["host"]),
                   env={"LIBVIRT_DEFAULT_URI": NO_LIBVIRT}, fixture=lab)


@pytest.fixture
def firewall_env(case: Case, tmp_path) -> Env:
    """A bridge in a network namespace with two guests (veth peers in their own namespaces) and the
    FORWARD policy DROP; the CLI runs there with /etc/sysctl.d bind-mounted from a copy (a mount
    namespace per call), so the persistent sysctl file is written to the copy, never to this host."""
    import shutil
    import subprocess
    import uuid

    tag = uuid.uuid4().hex[:6]
    host, a, b = (f"mtx-{tag}-{n}" for n in "hab")

    def sh(*argv):
        return subprocess.run(list(argv), capture_output=True, text=True, check=True, timeout=60)

    def h(*argv):
        return sh("ip", "netns", "exec", host, *argv)

    sysctl_d = tmp_path / "sysctl.d"
    shutil.copytree("/etc/sysctl.d", sysctl_d, symlinks=True)
    for ns in (host, a, b):
        sh("ip", "netns", "add", ns)
    try:
        h("ip", "link", "add", "mtxbr", "type", "bridge", "stp_state", "0")
        for peer, addr in ((a, "10.66.0.1/24"), (b, "10.66.0.2/24")):
            port = f"mtx{peer[-1]}0"
            h("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", peer)
            h("ip", "link", "set", port, "master", "mtxbr", "up")
            sh("ip", "netns", "exec", peer, "ip", "addr", "add", addr, "dev", "eth0")
            sh("ip", "netns", "exec", peer, "ip", "link", "set", "eth0", "up")
        h("ip", "link", "set", "mtxbr", "up")
        h("iptables", "-P", "FORWARD", "DROP")
        fw = {"h": h, "host": host, "a": a, "b": b}
        if case.prepare:
            case.prepare(fw)
        cfg = tmp_path / "profile.toml"
        cfg.write_text('[profile]\nbridge = "mtxbr"\n')

        def state():
            values = {k: h("cat", f"/proc/sys/net/bridge/{k}").stdout for k in sorted(os.listdir("/proc/sys/net/bridge"))}
            return {"sysctl.d": tree_state(str(sysctl_d)), "running": values,
                    "forward": [ln for ln in h("iptables", "-S", "FORWARD").stdout.splitlines()]}

        prefix = ("unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /etc/sysctl.d && exec "$@"',
                  str(sysctl_d), "ip", "netns", "exec", host)
        yield LiveEnv(case.only, cfg, tmp_path / "journal", state, prefix=prefix,
                      env={"LIBVIRT_DEFAULT_URI": NO_LIBVIRT}, fixture=fw)
    finally:
        for ns in (host, a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def volume_env(case: Case, container) -> Env:  # noqa: F811 - the fixture imported above
    """A running busybox container (tests/live/test_fix_volumes_live.py) whose config mount is readable
    at the top for its group, with a 0600 root file and a 0700 directory inside."""
    return LiveEnv(case.only, container["cfg"], container["journal"], lambda: tree_state(str(container["config"])),
                   fixture=container)


@pytest.fixture
def domain_env(case: Case, tmp_path) -> Env:
    """A domain on the real libvirtd with an emulated CPU model and no guest-agent channel; its state
    is the inactive definition with secure data, devices compared as a set (libvirt re-serialises a
    redefined domain's controllers in its own order)."""
    import shutil
    import subprocess
    import uuid

    from tests.helpers import require
    from tests.live.test_vm_live import unordered

    require(shutil.which("virsh") is not None, "virsh (libvirt-clients)")
    name = f"matrix-{uuid.uuid4().hex[:8]}"
    bridge = f"mtx{uuid.uuid4().hex[:8]}"
    virsh = ["virsh", "-c", "qemu:///system"]
    xml = tmp_path / "dom.xml"
    xml.write_text(DOMAIN.format(name=name, bridge=bridge))
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True, capture_output=True)
    try:
        subprocess.run([*virsh, "define", str(xml)], check=True, capture_output=True)
        cfg = tmp_path / "vm.toml"
        cfg.write_text(f'[profile]\nvm_domains = ["{name}"]\nnetwork_mode = "bridged"\n')

        def state():
            out = subprocess.run([*virsh, "dumpxml", "--inactive", "--security-info", name], check=True,
                                 capture_output=True, text=True).stdout
            return unordered(out)

        yield LiveEnv(case.only, cfg, tmp_path / "journal", state)
    finally:
        subprocess.run([*virsh, "undefine", name, "--nvram"], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


DOMAIN = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type></os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <devices>
    <interface type='bridge'><source bridge='{bridge}'/><model type='virtio'/></interface>
  </devices>
</domain>"""


@pytest.fixture
def env(case: Case, request) -> Env:
    return request.getfixturevalue(case.env)


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
