"""VFIO checks: presence of the GPUs, modules, binding now and at boot, boot VGA, reset, NUMA."""

import pytest

from tests.helpers import Case

GPU = "0000:01:00.0"
AUDIO = "0000:01:00.1"
MODULES_OK = {"vfio": "pass", "vfio_pci": "pass", "vfio_iommu_type1": "pass"}
MODULES_MISSING = {"vfio": "fail", "vfio_pci": "fail", "vfio_iommu_type1": "fail"}

CASES = [
    # which GPUs
    Case("gpu-intel-a100", "host.pci.gpus", {"0000:17:00.0": "pass"}, note="class-0302"),
    Case("gpu-amd-rx6800", "host.pci.gpus", {"0000:0b:00.0": "pass"}, note="igpu-is-boot-vga"),
    Case("gpu-boot-vga-only", "host.pci.gpus", {"gpus": "fail"}),
    Case("gpu-boot-vga-only", "host.pci.gpus", {GPU: "pass"}, profile={"gpus": ["01:00.0"]}, note="named"),
    Case("gpu-nouveau", "host.pci.gpus", {"0000:09:00.0": "fail"}, profile={"gpus": ["0000:09:00.0"]}, note="missing"),
    Case("gpu-nouveau", "host.pci.gpus", {"gpus": "skip"}, profile={"gpus": []}, note="no-passthrough"),
    Case("gpu-bad-input", "host.pci.gpus", {GPU: "pass", "0000:06:00.0": "pass"}),
    # modules
    Case("gpu-intel-a100", "host.vfio.modules", MODULES_OK),
    Case("gpu-builtin-vfio", "host.vfio.modules", MODULES_OK, note="built-in"),
    Case("gpu-nouveau", "host.vfio.modules", MODULES_MISSING),
    # binding now
    Case("gpu-intel-a100", "host.vfio.binding", {"0000:17:00.0": "pass"}),
    Case("gpu-amd-rx6800", "host.vfio.binding", {"0000:0b:00.0": "pass", "0000:0b:00.1": "pass"}),
    Case("gpu-nouveau", "host.vfio.binding", {GPU: "fail", AUDIO: "fail"}),
    Case("gpu-nvidia", "host.vfio.binding", {GPU: "fail", AUDIO: "fail"}),
    Case("gpu-audio-snd-hda", "host.vfio.binding", {GPU: "pass", AUDIO: "fail"}),
    Case("gpu-group-shared-nic", "host.vfio.binding",
         {"0000:05:00.0": "pass", "0000:05:00.1": "pass", "0000:03:00.0": "fail"}),
    Case("gpu-iommu-firmware-off", "host.vfio.binding", {"": "skip"}, note="requires-iommu"),
    # binding at boot
    Case("gpu-intel-a100", "host.vfio.persistence", {"0000:17:00.0": "pass"}),
    Case("gpu-amd-rx6800", "host.vfio.persistence", {"0000:0b:00.0": "pass", "0000:0b:00.1": "pass"}, note="cmdline"),
    Case("gpu-nouveau", "host.vfio.persistence", {GPU: "fail", AUDIO: "fail"}),
    Case("gpu-audio-snd-hda", "host.vfio.persistence", {GPU: "pass", AUDIO: "fail"}),
    Case("gpu-runtime-only", "host.vfio.persistence", {GPU: "warn", AUDIO: "warn"}),
    Case("gpu-no-nouveau-order", "host.vfio.persistence", {GPU: "warn", AUDIO: "warn"}),
    Case("gpu-builtin-vfio", "host.vfio.persistence", {GPU: "warn", AUDIO: "warn"}),
    Case("gpu-boot-vga-only", "host.vfio.persistence", {GPU: "pass", AUDIO: "pass"}, profile={"gpus": [GPU]}),
    Case("gpu-twin-3090", "host.vfio.persistence", {"0000:0c:00.0": "fail", "0000:0c:00.1": "fail"}, note="twin"),
    Case("gpu-twin-3090", "host.vfio.binding", {"0000:0c:00.0": "fail", "0000:0c:00.1": "fail"}, note="twin"),
    Case("gpu-twin-3090", "host.pci.gpus", {"0000:0c:00.0": "pass"}, note="twin-host-card-is-boot-vga"),
    Case("gpu-twin-3090", "host.iommu.group_isolation", {"0000:0c:00.0": "pass"}, note="twin"),
    # boot VGA, reset, NUMA
    Case("gpu-nouveau", "host.vfio.boot_vga", {GPU: "pass"}),
    Case("gpu-intel-a100", "host.vfio.boot_vga", {"0000:17:00.0": "pass"}, note="3d-controller"),
    Case("gpu-boot-vga-only", "host.vfio.boot_vga", {GPU: "warn"}, profile={"gpus": [GPU]}),
    Case("gpu-nouveau", "host.vfio.reset", {GPU: "pass"}),
    Case("gpu-group-shared-nic", "host.vfio.reset", {"0000:05:00.0": "warn"}),
    Case("gpu-intel-a100", "host.vfio.numa", {"0000:17:00.0": "pass"}, profile={"vm_numa_node": 0}),
    Case("gpu-intel-a100", "host.vfio.numa", {"0000:17:00.0": "warn"}, profile={"vm_numa_node": 1}, note="remote"),
    Case("gpu-intel-a100", "host.vfio.numa", {"0000:17:00.0": "fail"}, profile={"vm_numa_node": 3}, note="no-node"),
    Case("gpu-intel-a100", "host.vfio.numa", {"0000:17:00.0": "skip"}, note="unset"),
    Case("gpu-amd-rx6800", "host.vfio.numa", {"0000:0b:00.0": "pass"}, profile={"vm_numa_node": 0}, note="no-locality"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def _by_resource(scenario, check_id, profile=None):
    findings = Case(scenario, check_id, {}, profile=profile or {}).findings()
    return {f.resource: f for f in findings if f.check_id == check_id}


def test_binding_names_the_holder_and_the_nvidia_caveat():
    got = _by_resource("gpu-nvidia", "host.vfio.binding")
    assert "held by the host driver nvidia" in got[GPU].message
    assert "nvidia-persistenced" in got[GPU].remediation
    assert "virsh nodedev-detach pci_0000_01_00_0" in got[GPU].remediation
    assert "held by the host driver snd_hda_intel" in got[AUDIO].message


def test_persistence_recommends_the_exact_ids_and_softdeps():
    got = _by_resource("gpu-nvidia", "host.vfio.persistence")
    todo = got[GPU].remediation
    assert "'options vfio-pci ids=10de:2204,10de:1aef'" in todo
    for module in ("nvidia", "nouveau", "snd_hda_intel"):
        assert f"'softdep {module} pre: vfio-pci'" in todo
    assert "update-initramfs -u" in todo


def test_runtime_binding_without_config_is_lost_at_reboot():
    got = _by_resource("gpu-runtime-only", "host.vfio.persistence")
    assert "lost at reboot" in got[GPU].message


def test_a_masked_blacklist_does_not_count_and_continuation_lines_are_joined():
    got = _by_resource("gpu-no-nouveau-order", "host.vfio.persistence")
    msg = got[GPU].message
    assert "options vfio-pci ids=10de:2204,10de:1aef (/etc/modprobe.d/vfio.conf:1)" in msg
    assert "nouveau is neither blacklisted nor ordered" in msg
    assert got[GPU].remediation.startswith("softdep nouveau pre: vfio-pci")
    assert "snd_hda_intel is neither blacklisted" in got[AUDIO].message


def test_modprobe_options_are_ignored_when_vfio_pci_is_built_in():
    got = _by_resource("gpu-builtin-vfio", "host.vfio.persistence")
    assert "ignored, vfio_pci is built into this kernel" in got[GPU].message
    assert "vfio-pci.ids=10de:2204,10de:1aef to the kernel command line" in got[GPU].remediation


def test_no_gpu_names_the_boot_vga_card():
    got = _by_resource("gpu-boot-vga-only", "host.pci.gpus")
    assert "no passthrough GPU found" in got["gpus"].message
    assert "NVIDIA Corporation GA102 [GeForce RTX 3090]" in got["gpus"].message
    assert "profile.gpus" in got["gpus"].remediation


def test_persistence_with_an_identical_host_card_recommends_per_address_binding():
    got = _by_resource("gpu-twin-3090", "host.vfio.persistence")
    todo = got["0000:0c:00.0"].remediation
    assert todo.startswith("ids=10de:2204,10de:1aef would also take 0000:0b:00.0, 0000:0b:00.1 (same vendor:device, "
                           "kept by the host): bind per address instead")
    assert ("driverctl set-override 0000:0c:00.0 vfio-pci; driverctl set-override 0000:0c:00.1 vfio-pci "
            "(persisted in /etc/driverctl.d") in todo
    assert "options vfio-pci ids=" not in todo
