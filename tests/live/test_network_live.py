"""Network checks against real kernel objects: bridges, veths and iptables/nft rules created inside
throw-away network namespaces; the doctor runs inside the namespace (`ip netns exec`, which remounts
/sys for it) exactly as a user would run it. Verdicts about the firewall are cross-checked with real
traffic (busybox ping between two more namespaces through the bridge)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.helpers import require

pytestmark = pytest.mark.live

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "autoglm-doctor"
BR = "adt-br"
NO_LIBVIRT = "qemu+unix:///system?socket=/nonexistent/adt-no-libvirt"  # libvirt unreachable: profile bridge only


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=30)


class Lab:
    """One namespace holding the bridge, plus two 'guest' namespaces plugged into it with veth pairs."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}-{uuid.uuid4().hex[:6]}"
        self.ns, self.a, self.b = f"adt-{tag}", f"adt-{tag}-a", f"adt-{tag}-b"
        self.made: list[str] = []

    def __call__(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.ns, *argv, check=check)

    def create(self, *, bridge: bool = True, ports: bool = True) -> None:
        for ns in (self.ns, self.a, self.b):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
        self("ip", "link", "set", "lo", "up")
        if not bridge:
            return
        self("ip", "link", "add", BR, "type", "bridge")
        self("ip", "link", "set", BR, "up")
        if not ports:
            return
        for side, ns, addr in (("a", self.a, "10.99.0.1/24"), ("b", self.b, "10.99.0.2/24")):
            self("ip", "link", "add", f"adt-{side}0", "type", "veth", "peer", "name", f"adt-{side}1")
            self("ip", "link", "set", f"adt-{side}1", "netns", ns)
            self("ip", "link", "set", f"adt-{side}0", "master", BR)
            self("ip", "link", "set", f"adt-{side}0", "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", addr, "dev", f"adt-{side}1")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", f"adt-{side}1", "up")
        self("ip", "addr", "add", "10.99.0.254/24", "dev", BR)

    def ping(self) -> bool:
        """A guest in namespace a reaches the guest in b across the bridge."""
        for _ in range(3):
            if sh("ip", "netns", "exec", self.a, "busybox", "ping", "-c", "1", "-W", "1", "10.99.0.2",
                  check=False).returncode == 0:
                return True
        return False

    def doctor(self, tmp_path: Path, **profile) -> dict[tuple[str, str], dict]:
        cfg = tmp_path / "profile.toml"
        lines = ["[profile]"] + [f"{k} = {json.dumps(v)}" for k, v in {"bridge": BR, **profile}.items()]
        cfg.write_text("\n".join(lines) + "\n")
        env = {**os.environ, "LIBVIRT_DEFAULT_URI": NO_LIBVIRT}
        proc = subprocess.run(["ip", "netns", "exec", self.ns, str(EXE), "check", "--only", "host.bridge.*",
                               "--only", "host.firewall.*", "--format", "json",
                               "--config", str(cfg)], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode in (0, 1), proc.stderr
        report = json.loads(proc.stdout)
        return {(f["check_id"], f["resource"]): f for f in report["findings"]}

    def destroy(self) -> None:
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)


def status(findings: dict, check_id: str) -> dict[str, str]:
    return {res: f["status"] for (cid, res), f in findings.items() if cid == check_id}


@pytest.fixture
def lab():
    require(os.geteuid() == 0, "root (to create network namespaces)")
    require(shutil.which("ip") is not None, "iproute2")
    require(EXE.exists(), f"installed CLI {EXE}")
    probe = subprocess.run(["ip", "netns", "add", f"adt-probe-{os.getpid()}"], capture_output=True)
    require(probe.returncode == 0, "network namespaces (ip netns add)")
    sh("ip", "netns", "del", f"adt-probe-{os.getpid()}", check=False)
    lab = Lab()
    try:
        yield lab
    finally:
        lab.destroy()
        leftovers = [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith(lab.ns)]
        assert not leftovers, f"namespaces left behind: {leftovers}"


def test_healthy_bridge(lab, tmp_path):
    lab.create()
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    for cid in ("host.bridge.present", "host.bridge.link_up", "host.bridge.uplink", "host.bridge.stp",
                "host.bridge.address", "host.bridge.mtu"):
        assert status(f, cid) == {BR: "pass"}, (cid, f.get((cid, BR), {}).get("message"))
    assert "libvirt unavailable" in f[("host.bridge.present", BR)]["message"]
    assert status(f, "host.bridge.persistent") == {BR: "warn"}  # made by hand: runtime only
    assert lab.ping()


def test_missing_bridge(lab, tmp_path):
    lab.create(bridge=False)
    f = lab.doctor(tmp_path)
    assert status(f, "host.bridge.present") == {BR: "fail"}
    assert status(f, "host.bridge.link_up") == {BR: "skip"}
    assert status(f, "host.firewall.bridge_forward") == {f"{BR}:ipv4": "skip", f"{BR}:ipv6": "skip"}


def test_not_a_bridge(lab, tmp_path):
    lab.create(bridge=False)
    lab("ip", "link", "add", BR, "type", "veth", "peer", "name", "adt-peer")
    f = lab.doctor(tmp_path)
    assert status(f, "host.bridge.present") == {BR: "fail"}
    assert "not a bridge" in f[("host.bridge.present", BR)]["message"]


