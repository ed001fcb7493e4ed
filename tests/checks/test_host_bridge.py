"""Bridge checks on hand-made scenarios (tests/scenarios/net-*, built by build_net_scenarios.py), and the
netplan YAML subset reader."""

from __future__ import annotations

import pytest

from autoglm_doctor.facts import yamldoc
from tests.helpers import Case

VLAN = {"vlans": [100, 200]}
BR100 = {"bridge": "br100"}

CASES = [
    Case("net-healthy-netplan", "host.bridge.present", {"br0": "pass"}),
    Case("net-networkd-vlan", "host.bridge.present", {"br0": "fail", "br9": "fail"}, note="libvirt-bridge-missing"),
    Case("net-networkd-vlan", "host.bridge.present", {"br100": "pass", "br9": "fail"}, profile=BR100),
    Case("net-healthy-netplan", "host.bridge.link_up", {"br0": "pass"}),
    Case("net-runtime-only", "host.bridge.link_up", {"br0": "fail"}, note="admin-down"),
    Case("net-ifupdown-mismatch", "host.bridge.link_up", {"br0": "fail"}, note="no-carrier"),
    Case("net-healthy-netplan", "host.bridge.uplink", {"br0": "pass"}),
    Case("net-ifupdown-mismatch", "host.bridge.uplink", {"br0": "fail"}, note="nic-without-carrier"),
    Case("net-runtime-only", "host.bridge.uplink", {"br0": "warn"}, note="tap-only"),
    Case("net-healthy-netplan", "host.bridge.uplink", {"br0": "fail"}, profile={"bridge_uplink": "eth9"},
         note="named-uplink-missing"),
    Case("net-networkd-vlan", "host.bridge.uplink", {"br100": "pass", "br9": "skip"}, profile=BR100, note="vlan-port"),
    Case("net-healthy-netplan", "host.bridge.stp", {"br0": "pass"}),
    Case("net-docker-drop-nm", "host.bridge.stp", {"br0": "warn"}),
    Case("net-healthy-netplan", "host.bridge.address", {"br0": "pass"}),
    Case("net-docker-drop-nm", "host.bridge.address", {"br0": "fail"}, note="ip-on-port"),
    Case("net-runtime-only", "host.bridge.address", {"br0": "pass"}, note="guest-only"),
    Case("net-healthy-netplan", "host.bridge.mtu", {"br0": "pass"}),
    Case("net-ifupdown-mismatch", "host.bridge.mtu", {"br0": "fail"}),
    Case("net-healthy-netplan", "host.bridge.vlans", {"br0": "skip"}, note="no-vlans"),
    Case("net-bad-netplan", "host.bridge.vlans", {"br0": "fail"}, profile=VLAN, note="vid-missing"),
    Case("net-bad-netplan", "host.bridge.vlans", {"br0": "pass"}, profile={"vlans": [100]}, note="filtering"),
    Case("net-networkd-vlan", "host.bridge.vlans", {"br100": "pass", "br9": "skip"}, profile={**BR100, "vlans": [100]},
         note="per-vlan-bridge"),
    Case("net-healthy-netplan", "host.bridge.vlans", {"br0": "warn"}, profile=VLAN, note="no-filtering"),
    Case("net-healthy-netplan", "host.bridge.persistent", {"br0": "pass"}),
    Case("net-networkd-vlan", "host.bridge.persistent", {"br100": "pass", "br9": "skip"}, profile=BR100),
    Case("net-docker-drop-nm", "host.bridge.persistent",
         {"br0": "pass", "/etc/NetworkManager/system-connections/wifi.nmconnection": "error"}, note="nm-unreadable"),
    Case("net-ifupdown-mismatch", "host.bridge.persistent", {"br0": "warn"}, note="stp-differs"),
    Case("net-runtime-only", "host.bridge.persistent", {"br0": "warn"}, note="runtime-only"),
    Case("net-bad-netplan", "host.bridge.persistent",
         {"/etc/netplan/01-netcfg.yaml": "fail", "/etc/netplan/02-extra.yaml": "skip", "br0": "error"},
         note="bad-yaml"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bridge_cases(case, tmp_path):
    case.verify(tmp_path)


def test_messages_carry_the_numbers(tmp_path):
    [f] = [f for f in Case("net-docker-drop-nm", "host.bridge.stp", {"br0": "warn"}).verify(tmp_path)
           if f.check_id == "host.bridge.stp"]
    assert "forward_delay 15 s" in f.message and "30 s" in f.message
    assert f.observed == {"stp_state": 1, "forward_delay_s": 15.0}


def test_nm_default_stp_is_on_and_named(tmp_path):
    """NetworkManager's bridge.stp defaults to yes: an NM bridge without stp= runs STP, consistently."""
    [f] = [f for f in Case("net-docker-drop-nm", "host.bridge.persistent",
                           {"br0": "pass", "/etc/NetworkManager/system-connections/wifi.nmconnection": "error"}
                           ).verify(tmp_path) if f.resource == "br0"]
    assert "STP on" in f.message and "eno1" in f.message


@pytest.mark.parametrize("text, expected", [
    ("a: 1\nb:\n  - x\n  - {k: v}\n", {"a": "1", "b": ["x", {"k": "v"}]}),
    ("a:\n- 1\n- 2\n", {"a": ["1", "2"]}),
    ("---\nx: 'it''s'  # comment\ny: \"q#\"\n", {"x": "it's", "y": "q#"}),
    ("l:\n  - name: a\n    v: [1, 2]\n  - name: b\n", {"l": [{"name": "a", "v": ["1", "2"]}, {"name": "b"}]}),
    ("", None),
    ("a: &x yes\nb: *x\n", {"a": "yes", "b": "yes"}),  # anchors and aliases: plain YAML, read as strings
    ("a: |\n  text\n", {"a": "text\n"}),
    ("a: !!python/object/apply:os.system [x]\n", {"a": ["x"]}),  # a tag never constructs anything
])
def test_yaml_reads_netplan_files_with_strings_only(text, expected):
    assert yamldoc.loads(text) == expected


@pytest.mark.parametrize("text, kind, line", [
    ("a:\n\tb: 1\n", yamldoc.YamlError, 2),
    ("a: 1\na: 2\n", yamldoc.YamlError, 2),
    ("a:\n  b: 1\n    c: 2\n", yamldoc.YamlError, 3),
    ("a: [1, 2}\n", yamldoc.YamlError, 1),
    ("a: b: c\n", yamldoc.YamlError, 1),
    ("a: 1\n---\nb: 2\n", yamldoc.YamlUnsupported, 1),
])
def test_yaml_rejects_with_the_line(text, kind, line):
    with pytest.raises(kind) as info:
        yamldoc.loads(text)
    assert info.value.line == line
