"""Network fixes applied for real inside throw-away network namespaces, verified with real traffic:
an address left on an enslaved port moved to the bridge with its default route (ping through the
bridge fails before, works after), STP turned off; then --rollback restores addresses, routes and
the bridge option exactly, and a second apply is a no-op."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "autoglm-doctor"
BR = "rmd-br"
NO_LIBVIRT = "qemu+unix:///system?socket=/nonexistent/rmd-no-libvirt"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture
def lab(tmp_path):
    tag = f"{os.getpid() % 100000}-{uuid.uuid4().hex[:6]}"
    host, peer = f"rmd-{tag}-h", f"rmd-{tag}-p"
    sh("ip", "netns", "add", host)
    sh("ip", "netns", "add", peer)

    def h(*argv, check=True):
        return sh("ip", "netns", "exec", host, *argv, check=check)

    try:
        h("ip", "link", "set", "lo", "up")
        h("ip", "link", "add", BR, "type", "bridge", "stp_state", "1", "forward_delay", "200")
        h("ip", "link", "add", "rmd-p0", "type", "veth", "peer", "name", "rmd-p1")
        h("ip", "link", "set", "rmd-p1", "netns", peer)
        h("ip", "link", "set", "rmd-p0", "master", BR)
        h("ip", "link", "set", "rmd-p0", "up")
        h("ip", "link", "set", BR, "up")
        # the host's address and default route left on the port, as 'ip link set eth0 master br0' leaves them
        h("ip", "addr", "add", "10.77.0.1/24", "dev", "rmd-p0")
        h("ip", "route", "add", "default", "via", "10.77.0.254", "dev", "rmd-p0")
        h("ip", "route", "add", "10.88.0.0/24", "via", "10.77.0.254", "dev", "rmd-p0", "proto", "static")
        sh("ip", "netns", "exec", peer, "ip", "addr", "add", "10.77.0.254/24", "dev", "rmd-p1")
        sh("ip", "netns", "exec", peer, "ip", "link", "set", "rmd-p1", "up")
        sh("ip", "netns", "exec", peer, "ip", "addr", "add", "10.88.0.1/24", "dev", "lo")
        cfg = tmp_path / "profile.toml"
        cfg.write_text(f'[profile]\nbridge = "{BR}"\n')
        yield {"host": host, "peer": peer, "h": h, "cfg": cfg, "journal": tmp_path / "journal"}
    finally:
        sh("ip", "netns", "del", host, check=False)
        sh("ip", "netns", "del", peer, check=False)


def ping(lab, addr="10.77.0.254", tries: int = 3) -> bool:
    return any(lab["h"]("busybox", "ping", "-c", "1", "-W", "1", addr, check=False).returncode == 0
               for _ in range(tries))


def net_state(lab) -> dict:
    h = lab["h"]
    addrs = {d: sorted(f"{a['local']}/{a['prefixlen']}" for a in json.loads(h("ip", "-j", "addr", "show", "dev", d).stdout)[0]["addr_info"] if a.get("scope") == "global")
             for d in (BR, "rmd-p0")}
    routes = sorted(json.dumps(r, sort_keys=True) for r in json.loads(h("ip", "-j", "route", "show").stdout))
    stp = json.loads(h("ip", "-j", "-d", "link", "show", "dev", BR).stdout)[0]["linkinfo"]["info_data"]["stp_state"]
    return {"addrs": addrs, "routes": routes, "stp": stp}


def doctor(lab, *args):
    env = {**os.environ, "LIBVIRT_DEFAULT_URI": NO_LIBVIRT}
    return subprocess.run(["ip", "netns", "exec", lab["host"], str(EXE), "fix", "--config", str(lab["cfg"]),
                           "--journal-dir", str(lab["journal"]), "--only", "host.bridge.address",
                           "--only", "host.bridge.stp", *args], capture_output=True, text=True, env=env, timeout=180)


def test_address_move_and_stp_off_applied_verified_by_ping_and_rolled_back(lab):
    before = net_state(lab)
    assert before["stp"] == 1
    # the port is past STP listening/learning (2 s forward delay each): what stops traffic is the address
    assert not ping(lab, tries=6), "the address on the enslaved port should not answer"
    dry = doctor(lab)
    assert "fix.net.bridge_address" in dry.stdout and "may cut remote access" in dry.stdout
    assert "ip addr add 10.77.0.1/24 dev rmd-br" in dry.stdout
    assert "ip route add default via 10.77.0.254 dev rmd-br" in dry.stdout
    assert net_state(lab) == before

    res = doctor(lab, "--apply", "--yes", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["state"] == "applied"
    after = net_state(lab)
    assert after["addrs"] == {BR: ["10.77.0.1/24"], "rmd-p0": []}
    assert any('"dst": "default"' in r and '"dev": "rmd-br"' in r for r in after["routes"])
    assert after["stp"] == 0
    assert ping(lab) and ping(lab, "10.88.0.1")

    again = doctor(lab, "--apply", "--yes")
    assert again.returncode == 0 and "nothing to apply" in again.stdout
    assert net_state(lab) == after

    back = doctor(lab, "--rollback", out["run_id"])
    assert back.returncode == 0, back.stdout + back.stderr
    assert net_state(lab) == before
    assert not ping(lab)


def test_refused_over_an_ssh_session_through_the_port(lab):
    env_ssh = {"SSH_CONNECTION": "10.77.0.254 50000 10.77.0.1 22"}
    env = {**os.environ, "LIBVIRT_DEFAULT_URI": NO_LIBVIRT, **env_ssh}
    before = net_state(lab)
    res = subprocess.run(["ip", "netns", "exec", lab["host"], str(EXE), "fix", "--config", str(lab["cfg"]),
                          "--journal-dir", str(lab["journal"]), "--only", "host.bridge.address", "--apply", "--yes"],
                         capture_output=True, text=True, env=env, timeout=180)
    assert res.returncode == 2
    assert "changes rmd-p0, the interface this SSH session from 10.77.0.254 goes through" in res.stderr
    assert net_state(lab) == before


def test_bridge_up_with_stp_waits_for_the_ports_to_forward(lab):
    """A bridge with STP on keeps its ports listening and learning (2 x forward_delay, 2 s each here) after it
    comes up: the verification waits for that instead of rolling back a fix that is working."""
    h = lab["h"]
    h("ip", "link", "set", BR, "down")
    env = {**os.environ, "LIBVIRT_DEFAULT_URI": NO_LIBVIRT}
    argv = ["ip", "netns", "exec", lab["host"], str(EXE), "fix", "--config", str(lab["cfg"]), "--journal-dir",
            str(lab["journal"]), "--only", "host.bridge.link_up", "--fix", "fix.net.bridge_up"]
    dry = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180)
    assert "has STP on: its ports listen and learn for 4 s before they forward, so the verification waits up to 6 s" \
        in dry.stdout, dry.stdout + dry.stderr
    res = subprocess.run([*argv, "--apply", "--yes", "--format", "json"], capture_output=True, text=True, env=env,
                         timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["state"] == "applied"
    link = json.loads(h("ip", "-j", "link", "show", "dev", BR).stdout)[0]
    assert "UP" in link["flags"] and link["operstate"] == "UP"
