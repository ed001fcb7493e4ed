"""Firewall checks on hand-made scenarios, the ruleset walk on real iptables-save/nft output shapes, and the
network fix plans (plans only: nothing is applied)."""

from __future__ import annotations

import pytest

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.facts.fwrules import parse_iptables_save, parse_nft_json, walk
from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.plan import IpLink, RunCommand, WriteFile
from autoglm_doctor.registry import load_registry
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import Case, scenario_path

NAT = {"network_mode": "nat"}

CASES = [
    Case("net-healthy-netplan", "host.firewall.br_netfilter",
         {"bridge-nf-call-iptables": "pass", "bridge-nf-call-ip6tables": "pass", "bridge-nf-call-arptables": "pass"}),
    Case("net-ifupdown-mismatch", "host.firewall.br_netfilter",
         {"bridge-nf-call-iptables": "warn", "bridge-nf-call-ip6tables": "pass", "bridge-nf-call-arptables": "pass"},
         note="sysctl-file-differs"),
    Case("net-runtime-only", "host.firewall.br_netfilter", {"br_netfilter": "pass"}, note="inactive"),
    Case("net-healthy-netplan", "host.firewall.bridge_forward", {"br0:ipv4": "pass", "br0:ipv6": "pass"},
         note="docker-user-accept"),
    Case("net-docker-drop-nm", "host.firewall.bridge_forward", {"br0:ipv4": "fail", "br0:ipv6": "pass"},
         note="docker-forward-drop"),
    Case("net-ifupdown-mismatch", "host.firewall.bridge_forward", {"br0:ipv4": "pass", "br0:ipv6": "pass"},
         note="physdev-accept"),
    Case("net-runtime-only", "host.firewall.bridge_forward", {"br0:ipv4": "pass", "br0:ipv6": "pass"},
         note="br-netfilter-off"),
    Case("net-healthy-netplan", "host.firewall.ip_forward", {"net.ipv4.ip_forward": "skip"}, note="bridged-only"),
    Case("net-healthy-netplan", "host.firewall.ip_forward", {"net.ipv4.ip_forward": "pass"}, profile=NAT),
    Case("net-docker-drop-nm", "host.firewall.ip_forward", {"helper:52:54:00:00:00:02": "warn"},
         note="nat-while-bridged"),
    Case("net-docker-drop-nm", "host.firewall.ip_forward", {"helper:52:54:00:00:00:02": "pass"}, profile=NAT),
    Case("net-networkd-vlan", "host.firewall.ip_forward", {"natvm:52:54:00:00:00:02": "fail"}, profile=NAT,
         note="ip-forward-off"),
    Case("net-runtime-only", "host.firewall.ip_forward", {"net.ipv4.ip_forward": "fail"}, profile=NAT,
         note="libvirt-down-nat"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_firewall_cases(case, tmp_path):
    case.verify(tmp_path)


def test_docker_drop_names_the_missing_rule(tmp_path):
    findings = Case("net-docker-drop-nm", "host.firewall.bridge_forward",
                    {"br0:ipv4": "fail", "br0:ipv6": "pass"}).verify(tmp_path)
    [f] = [f for f in findings if f.resource == "br0:ipv4"]
    assert "policy DROP of chain FORWARD" in f.message
    assert "iptables -I DOCKER-USER -i br0 -o br0 -j ACCEPT" in f.remediation
    assert "bridge-nf-call-iptables = 0" in f.remediation


DOCKER = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
:CUSTOM - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -p tcp --dport 22 -j ACCEPT
-A FORWARD -i br+ -g CUSTOM
-A DOCKER-USER -j RETURN
-A CUSTOM -m comment --comment "vm \\"bridge\\"" -j LOG --log-prefix x
COMMIT
"""


def test_walk_follows_jumps_goto_and_notes_conditional_rules():
    chains = parse_iptables_save(DOCKER)
    v = walk(chains, "FORWARD", "br0", "br0")
    assert (v.outcome, v.decided_by) == ("drop", "policy DROP of chain FORWARD")
    assert v.path == ("FORWARD", "DOCKER-USER", "CUSTOM")
    assert len(v.conditional) == 1 and "--dport 22" in v.conditional[0]
    assert walk(chains, "FORWARD", "eth0", "eth1").outcome == "drop"


def test_walk_negated_interface_and_state_sets():
    text = ("*filter\n:FORWARD DROP [0:0]\n-A FORWARD ! -i docker0 -m state --state NEW,RELATED,ESTABLISHED -j ACCEPT\n"
            "COMMIT\n")
    chains = parse_iptables_save(text)
    assert walk(chains, "FORWARD", "br0", "br0").outcome == "accept"
    assert walk(chains, "FORWARD", "docker0", "br0").outcome == "drop"


@pytest.mark.parametrize("text", ["*filter\n:FORWARD\n", "*filter\n-A NOPE -j ACCEPT\n", "*filter\nbogus\n",
                                  "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m comment --comment \"x\n"])
def test_garbage_iptables_save_is_a_garbage_value(text):
    with pytest.raises(GarbageValue):
        parse_iptables_save(text)


def test_nft_native_forward_chain_and_iptables_nft_tables():
    text = """{"nftables": [{"metainfo": {"json_schema_version": 1}},
      {"table": {"family": "inet", "name": "fw"}},
      {"chain": {"family": "inet", "table": "fw", "name": "fwd", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
      {"rule": {"family": "inet", "table": "fw", "chain": "fwd", "handle": 4, "expr": [
         {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "br0"}},
         {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "br0"}},
         {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}},
      {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}
    ]}"""
    tables = {t.name: t for t in parse_nft_json(text)}
    assert tables["filter"].iptables_nft and not tables["fw"].iptables_nft
    fw = tables["fw"]
    assert walk(fw.chains, "fwd", "br0", "br0").outcome == "accept"
    assert walk(fw.chains, "fwd", "br1", "br1").outcome == "drop"
    with pytest.raises(GarbageValue):
        parse_nft_json("not json")


def _plan(scenario: str, fix_id: str, check_ids: list[str], profile=None):
    from tests.helpers import run_check_ids

    target = SnapshotTarget(str(scenario_path(scenario)))
    try:
        findings = [f for f in run_check_ids(target, check_ids, profile)
                    if f.check_id in check_ids and f.status.value in ("fail", "warn")]
        ctx = Context(target, Profile(dict(profile or {})))
        plan = load_registry().fixes[fix_id]().plan(ctx, findings)
        return plan, plan.render(target)
    finally:
        target.close()


def test_fix_bridge_forward_with_docker_plans_docker_user_rule_and_unit():
    plan, text = _plan("net-docker-drop-nm", "fix.net.bridge_forward", ["host.firewall.bridge_forward"])
    first = plan.changes[0]
    assert isinstance(first, RunCommand)
    # the snapshot did not record iptables --version: the plain iptables alternative, by absolute path
    assert first.argv == ("/usr/sbin/iptables", "-I", "DOCKER-USER", "-i", "br0", "-o", "br0", "-j", "ACCEPT")
    assert first.undo == ("/usr/sbin/iptables", "-D", "DOCKER-USER", "-i", "br0", "-o", "br0", "-j", "ACCEPT")
    assert first.done_if == ("/usr/sbin/iptables", "-C", "DOCKER-USER", "-i", "br0", "-o", "br0", "-j", "ACCEPT")
    unit = next(c for c in plan.changes if isinstance(c, WriteFile))
    assert "After=docker.service" in unit.content and "ExecStartPre=-/usr/sbin/iptables -D DOCKER-USER" in unit.content
    assert "+ExecStart=/usr/sbin/iptables -I DOCKER-USER -i br0 -o br0 -j ACCEPT" in text


def test_fix_stp_off_and_bridge_up_plans():
    plan, text = _plan("net-docker-drop-nm", "fix.net.bridge_stp_off", ["host.bridge.stp"])
    assert plan.changes == (IpLink("br0", bridge=(("stp_state", "0"),)),)
    assert "br0.nmconnection" in text
    plan, _ = _plan("net-runtime-only", "fix.net.bridge_up", ["host.bridge.link_up"])
    assert plan.changes[0] == IpLink("br0", up=True)


def test_fix_br_netfilter_persist_writes_runtime_values():
    plan, text = _plan("net-ifupdown-mismatch", "fix.net.br_netfilter_persist", ["host.firewall.br_netfilter"])
    [change] = plan.changes
    assert change.path == "/etc/sysctl.d/90-autoglm-doctor-bridge-nf.conf"
    assert "net.bridge.bridge-nf-call-iptables = 1\n" in change.content
    assert "--- /dev/null" in text
