"""vm.* checks on the vm-gpu-host scenario (an A100 + RTX 3090 host this machine cannot be, with domains as
libvirt returns them) and on the libvirt connection scenarios. Live domains: tests/live/test_vm_live.py."""

import pytest

from tests.helpers import Case

HOST = "vm-gpu-host"
BROKEN = {"vmdomain-broken": "skip"}


def per_domain(check_id, good, defects, bars, **kw):
    return Case(HOST, check_id, {**{k: v for k, v in (good | defects | bars).items()}, **BROKEN}, **kw)


CASES = [
    Case(HOST, "vm.domain.defined", {"vmdomain-good": "pass", "vmdomain-defects": "pass", "vmdomain-bars": "pass",
                                     "vmdomain-broken": "error"}),
    Case(HOST, "vm.domain.defined", {"vmdomain-good": "pass", "vmdomain-nope": "fail"},
         profile={"vm_domains": ["vmdomain-good", "vmdomain-nope"]}, note="missing"),
    Case("libvirt-down", "vm.domain.defined", {"libvirt": "fail"}),
    Case("vm-libvirt-denied", "vm.domain.defined", {"libvirt": "fail"}),
    Case("libvirt-not-installed", "vm.domain.defined", {"libvirt": "skip"}),
    Case("libvirt-kvm", "vm.domain.defined", {"libvirt": "skip"}, note="not-captured"),
    per_domain("vm.domain.state", {"vmdomain-good": "pass"}, {"vmdomain-defects": "fail"}, {"vmdomain-bars": "pass"}),
    Case(HOST, "vm.domain.state", {"vmdomain-crashed": "fail", "vmdomain-paused": "warn", "vmdomain-nogpu": "pass"},
         profile={"vm_domains": ["vmdomain-crashed", "vmdomain-paused", "vmdomain-nogpu"]}, note="crashed-paused"),
    per_domain("vm.domain.autostart", {"vmdomain-good": "pass"}, {"vmdomain-defects": "warn"},
               {"vmdomain-bars": "warn"}),
    per_domain("vm.agent.channel", {"vmdomain-good": "pass"}, {"vmdomain-defects": "warn"}, {"vmdomain-bars": "pass"}),
    per_domain("vm.hostdev.managed", {"vmdomain-good:0000:17:00.0": "pass"},
               {"vmdomain-defects:0000:65:00.0": "fail", "vmdomain-defects:0000:b3:00.0": "pass"},
               {"vmdomain-bars:0000:17:00.0": "pass"}),
    per_domain("vm.hostdev.address", {"vmdomain-good:0000:17:00.0": "pass"},
               {"vmdomain-defects:0000:65:00.0": "pass", "vmdomain-defects:0000:b3:00.0": "fail"},
               {"vmdomain-bars:0000:17:00.0": "pass"}),
    Case(HOST, "vm.hostdev.address", {"domains": "skip"},
         profile={"vm_domains": ["vmdomain-nope"]}, note="only-missing"),
    # a domain that passes no device through: each hostdev check says so (silence would be an error)
    *(Case(HOST, cid, {"vmdomain-nogpu": "skip"}, profile={"vm_domains": ["vmdomain-nogpu"]}, note="no-hostdev")
      for cid in ("vm.hostdev.managed", "vm.hostdev.address", "vm.hostdev.functions", "vm.hostdev.bars")),
    per_domain("vm.hostdev.functions", {"vmdomain-good:0000:17:00": "pass"}, {"vmdomain-defects:0000:65:00": "fail"},
               {"vmdomain-bars:0000:17:00": "pass"}),
    per_domain("vm.hostdev.bars", {"vmdomain-good": "pass"}, {"vmdomain-defects": "pass"}, {"vmdomain-bars": "fail"}),
    per_domain("vm.numa.placement", {"vmdomain-good": "pass"}, {"vmdomain-defects": "warn"}, {"vmdomain-bars": "warn"}),
    per_domain("vm.platform.machine", {"vmdomain-good": "pass"}, {"vmdomain-defects": "fail"}, {"vmdomain-bars": "pass"}),
    per_domain("vm.platform.firmware", {"vmdomain-good": "pass"}, {"vmdomain-defects": "fail"},
               {"vmdomain-bars": "pass"}),
    per_domain("vm.cpu.mode", {"vmdomain-good": "pass"}, {"vmdomain-defects": "fail"}, {"vmdomain-bars": "pass"}),
    per_domain("vm.cpu.hidden_state", {"vmdomain-good": "pass"}, {"vmdomain-defects": "pass"},
               {"vmdomain-bars": "pass"}),
    Case(HOST, "vm.cpu.hidden_state", {"vmdomain-nogpu": "warn"}, profile={"vm_domains": ["vmdomain-nogpu"]},
         note="hidden-without-need"),
    per_domain("vm.firmware.secure_boot", {"vmdomain-good": "pass"}, {"vmdomain-defects": "pass"},
               {"vmdomain-bars": "warn"}),
    per_domain("vm.resources.vcpus", {"vmdomain-good": "pass"}, {"vmdomain-defects": "warn"},
               {"vmdomain-bars": "pass"}, profile={"size": "gpu-host"}),
    per_domain("vm.resources.memory", {"vmdomain-good": "pass"}, {"vmdomain-defects": "warn"},
               {"vmdomain-bars": "pass"}, profile={"vm_memory_gb": 64}),
    per_domain("vm.memory.hugepages", {"vmdomain-good": "pass"}, {"vmdomain-defects": "fail"},
               {"vmdomain-bars": "fail"}),
    per_domain("vm.disk.io", {"vmdomain-good:vda": "pass"}, {"vmdomain-defects:sda": "warn"},
               {"vmdomain-bars": "skip"}),
    per_domain("vm.net.interfaces", {"vmdomain-good:52:54:00:aa:00:01": "pass"},
               {"vmdomain-defects:52:54:00:bb:00:01": "warn", "vmdomain-defects:52:54:00:bb:00:02": "fail"},
               {"vmdomain-bars:52:54:00:cc:00:01": "pass"}),
    Case(HOST, "vm.net.interfaces", {"vmdomain-defects:52:54:00:bb:00:01": "pass",
                                     "vmdomain-defects:52:54:00:bb:00:02": "fail"},
         profile={"vm_domains": ["vmdomain-defects"], "network_mode": "nat"}, note="nat-profile"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def by_resource(case):
    return {f.resource: f for f in case.findings() if f.check_id == case.check_id}


def test_failed_start_carries_the_log_tail_and_decoded_cause():
    f = by_resource(Case(HOST, "vm.domain.state", {}))["vmdomain-defects"]
    assert "group 65 is not viable" in " ".join(f.observed["log"])
    assert f.observed["log"][-1].endswith("shutting down, reason=failed")
    assert "IOMMU group 65" in f.remediation


def test_a_crash_is_decoded_from_the_running_domains_log():
    f = by_resource(Case(HOST, "vm.domain.state", {}, profile={"vm_domains": ["vmdomain-crashed"]}))["vmdomain-crashed"]
    assert "QEMU crashed" in f.message and "framebuffer" in f.message and "efifb" in f.remediation


def test_bars_name_the_sizes_and_the_window():
    f = by_resource(Case(HOST, "vm.hostdev.bars", {}))["vmdomain-bars"]
    assert "BAR1 64 GiB 64bit pref" in f.message and "OVMF's default" in f.message
    assert (f.observed, f.expected) == ("32 GiB", ">= 128 GiB")


def test_hugepages_reuse_the_host_rule_arithmetic():
    f = by_resource(Case(HOST, "vm.memory.hugepages", {}))["vmdomain-bars"]
    assert "96 GiB / 1 GiB = 96 pages" in f.message and f.observed == 80
    assert "hugepagesz=1G hugepages=96" in f.remediation


def test_denied_and_down_are_different_findings():
    down = by_resource(Case("libvirt-down", "vm.domain.defined", {}))["libvirt"]
    denied = by_resource(Case("vm-libvirt-denied", "vm.domain.defined", {}))["libvirt"]
    assert down.message.startswith("libvirtd is not answering") and down.observed == "unreachable"
    assert denied.message.startswith("permission denied") and denied.observed == "denied"
    assert "libvirt group" in denied.remediation
