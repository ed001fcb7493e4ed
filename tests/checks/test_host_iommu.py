"""IOMMU checks: exact verdicts per scenario and resource, and the advice they give."""

import pytest

from tests.helpers import Case

CASES = [
    # firmware tables
    Case("gpu-intel-a100", "host.iommu.firmware", {"DMAR": "pass"}),
    Case("gpu-amd-rx6800", "host.iommu.firmware", {"IVRS": "pass"}),
    Case("gpu-iommu-firmware-off", "host.iommu.firmware", {"DMAR": "fail"}),
    Case("gpu-iommu-kernel-off", "host.iommu.firmware", {"DMAR": "pass"}, note="dmar-present"),
    Case("gpu-amd-rx6800", "host.iommu.firmware", {"acpi": "skip"}, profile={"gpus": []}, note="no-passthrough"),
    # active in the kernel
    Case("gpu-intel-a100", "host.iommu.active", {"iommu": "pass"}),
    Case("gpu-amd-rx6800", "host.iommu.active", {"iommu": "pass"}),
    Case("gpu-nouveau", "host.iommu.active", {"iommu": "pass"}),
    Case("gpu-iommu-firmware-off", "host.iommu.active", {"iommu": "fail"}),
    Case("gpu-iommu-kernel-off", "host.iommu.active", {"iommu": "fail"}),
    Case("gpu-amd-iommu-off", "host.iommu.active", {"iommu": "fail"}),
    # group isolation
    Case("gpu-intel-a100", "host.iommu.group_isolation", {"0000:17:00.0": "pass"}),
    Case("gpu-amd-rx6800", "host.iommu.group_isolation", {"0000:0b:00.0": "pass"}),
    Case("gpu-nouveau", "host.iommu.group_isolation", {"0000:01:00.0": "pass"}, note="root-port-in-group"),
    Case("gpu-group-shared-nic", "host.iommu.group_isolation", {"0000:05:00.0": "fail"}),
    Case("gpu-bad-input", "host.iommu.group_isolation", {"0000:01:00.0": "error", "0000:06:00.0": "error"}),
    Case("gpu-iommu-kernel-off", "host.iommu.group_isolation", {"": "skip"}, note="requires-active"),
    Case("gpu-boot-vga-only", "host.iommu.group_isolation", {"": "skip"}, note="no-gpu"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def _one(scenario, check_id, profile=None):
    findings = Case(scenario, check_id, {}, profile=profile or {}).findings()
    return [f for f in findings if f.check_id == check_id]


def _advice(finding):
    return f"{finding.message} || {finding.remediation}"


def test_firmware_off_sends_the_user_to_the_bios_not_the_cmdline():
    (f,) = _one("gpu-iommu-firmware-off", "host.iommu.active")
    assert "no IOMMU groups: the kernel has no active IOMMU" in f.message
    assert "BIOS" in f.remediation and "VT-d" in f.remediation
    assert "intel_iommu=on" not in f.remediation


def test_intel_default_off_recommends_intel_iommu_on_with_iommu_pt_optional():
    (f,) = _one("gpu-iommu-kernel-off", "host.iommu.active")
    assert "CONFIG_INTEL_IOMMU_DEFAULT_ON is not set" in f.message
    assert "add intel_iommu=on" in f.remediation
    assert "iommu=pt is optional" in f.remediation


def test_amd_never_recommends_amd_iommu_on():
    (f,) = _one("gpu-amd-iommu-off", "host.iommu.active")
    assert "amd_iommu=off" in f.message
    assert f.remediation.startswith("remove amd_iommu=off")
    assert "add amd_iommu=on" not in _advice(f)
    assert "there is no amd_iommu=on" in f.remediation


def test_healthy_hosts_do_not_nag_about_iommu_pt_when_already_set():
    (a100,) = _one("gpu-intel-a100", "host.iommu.active")
    (nouveau,) = _one("gpu-nouveau", "host.iommu.active")
    assert "iommu=pt" not in a100.message  # already on its command line
    assert "optional: iommu=pt" in nouveau.message and "performance only" in nouveau.message
    assert a100.observed["interrupt_remapping"] is True


def test_shared_group_names_the_peer_its_driver_and_the_acs_caveat():
    (f,) = _one("gpu-group-shared-nic", "host.iommu.group_isolation")
    assert "0000:03:00.0 [8086:1539] Intel Corporation I211 Gigabit Network Connection" in f.message
    assert "driver igb" in f.message
    assert "pcie_acs_override" in f.remediation and "peer-to-peer" in f.remediation
    assert f.observed["upstream_acs"] == {"0000:00:1c.4": "no ACS capability"}


def test_isolated_gpu_reports_acs_of_its_root_port():
    (f,) = _one("gpu-intel-a100", "host.iommu.group_isolation")
    assert f.observed["upstream_acs"] == {"0000:16:02.0": "ACS enabled (SV RR CR UF)"}