def test_bridge_down(lab, tmp_path):
    lab.create()
    lab("ip", "link", "set", BR, "down")
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.bridge.link_up") == {BR: "fail"}
    assert "administratively down" in f[("host.bridge.link_up", BR)]["message"]
    assert not lab.ping()


def test_no_ports(lab, tmp_path):
    lab.create(ports=False)
    f = lab.doctor(tmp_path)
    assert status(f, "host.bridge.uplink") == {BR: "fail"}
    assert status(f, "host.bridge.link_up") == {BR: "pass"}


def test_veth_ports_only_warn_without_named_uplink(lab, tmp_path):
    lab.create()
    f = lab.doctor(tmp_path)
    assert status(f, "host.bridge.uplink") == {BR: "warn"}


def test_uplink_without_carrier(lab, tmp_path):
    lab.create()
    sh("ip", "netns", "exec", lab.a, "ip", "link", "set", "adt-a1", "down")
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.bridge.uplink") == {BR: "fail"}
    assert "no carrier" in f[("host.bridge.uplink", BR)]["message"]


def test_stp_on_with_15s_delay(lab, tmp_path):
    lab.create()
    lab("ip", "link", "set", BR, "type", "bridge", "stp_state", "1", "forward_delay", "1500")
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.bridge.stp") == {BR: "warn"}
    finding = f[("host.bridge.stp", BR)]
    assert "forward_delay 15 s" in finding["message"] and "30 s" in finding["message"]
    assert finding["evidence"]["observed"] == {"stp_state": 1, "forward_delay_s": 15.0}


def test_ip_on_the_port(lab, tmp_path):
    lab.create()
    lab("ip", "addr", "add", "10.98.0.5/24", "dev", "adt-a0")
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.bridge.address") == {BR: "fail"}
    assert "10.98.0.5/24 on adt-a0" in f[("host.bridge.address", BR)]["message"]


def test_mtu_mismatch(lab, tmp_path):
    lab.create()
    lab("ip", "link", "set", "adt-a0", "mtu", "1400")
    lab("ip", "link", "set", BR, "mtu", "1500")  # set by hand: the bridge no longer follows its ports
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.bridge.mtu") == {BR: "fail"}
    assert f[("host.bridge.mtu", BR)]["evidence"]["observed"] == {"bridge": 1500, "ports": {"adt-a0": 1400, "adt-b0": 1500}}


def _dockerlike_forward_drop(lab) -> None:
    """What dockerd does to the filter table (Debian docker.io 20.10), on a host without docker0 traffic."""
    lab("iptables", "-N", "DOCKER-USER")
    lab("iptables", "-A", "DOCKER-USER", "-j", "RETURN")
    lab("iptables", "-I", "FORWARD", "-j", "DOCKER-USER")
    lab("iptables", "-P", "FORWARD", "DROP")


def test_forward_drop_with_br_netfilter(lab, tmp_path):
    require(shutil.which("iptables") is not None, "iptables")
    lab.create()
    nf = lab("cat", "/proc/sys/net/bridge/bridge-nf-call-iptables", check=False)
    require(nf.returncode == 0, "br_netfilter in the namespace (/proc/sys/net/bridge)")
    lab("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
    assert lab.ping()
    _dockerlike_forward_drop(lab)
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.firewall.bridge_forward")[f"{BR}:ipv4"] == "fail"
    finding = f[("host.firewall.bridge_forward", f"{BR}:ipv4")]
    assert "policy DROP of chain FORWARD" in finding["message"]
    assert f"iptables -I DOCKER-USER -i {BR} -o {BR} -j ACCEPT" in finding["remediation"]
    assert not lab.ping(), "the doctor says DROP: real traffic must be dropped too"

    lab("iptables", "-I", "DOCKER-USER", "-i", BR, "-o", BR, "-j", "ACCEPT")  # the rule the doctor named
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.firewall.bridge_forward")[f"{BR}:ipv4"] == "pass"
    assert lab.ping()

    lab("iptables", "-D", "DOCKER-USER", "-i", BR, "-o", BR, "-j", "ACCEPT")
    lab("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0")  # the other remedy: bypass iptables
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.firewall.bridge_forward")[f"{BR}:ipv4"] == "pass"
    assert status(f, "host.firewall.br_netfilter")["bridge-nf-call-iptables"] == "warn"  # not persisted
    assert lab.ping()


def test_native_nft_forward_drop(lab, tmp_path):
    require(shutil.which("nft") is not None, "nftables")
    lab.create()
    lab("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
    lab("nft", "add", "table", "inet", "adtfw")
    lab("nft", "add", "chain", "inet", "adtfw", "adtfwd", "{ type filter hook forward priority 0; policy drop; }")
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.firewall.bridge_forward")[f"{BR}:ipv4"] == "fail"
    assert "nft table inet adtfw" in f[("host.firewall.bridge_forward", f"{BR}:ipv4")]["message"]
    assert not lab.ping()
    lab("nft", "add", "rule", "inet", "adtfw", "adtfwd", "iifname", BR, "oifname", BR, "accept")
    f = lab.doctor(tmp_path, bridge_uplink="adt-a0")
    assert status(f, "host.firewall.bridge_forward")[f"{BR}:ipv4"] == "pass"
    assert lab.ping()
