"""Domain-XML edits (fixes/vm_xml.py) against golden files. The input is what libvirt 9.0 wrote for a domain
with the defects (virsh dumpxml --inactive of golden/vmdomain-golden.xml's source, defined on this CI machine);
each expected output was reviewed once by hand. An edit is idempotent, touches nothing else (the diff is only
the edit), and the domain parser sees the fixed property.

Regenerate after a deliberate change: UPDATE_GOLDEN=1 pytest tests/fixes/test_vm_xml.py
"""

import difflib
import os
from pathlib import Path

import pytest

from autoglm_doctor.facts.domain import parse_domain
from autoglm_doctor.fixes import vm_xml

GOLDEN = Path(__file__).with_name("golden")
SOURCE = (GOLDEN / "vmdomain-golden.xml").read_text()

EDITS = {
    "managed": lambda x: vm_xml.set_managed(x, ["0000:65:00.0"]),
    "functions": lambda x: vm_xml.add_functions(x, "0000:65:00.0", ["0000:65:00.1"]),
    "cpu": vm_xml.cpu_host_passthrough,
    "hugepages": lambda x: vm_xml.hugepage_backing(x, 1048576),
    "mmio64-ovmf": lambda x: vm_xml.mmio64_window(x, 131072, True),
    "mmio64-pcihole": lambda x: vm_xml.mmio64_window(x, 131072, False),
    "channel": vm_xml.agent_channel,
}

FIXED = {
    "managed": lambda d: all(h.managed for h in d.hostdevs),
    "functions": lambda d: [h.address for h in d.hostdevs] == ["0000:65:00.0", "0000:65:00.1"]
    and [h.guest_address for h in d.hostdevs] == ["0000:06:00.0", "0000:06:00.1"] and d.hostdevs[0].multifunction,
    "cpu": lambda d: d.cpu_mode == "host-passthrough" and d.cpu_model == "",
    "hugepages": lambda d: d.hugepages and d.hugepage_sizes == (1 << 30,),
    "mmio64-ovmf": lambda d: d.ovmf_mmio64_mb == 131072 and d.pcihole64_bytes is None,
    "mmio64-pcihole": lambda d: d.pcihole64_bytes == 128 << 30 and d.ovmf_mmio64_mb is None,
    "channel": lambda d: d.has_agent_channel,
}


def changed_lines(old: str, new: str) -> list[str]:
    return [ln for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


@pytest.mark.parametrize("name", sorted(EDITS))
def test_edit_matches_its_golden_file(name):
    out = EDITS[name](SOURCE)
    golden = GOLDEN / f"vmdomain-golden.{name}.xml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(out)
    assert out == golden.read_text()


@pytest.mark.parametrize("name", sorted(EDITS))
def test_edit_is_idempotent_and_does_what_it_says(name):
    once = EDITS[name](SOURCE)
    assert EDITS[name](once) == once
    assert FIXED[name](parse_domain(once))
    assert not FIXED[name](parse_domain(SOURCE))


def test_an_edit_changes_only_its_own_lines():
    assert changed_lines(SOURCE, EDITS["managed"](SOURCE)) == [
        "-    <hostdev mode='subsystem' type='pci' managed='no'>",
        "+    <hostdev mode='subsystem' type='pci' managed='yes'>"]
    assert changed_lines(SOURCE, EDITS["channel"](SOURCE)) == [
        "+    <channel type='unix'>", "+      <target type='virtio' name='org.qemu.guest_agent.0'/>",
        "+    </channel>"]


def test_cpu_keeps_the_topology():
    assert "<topology sockets='1' dies='1' cores='4' threads='2'/>" in EDITS["cpu"](SOURCE)


def test_an_older_mmio_window_is_replaced_not_added():
    twice = vm_xml.mmio64_window(vm_xml.mmio64_window(SOURCE, 65536, True), 262144, True)
    assert twice.count("X-PciMmio64Mb") == 1 and twice.count("-fw_cfg") == 1
    assert parse_domain(twice).ovmf_mmio64_mb == 262144


def test_attribute_values_are_escaped():
    hostile = SOURCE.replace("<name>vmdomain-golden</name>", "<name>a&amp;b&lt;'c</name>").replace(
        "listen='127.0.0.1'", "listen='127.0.0.1' passwd='it&apos;s&amp;&lt;'")
    out = vm_xml.agent_channel(hostile)
    assert parse_domain(out).name == "a&b<'c"
    assert "passwd='it&apos;s&amp;&lt;'" in out


def test_not_a_domain_is_refused():
    with pytest.raises(ValueError, match="not a libvirt <domain>"):
        vm_xml.agent_channel("<network><name>x</name></network>")
    with pytest.raises(ValueError, match="DTD"):
        vm_xml.agent_channel("<!DOCTYPE d [<!ENTITY e 'x'>]><domain/>")
