"""The places the fix matrix applies fixes to (tests/remedy/matrix.py): each fixture takes the
``case`` parameter of the test and returns an Env."""

from __future__ import annotations

import json
import os

import pytest

from tests.live.test_fix_network_live import BR, NO_LIBVIRT, lab, net_state  # noqa: F401 - lab is a fixture
from tests.live.test_fix_volumes_live import container  # noqa: F401 - a fixture
from tests.remedy.matrix import Case, Env, LiveEnv, SysrootEnv
from tests.remedy.sysroots import sysroot
from tests.remedy.treestate import tree_state


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
        # carrier (and a route's "linkdown" flag) follows STP timing, not the fix
        state = net_state(lab)
        state["routes"] = sorted(json.dumps({k: v for k, v in json.loads(r).items() if k != "flags"}, sort_keys=True)
                                 for r in state["routes"])
        return {**state, "admin_up": "UP" in link["flags"]}

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
    redefined domain's controllers in its own order), and whether it autostarts."""
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
            info = subprocess.run([*virsh, "dominfo", name], check=True, capture_output=True, text=True).stdout
            return unordered(out), [ln for ln in info.splitlines() if ln.startswith("Autostart:")]

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


@pytest.fixture
def adb_env(case: Case, tmp_path) -> Env:
    """The real adb client and server and a phone (tests/adbdevice.py) reached over TCP, whose input
    method answers follow ``ime enable`` / ``ime set`` like a phone's settings do; the profile lists
    it, the adb server starts without it (``prepare`` may connect it)."""
    import shutil

    from autoglm_doctor.facts.adb_device import IME_ENABLED, IME_SELECTED
    from tests.adbdevice import AdbDevice, Answer
    from tests.helpers import require
    from tests.live.test_adb_live import GBOARD, AdbServer, phone

    class SettingsPhone(AdbDevice):
        def answer(self, command: str) -> Answer | str:
            verb, _, ime = command.partition(" ")[2].partition(" ")
            if command.startswith("ime ") and verb in ("enable", "disable", "set"):
                with self._lock:
                    self.commands.append(command)
                    enabled = self.answers[IME_ENABLED].out().decode().split()  # type: ignore[union-attr]
                    if verb == "set":
                        self.answers[IME_SELECTED] = Answer(ime + "\n")
                    elif verb == "enable" and ime not in enabled:
                        self.answers[IME_ENABLED] = Answer("\n".join(enabled + [ime]) + "\n")
                    elif verb == "disable":
                        self.answers[IME_ENABLED] = Answer("".join(f"{e}\n" for e in enabled if e != ime))
                return Answer(f"Input method {ime} {verb}d\n" if verb != "set" else f"Input method {ime} selected\n")
            return super().answer(command)

    require(shutil.which("adb") is not None, "adb (apt-get install adb; .ci/services.sh)")
    srv = AdbServer(tmp_path)
    assert srv.adb("start-server").returncode == 0
    dev = SettingsPhone(phone(**{IME_ENABLED: Answer(f"{GBOARD}\n"), IME_SELECTED: Answer(f"{GBOARD}\n")}))
    try:
        ph = {"server": srv, "phone": dev}
        if case.prepare:
            case.prepare(ph)
        cfg = tmp_path / "profile.toml"
        cfg.write_text(f'[profile]\ndevices = ["{dev.serial}"]\nadb_timeout = 3\n')

        def state() -> dict:
            devices = sorted(srv.adb("devices").stdout.splitlines()[1:])
            return {"devices": [d for d in devices if d.strip()], "selected": dev.answers[IME_SELECTED],
                    "enabled": dev.answers[IME_ENABLED]}

        yield LiveEnv(case.only, cfg, tmp_path / "journal", state, env=srv.env, fixture=ph)
    finally:
        dev.stop()
        srv.stop()
