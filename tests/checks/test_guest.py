"""guest.* and model.*: exact verdicts on guest scenario snapshots (a q35 guest with an A100 passed through,
driver 535 output), and the parsers against the documented formats."""

from __future__ import annotations

import pytest

from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.facts.model_server import gpu_request, host_path, image_cuda, parse_server_args
from autoglm_doctor.facts.nvidia import bus_id, parse_smi_xml, secure_boot, xids
from tests.helpers import Case

GPU = "0000:01:00.0"
MODEL_DIR = "/srv/models/AutoGLM-Phone-9B"

CASES = [
    Case("guest-a100-healthy", "guest.gpu.visible", {GPU: "pass"}),
    Case("guest-no-gpu", "guest.gpu.visible", {"gpus": "fail"}),
    Case("guest-bar-no-space", "guest.gpu.visible", {GPU: "fail"}),
    Case("guest-a100-healthy", "guest.driver.nouveau", {"nouveau": "pass"}),
    Case("guest-nouveau", "guest.driver.nouveau", {"nouveau": "fail"}),
    Case("guest-no-gpu", "guest.driver.nouveau", {"": "skip"}, note="requires-gpu"),
    Case("guest-a100-healthy", "guest.driver.vendor", {GPU: "pass"}),
    Case("guest-nouveau", "guest.driver.vendor", {GPU: "fail"}),
    Case("guest-secureboot-unsigned", "guest.driver.vendor", {GPU: "fail"}),
    Case("guest-kernel-upgraded", "guest.driver.vendor", {GPU: "fail"}),
    Case("guest-hgx-errors", "guest.driver.vendor", {GPU: "pass", "0000:02:00.0": "pass"}),
    Case("guest-a100-healthy", "guest.nvidia.smi", {"nvidia-smi": "pass"}),
    Case("guest-hgx-errors", "guest.nvidia.smi", {"nvidia-smi": "pass"}, note="two-gpus"),
    Case("guest-secureboot-unsigned", "guest.nvidia.smi", {"": "skip"}, note="requires-driver"),
    Case("guest-nvml-mismatch", "guest.nvidia.smi", {"nvidia-smi": "fail"}),
    Case("guest-a100-healthy", "guest.nvidia.persistenced", {"persistence": "pass"}),
    Case("guest-hgx-errors", "guest.nvidia.persistenced", {"persistence": "warn"}),
    Case("guest-a100-healthy", "guest.nvidia.fabricmanager", {"fabric": "skip"}, note="no-nvswitch"),
    Case("guest-hgx-errors", "guest.nvidia.fabricmanager", {"fabric": "fail"}),
    Case("guest-hgx-healthy", "guest.nvidia.fabricmanager", {"fabric": "pass"}),
    Case("guest-a100-healthy", "guest.nvidia.errors", {"errors": "pass"}),
    Case("guest-hgx-errors", "guest.nvidia.errors", {"errors": "fail"}),
    Case("guest-a100-healthy", "guest.system.kernel", {"6.1.0-13-amd64": "pass"}),
    Case("guest-kernel-upgraded", "guest.system.kernel", {"6.1.0-18-amd64": "fail"}),
    Case("guest-secureboot-unsigned", "guest.system.kernel", {"6.1.0-13-amd64": "pass"}, note="built-not-loaded"),
    Case("guest-a100-healthy", "guest.system.resources", {"vcpus": "pass", "memory": "pass"},
         profile={"vm_vcpus": 16, "vm_memory_gb": 64}),
    Case("guest-kernel-upgraded", "guest.system.resources", {"vcpus": "fail", "memory": "fail"},
         profile={"vm_vcpus": 16, "vm_memory_gb": 64}),
    Case("guest-a100-healthy", "guest.system.disk", {"/": "pass"}),
    Case("guest-kernel-upgraded", "guest.system.disk", {"/": "fail"}),
    Case("guest-a100-healthy", "guest.system.disk", {MODEL_DIR: "pass"}, profile={"model_path": MODEL_DIR},
         note="weights-present"),
    Case("guest-a100-healthy", "guest.system.clock", {"chrony": "pass"}),
    Case("guest-hgx-errors", "guest.system.clock", {"chrony": "warn"}),
    Case("guest-kernel-upgraded", "guest.system.clock", {"timedatectl": "fail"}),
    Case("guest-ubuntu-apparmor", "container.apparmor.profiles", {"auto-glm": "pass", "vllm": "fail"}),
    Case("guest-ubuntu-unconfined", "container.apparmor.profiles", {"auto-glm": "warn", "vllm": "pass"}),
    Case("guest-a100-healthy", "container.apparmor.profiles", {"apparmor": "skip"}, note="no-apparmor"),
    Case("guest-a100-healthy", "model.weights.complete", {MODEL_DIR: "pass"}),
    Case("guest-model-broken", "model.weights.complete", {MODEL_DIR: "fail"}),
    Case("guest-container-no-gpu", "model.weights.complete", {MODEL_DIR: "fail"}, note="mount-source-empty"),
    Case("guest-a100-healthy", "model.server.args", {"vllm": "pass"}),
    Case("guest-model-broken", "model.server.args", {"vllm": "fail"}),
    Case("guest-container-no-gpu", "model.server.args", {"vllm": "fail"}, note="no-gpu-request"),
    Case("guest-a100-healthy", "model.server.cuda", {"vllm": "pass"}),
    Case("guest-model-broken", "model.server.cuda", {"vllm": "fail"}),
    Case("guest-container-no-gpu", "model.server.cuda", {"vllm": "fail"}, note="smi-not-in-container"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: Case, tmp_path) -> None:
    case.verify(tmp_path)


def message(case: Case) -> str:
    return " | ".join(f.message for f in case.findings() if f.check_id == case.check_id)


def test_messages_name_the_cause() -> None:
    assert "Secure Boot is on and the kernel refused the unsigned nvidia module" in message(
        Case("guest-secureboot-unsigned", "guest.driver.vendor", {}))
    assert "Driver/library version mismatch" in message(Case("guest-nvml-mismatch", "guest.nvidia.smi", {}))
    assert "BAR 1 not assigned" in message(Case("guest-bar-no-space", "guest.gpu.visible", {}))
    assert "its headers are not installed" in message(Case("guest-kernel-upgraded", "guest.system.kernel", {}))
    errors = message(Case("guest-hgx-errors", "guest.nvidia.errors", {}))
    assert "2 uncorrectable ECC error(s) on 0000:01:00.0" in errors and "Xid 48 (double-bit ECC error)" in errors
    assert "Xid 13" not in errors  # an application fault does not fail the GPU
    args = message(Case("guest-model-broken", "model.server.args", {}))
    for part in ("'glm'", "tensor-parallel size 2 does not fit the 1 GPU(s)", "fraction '1.5'",
                 "max model length 65536 exceeds the model's max_position_embeddings 32768"):
        assert part in args
    weights = message(Case("guest-model-broken", "model.weights.complete", {}))
    assert "1 of 4 shards missing (model-00003-of-00004.safetensors)" in weights
    assert "empty shards: model-00002-of-00004.safetensors" in weights
    assert "needs CUDA 12.4" in message(Case("guest-model-broken", "model.server.cuda", {}))


def test_host_only_checks_skip_on_a_guest_snapshot() -> None:
    findings = Case("guest-a100-healthy", "host.iommu.active", {}).findings()
    assert {f.status.value for f in findings} == {"skip"}
    assert "this target is a guest" in findings[0].message


SMI_OLD = """<?xml version="1.0" ?><nvidia_smi_log><driver_version>470.223.02</driver_version>
<cuda_version>11.4</cuda_version><gpu id="00000000:3B:00.0"><product_name>Tesla V100-PCIE-32GB</product_name>
<persistence_mode>Disabled</persistence_mode><fb_memory_usage><total>32510 MiB</total></fb_memory_usage>
<ecc_errors><volatile><single_bit><device_memory>3</device_memory><total>3</total></single_bit>
<double_bit><device_memory>1</device_memory><total>1</total></double_bit></volatile></ecc_errors></gpu></nvidia_smi_log>"""


def test_smi_parser_reads_both_ecc_generations() -> None:
    old = parse_smi_xml(SMI_OLD)
    assert (old.driver_version, old.cuda_version) == ("470.223.02", "11.4")
    (gpu,) = old.gpus
    assert (gpu.bus_id, gpu.memory_mib, gpu.ecc_uncorrectable, gpu.persistence) == ("0000:3b:00.0", 32510, 1, "Disabled")


@pytest.mark.parametrize("text", ["", "not xml", "<other/>", "<nvidia_smi_log><driver_version>x</driver_version></nvidia_smi_log>",
                                  '<nvidia_smi_log><driver_version>535.1</driver_version><gpu id="zz"/></nvidia_smi_log>',
                                  "<!DOCTYPE a [<!ENTITY x 'y'>]><nvidia_smi_log>&x;</nvidia_smi_log>"])
def test_smi_parser_refuses_garbage(text: str) -> None:
    with pytest.raises(GarbageValue):
        parse_smi_xml(text)


def test_small_parsers() -> None:
    assert bus_id("00000000:AF:00.1") == "0000:af:00.1"
    assert [(x.device, x.code) for x in xids("[1.0] NVRM: Xid (PCI:0000:01:00): 79, pid=1, GPU has fallen off the bus.")] \
        == [("0000:01:00", 79)]
    assert secure_boot(None) is None and secure_boot(b"\x06\x00\x00\x00\x01") is True
    assert secure_boot(b"\x06\x00\x00\x00\x00") is False
    sg = parse_server_args(["python3", "-m", "sglang.launch_server", "--model-path", "/m", "--tp-size=2",
                            "--context-length", "4096", "--mem-fraction-static", "0.8"])
    assert (sg.engine, sg.values) == ("sglang", {"model": "/m", "tp": "2", "max_len": "4096", "mem_fraction": "0.8"})
    assert parse_server_args(["vllm", "serve", "/models/x", "-tp", "4"]).values == {"model": "/models/x", "tp": "4"}
    mounts = {"Mounts": [{"Source": "/srv", "Destination": "/data"}, {"Source": "/srv/m2", "Destination": "/data/m"}]}
    assert host_path(mounts, "/data/m/glm") == "/srv/m2/glm" and host_path(mounts, "/other") is None
    assert image_cuda({"Config": {"Env": ["CUDA_VERSION=11.8.0"]}}) == (11, 8)
    assert gpu_request({"Config": {"Env": ["NVIDIA_VISIBLE_DEVICES=0,1"]}, "HostConfig": {}}) == 2
