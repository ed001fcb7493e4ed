"""device.usb.*: the host's USB tree + libvirt domains, and the guest's USB tree (scenario snapshots)."""

import pytest

from autoglm_doctor.app import plan_fixes
from autoglm_doctor.config import Config, Profile
from autoglm_doctor.facts.usb import parse_domain_usb
from autoglm_doctor.model import Report
from autoglm_doctor.registry import load_registry
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import Case, scenario_path

P = "device.usb.passthrough"
G = "device.usb.guest"
PHONE = "18d1:4ee7 2A241FDH2004SX"
AGENT = {"agent_domain": "autoglm-agent"}

CASES = [
    Case("usb-host-by-ids", P, {PHONE: "pass"}),
    Case("usb-host-by-ids", P, {PHONE: "pass"}, profile=AGENT, note="agent-domain"),
    Case("usb-host-by-ids", P, {PHONE: "fail"}, profile={"agent_domain": "gpu-vm"}, note="passed-to-another-vm"),
    Case("usb-host-by-ids", P, {"nope": "fail"}, profile={"agent_domain": "nope"}, note="unknown-domain"),
    Case("usb-host-pinned", P, {PHONE: "warn"}),
    Case("usb-host-reenumerated", P, {PHONE: "fail"}),
    Case("usb-host-not-passed", P, {PHONE: "fail"}, profile=AGENT, note="agent-domain"),
    Case("usb-host-not-passed", P, {PHONE: "skip"}, note="agent-on-host"),
    Case("usb-host-controller", P, {"autoglm-agent:0000:03:00.0": "pass"}),
    Case("usb-host-absent-required", P, {"autoglm-agent:vendor/product 2717:ff48": "warn"}),
    Case("usb-host-garbage", P, {"libvirt": "error", PHONE: "pass"}),
    Case("usb-guest-phone", P, {"": "skip"}, note="not-on-a-guest"),
    Case("usb-guest-phone", G, {PHONE: "pass"}),
    Case("usb-guest-phone", G, {"2A241FDH2004SX": "pass"}, profile={"devices": ["2A241FDH2004SX"]}, note="serial"),
    Case("usb-guest-no-phone", G, {"2A241FDH2004SX": "fail"}, profile={"devices": ["2A241FDH2004SX"]}, note="serial"),
    Case("usb-guest-no-phone", G, {"usb": "warn"}),
    Case("usb-guest-no-phone", G, {"usb": "skip"}, profile={"devices": ["192.168.1.50:5555"]}, note="tcp-only"),
    Case("usb-host-by-ids", G, {"": "skip"}, note="not-a-guest"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def plan_text(scenario: str, profile: dict) -> str:
    registry = load_registry()
    findings = Case(scenario, P, {}, profile=profile).findings()
    target = SnapshotTarget(str(scenario_path(scenario)))
    try:
        report = Report("t", target.name, "r", "now", 0, tuple(findings))
        config = Config(profile=Profile(profile))
        plans = plan_fixes(registry, target, config, report, only=["fix.usb.hostdev"])
        return "\n".join(p.render(target) for p in plans)
    finally:
        target.close()


def test_pinned_hostdev_is_replaced_by_vendor_product():
    text = plan_text("usb-host-reenumerated", {})
    assert "[1] redefine libvirt domain autoglm-agent on qemu:///system (takes effect at its next start)" in text
    assert "-<domain type='kvm'><name>autoglm-agent</name><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>" \
        "<hostdev mode='subsystem' type='usb' managed='yes'><source><address bus='1' device='5'/></source>" in text
    new = [ln for ln in text.splitlines() if ln.strip().startswith("+") and not ln.strip().startswith("+++")]
    added = "\n".join(new)
    assert "address bus='1' device='5'" not in added  # the pinned hostdev is gone
    assert "<vendor id=\"0x18d1\" />" in added and "<product id=\"0x4ee7\" />" in added
    assert "startupPolicy=\"optional\"" in added
    assert "[2]" not in text


def test_missing_hostdev_is_added_and_the_rest_kept():
    registry = load_registry()
    text = plan_text("usb-host-not-passed", {"agent_domain": "autoglm-agent"})
    assert "[1] redefine libvirt domain autoglm-agent" in text
    assert "<emulator>/usr/bin/qemu-system-x86_64</emulator>" in text and "<vendor id=\"0x18d1\" />" in text
    assert registry.fixes["fix.usb.hostdev"]


@pytest.mark.parametrize("xml", ["", "<domain>", "<!DOCTYPE x [<!ENTITY a 'b'>]><domain/>", "\x00\x01"])
def test_garbage_domain_xml_is_a_clear_error(xml):
    with pytest.raises(ValueError, match="domain d: "):
        parse_domain_usb("d", xml)


def test_hostdev_ids_and_addresses_are_normalised():
    dom = parse_domain_usb("d", "<domain><devices><hostdev type='usb'><source><vendor id='0x18D1'/>"
                                "<product id='0x4EE7'/></source></hostdev><hostdev type='usb'><source>"
                                "<address bus='0x1' device='007'/></source></hostdev><hostdev type='pci'><source>"
                                "<address domain='0' bus='3' slot='0' function='0'/></source></hostdev>"
                                "<hostdev type='usb'><source><address bus='x' device='y'/></source></hostdev>"
                                "</devices></domain>")
    assert [(h.vendor, h.product, h.bus, h.device) for h in dom.usb] == [
        ("18d1", "4ee7", None, None), ("", "", 1, 7), ("", "", None, None)]
    assert dom.pci == ("0000:03:00.0",)
