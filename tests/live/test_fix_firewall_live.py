"""Firewall and sysctl fixes applied for real inside throw-away network namespaces, proved with real
traffic (a ping between two "guests" across a bridge, or routed between two subnets):

- fix.net.bridge_forward with a Docker-like ruleset (FORWARD policy DROP, FORWARD -> DOCKER-USER), built
  once with iptables-legacy and once with iptables-nft: the fix must pick the backend whose tables hold
  DOCKER-USER, the ping it blocked goes through after, and --rollback gives back the same ruleset
  (iptables-save compared line by line, packet counters aside);
- the same fix without Docker: net.bridge.bridge-nf-call-iptables=0 in the namespace (a per-netns sysctl),
  so bridged frames bypass the DROP policy;
- fix.net.ip_forward: net.ipv4.ip_forward (per netns) turned on lets the namespace route between two
  subnets, and the rollback turns it off again.

Files the plans write (/etc/sysctl.d, /etc/systemd/system) land in per-test directories bind-mounted over
those paths in a private mount namespace, so the machine's own /etc is never touched; the machine's own
sysctls are read before and after to prove they did not change.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.remedy.treestate import tree_state

pytestmark = pytest.mark.live

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "autoglm-doctor"
NO_LIBVIRT = "qemu+unix:///system?socket=/nonexistent/fixes-no-libvirt"
BR = "fxbr"
UNIT = "autoglm-doctor-bridge-accept.service"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=60)


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is not installed (CI must run every backend)")
        pytest.skip(f"{binary} is not installed")
    return path


class Lab:
    """Namespaces named after this branch and pid, removed at the end; a bridge in ``h`` with one
    port to each of ``a`` and ``b``, or ``h`` as a router between them."""

    def __init__(self, tmp_path: Path, routed: bool = False) -> None:
        tag = f"fixes-{os.getpid() % 100000}-{uuid.uuid4().hex[:6]}"
        self.h, self.a, self.b = f"{tag}-h", f"{tag}-a", f"{tag}-b"
        for ns in (self.h, self.a, self.b):
            sh("ip", "netns", "add", ns)
        self.tmp = tmp_path
        self.etc = {"/etc/sysctl.d": tmp_path / "sysctl.d", "/etc/systemd/system": tmp_path / "systemd"}
        for d in self.etc.values():
            d.mkdir()
        self.cfg = tmp_path / "profile.toml"
        self.journal = tmp_path / "journal"
        self.x(self.h, "ip", "link", "set", "lo", "up")
        for side, ns in (("a", self.a), ("b", self.b)):
            self.x(self.h, "ip", "link", "add", f"fx{side}0", "type", "veth", "peer", "name", f"fx{side}1")
            self.x(self.h, "ip", "link", "set", f"fx{side}1", "netns", ns)
            self.x(ns, "ip", "link", "set", f"fx{side}1", "up")
            self.x(self.h, "ip", "link", "set", f"fx{side}0", "up")
        if routed:
            # a new namespace may inherit the machine's forwarding setting: start from off
            self.x(self.h, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
            for side, ns, net in (("a", self.a, "10.81.1"), ("b", self.b, "10.81.2")):
                self.x(self.h, "ip", "addr", "add", f"{net}.1/24", "dev", f"fx{side}0")
                self.x(ns, "ip", "addr", "add", f"{net}.2/24", "dev", f"fx{side}1")
                self.x(ns, "ip", "route", "add", "default", "via", f"{net}.1")
        else:
            self.x(self.h, "ip", "link", "add", BR, "type", "bridge", "stp_state", "0")
            for side in ("a", "b"):
                self.x(self.h, "ip", "link", "set", f"fx{side}0", "master", BR)
            self.x(self.h, "ip", "link", "set", BR, "up")
            self.x(self.a, "ip", "addr", "add", "10.79.0.2/24", "dev", "fxa1")
            self.x(self.b, "ip", "addr", "add", "10.79.0.3/24", "dev", "fxb1")

    def x(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", ns, *argv, check=check)

    def sysctl(self, key: str) -> str:
        return self.x(self.h, "cat", "/proc/sys/" + key.replace(".", "/")).stdout.strip()

    def ping(self, addr: str, tries: int = 3) -> bool:
        return any(self.x(self.a, "busybox", "ping", "-c", "1", "-W", "1", addr, check=False).returncode == 0
                   for _ in range(tries))

    def doctor(self, *args: str) -> subprocess.CompletedProcess:
        """The CLI inside the namespace, with the lab's directories mounted over /etc/sysctl.d and
        /etc/systemd/system in a mount namespace of its own."""
        binds = " && ".join(f'mount --bind "{src}" "{dst}"' for dst, src in self.etc.items())
        argv = ["ip", "netns", "exec", self.h, "unshare", "--mount", "--propagation", "private", "sh", "-c",
                binds + ' && exec "$@"', "sh", str(EXE), "fix", "--config", str(self.cfg), "--journal-dir",
                str(self.journal), *args]
        env = {**os.environ, "LIBVIRT_DEFAULT_URI": NO_LIBVIRT, "AUTOGLM_DOCTOR_JOURNAL": ""}
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, stdin=subprocess.DEVNULL)

    def etc_state(self) -> dict:
        return {dst: tree_state(str(src)) for dst, src in self.etc.items()}

    def close(self) -> None:
        for ns in (self.h, self.a, self.b):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def routed(tmp_path):
    lab = Lab(tmp_path, routed=True)
    try:
        yield lab
    finally:
        lab.close()


def ruleset(lab: Lab, save: str) -> list[str]:
    """iptables-save of the namespace without its timestamp comments and packet counters."""
    out = lab.x(lab.h, save).stdout
    return [re.sub(r" \[\d+:\d+\]$", "", ln) for ln in out.splitlines() if ln and not ln.startswith("#")]


def host_sysctls() -> tuple[str, ...]:
    keys = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")
    return tuple(Path("/proc/sys", k).read_text() if Path("/proc/sys", k).exists() else "-" for k in keys)


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_docker_user_accept_with_the_backend_docker_uses(lab, backend):
    iptables = need(f"iptables-{backend}")
    save = need(f"iptables-{backend}-save")
    other = need(f"iptables-{'nft' if backend == 'legacy' else 'legacy'}-save")
    host_before = host_sysctls()
    assert lab.sysctl("net.bridge.bridge-nf-call-iptables") == "1"  # bridged frames go through FORWARD
    # what dockerd leaves behind: FORWARD policy DROP, FORWARD jumping to DOCKER-USER first
    for argv in (("-N", "DOCKER-USER"), ("-A", "DOCKER-USER", "-j", "RETURN"), ("-P", "FORWARD", "DROP"),
                 ("-A", "FORWARD", "-j", "DOCKER-USER")):
        lab.x(lab.h, iptables, *argv)
    lab.cfg.write_text(f'[profile]\nbridge = "{BR}"\n')
    rules_before, other_before, etc_before = ruleset(lab, save), ruleset(lab, other), lab.etc_state()
    assert not lab.ping("10.79.0.3"), "the FORWARD policy DROP should stop the bridged ping"

    dry = lab.doctor("--only", "host.firewall.bridge_forward")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    why = ("DOCKER-USER is in the legacy (xtables) tables" if backend == "legacy"
           else "iptables is the nf_tables variant")
    assert f"uses {iptables}: {why}" in dry.stdout
    assert f"run: {iptables} -I DOCKER-USER -i {BR} -o {BR} -j ACCEPT" in dry.stdout
    assert ruleset(lab, save) == rules_before

    res = lab.doctor("--only", "host.firewall.bridge_forward", "--apply", "--yes", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["state"] == "applied"
    assert [s["status"] for s in out["steps"]] == ["applied", "applied", "applied"]
    assert lab.ping("10.79.0.3"), "the ACCEPT rule should let the bridged ping through"
    assert lab.x(lab.h, iptables, "-C", "DOCKER-USER", "-i", BR, "-o", BR, "-j", "ACCEPT", check=False).returncode == 0
    rules = ruleset(lab, save)
    assert rules.index(f"-A DOCKER-USER -i {BR} -o {BR} -j ACCEPT") < rules.index("-A DOCKER-USER -j RETURN")
    assert ruleset(lab, other) == other_before  # the other backend's tables are untouched
    unit = (lab.etc["/etc/systemd/system"] / UNIT).read_text()
    assert f"ExecStart={iptables} -I DOCKER-USER -i {BR} -o {BR} -j ACCEPT\n" in unit
    assert os.readlink(lab.etc["/etc/systemd/system"] / "docker.service.wants" / UNIT) == f"/etc/systemd/system/{UNIT}"

    again = lab.doctor("--only", "host.firewall.bridge_forward", "--apply", "--yes")
    assert again.returncode == 0 and "nothing to apply" in again.stdout, again.stdout + again.stderr

    back = lab.doctor("--rollback", out["run_id"])
    assert back.returncode == 0, back.stdout + back.stderr
    assert ruleset(lab, save) == rules_before
    assert ruleset(lab, other) == other_before
    assert lab.etc_state() == etc_before
    assert not lab.ping("10.79.0.3")
    assert host_sysctls() == host_before


def test_without_docker_bridged_frames_bypass_iptables_per_namespace(lab):
    iptables = need("iptables-nft")
    host_before = host_sysctls()
    lab.x(lab.h, iptables, "-P", "FORWARD", "DROP")  # a host firewall without Docker's chains
    lab.cfg.write_text(f'[profile]\nbridge = "{BR}"\n')
    etc_before = lab.etc_state()
    assert not lab.ping("10.79.0.3")

    res = lab.doctor("--only", "host.firewall.bridge_forward", "--apply", "--yes", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert [s["describe"] for s in json.loads(res.stdout)["steps"]] == [
        "sysctl net.bridge.bridge-nf-call-iptables=0",
        "write /etc/sysctl.d/90-autoglm-doctor-bridge-nf.conf (mode 0644)"]
    assert lab.sysctl("net.bridge.bridge-nf-call-iptables") == "0"
    assert lab.ping("10.79.0.3"), "bridged frames should no longer meet the FORWARD policy"
    assert (lab.etc["/etc/sysctl.d"] / "90-autoglm-doctor-bridge-nf.conf").read_text().endswith(
        "net.bridge.bridge-nf-call-iptables = 0\n")
    assert host_sysctls() == host_before  # the sysctl changed in the namespace only

    back = lab.doctor("--rollback", json.loads(res.stdout)["run_id"])
    assert back.returncode == 0, back.stdout + back.stderr
    assert lab.sysctl("net.bridge.bridge-nf-call-iptables") == "1"
    assert lab.etc_state() == etc_before
    assert not lab.ping("10.79.0.3")


def test_ip_forward_lets_the_namespace_route_and_rolls_back(routed):
    host_before = host_sysctls()
    routed.cfg.write_text('[profile]\nnetwork_mode = "nat"\n')
    assert routed.sysctl("net.ipv4.ip_forward") == "0"
    etc_before = routed.etc_state()
    assert not routed.ping("10.81.2.2"), "without forwarding the namespace must not route"

    dry = routed.doctor("--only", "host.firewall.ip_forward")
    assert "net.ipv4.ip_forward: 0 -> 1" in dry.stdout, dry.stdout + dry.stderr
    res = routed.doctor("--only", "host.firewall.ip_forward", "--apply", "--yes", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["state"] == "applied"
    assert routed.sysctl("net.ipv4.ip_forward") == "1"
    assert routed.ping("10.81.2.2"), "with forwarding on, the namespace routes a to b"
    assert (routed.etc["/etc/sysctl.d"] / "90-autoglm-doctor-ip-forward.conf").read_text() == (
        "# Written by autoglm-doctor: guests on libvirt NAT networks are routed by the host\n"
        "net.ipv4.ip_forward = 1\n")
    assert host_sysctls() == host_before

    again = routed.doctor("--only", "host.firewall.ip_forward", "--apply", "--yes")
    assert again.returncode == 0 and "nothing to apply" in again.stdout, again.stdout + again.stderr

    back = routed.doctor("--rollback", out["run_id"])
    assert back.returncode == 0, back.stdout + back.stderr
    assert routed.sysctl("net.ipv4.ip_forward") == "0"
    assert routed.etc_state() == etc_before
    assert not routed.ping("10.81.2.2")
