"""Host basics: exact verdicts per scenario and resource."""

import pytest

from tests.helpers import Case

CONFIG_ALL_PASS_INTEL = {name: "pass" for name in (
    "CONFIG_KVM", "CONFIG_KVM_INTEL", "CONFIG_VFIO", "CONFIG_VFIO_PCI", "CONFIG_VFIO_IOMMU_TYPE1",
    "CONFIG_INTEL_IOMMU", "CONFIG_VHOST_NET", "CONFIG_TUN", "CONFIG_BRIDGE", "CONFIG_BRIDGE_NETFILTER",
    "CONFIG_VETH", "CONFIG_NF_NAT", "CONFIG_MEMCG", "CONFIG_CGROUP_BPF", "CONFIG_OVERLAY_FS", "CONFIG_USER_NS",
    "CONFIG_SECCOMP", "CONFIG_HUGETLBFS")}
CONFIG_OLD_AMD = {
    **{k: v for k, v in CONFIG_ALL_PASS_INTEL.items() if k not in ("CONFIG_KVM_INTEL", "CONFIG_INTEL_IOMMU", "CONFIG_CGROUP_BPF")},
    "CONFIG_KVM_AMD": "pass", "CONFIG_AMD_IOMMU": "pass", "CONFIG_VFIO_PCI": "fail", "CONFIG_VHOST_NET": "warn",
}
RELEASE_V2 = {"docker": "pass", "vfio_driver_override": "pass", "docker_cgroup2": "pass", "cgroup2_freezer": "pass",
              "lts_baseline": "pass"}
V2_OK = {"version": "pass", "cpu": "pass", "cpuset": "pass", "memory": "pass", "io": "pass", "pids": "pass"}

CASES = [
    # kernel release
    Case("host-healthy-intel", "host.kernel.release", RELEASE_V2),
    Case("host-old-amd", "host.kernel.release", {"docker": "pass", "vfio_driver_override": "pass", "lts_baseline": "warn"}),
    Case("host-garbage", "host.kernel.release", {"": "error"}),
    Case("host-partial", "host.kernel.release", {"": "skip"}),
    # kernel config
    Case("host-healthy-intel", "host.kernel.config", CONFIG_ALL_PASS_INTEL),
    Case("host-old-amd", "host.kernel.config", CONFIG_OLD_AMD, note="boot-config"),
    Case("host-cloud-no-nested", "host.kernel.config", {"": "skip"}, note="no-config"),
    Case("host-garbage", "host.kernel.config", {"": "error"}),
    # CPU virtualization
    Case("host-healthy-intel", "host.cpu.virtualization", {"Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz": "pass"}),
    Case("host-old-amd", "host.cpu.virtualization", {"AMD Opteron(tm) Processor 6376": "pass"}),
    Case("host-cloud-no-nested", "host.cpu.virtualization", {"Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz": "fail"}),
    Case("host-bios-virt-off", "host.cpu.virtualization", {"Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz": "fail"}),
    Case("host-garbage", "host.cpu.virtualization", {"": "error"}),
    # /dev/kvm, vhost-net, tun
    Case("host-healthy-intel", "host.kvm.device", {"/dev/kvm": "pass"}),
    Case("host-old-amd", "host.kvm.device", {"/dev/kvm": "fail"}, note="root-only"),
    Case("host-cloud-no-nested", "host.kvm.device", {"/dev/kvm": "fail"}, note="absent"),
    Case("host-healthy-intel", "host.kvm.device", {"/dev/kvm": "fail"}, profile={"vm_user": "ops"}, note="user-not-in-kvm"),
    Case("host-healthy-intel", "host.kvm.device", {"/dev/kvm": "fail"}, profile={"vm_user": "nobody-here"}, note="unknown-user"),
    Case("host-partial", "host.kvm.device", {"": "skip"}),
    Case("host-healthy-intel", "host.kvm.vhost_net", {"/dev/vhost-net": "pass"}),
    Case("host-old-amd", "host.kvm.vhost_net", {"/dev/vhost-net": "warn"}),
    Case("host-healthy-intel", "host.kvm.tun", {"/dev/net/tun": "pass"}),
    Case("host-old-amd", "host.kvm.tun", {"/dev/net/tun": "fail"}),
    # cgroups
    Case("host-healthy-intel", "host.cgroup.controllers", V2_OK),
    Case("host-old-amd", "host.cgroup.controllers", {"version": "warn", "cpu": "pass", "cpuacct": "pass", "cpuset": "pass",
                                                     "memory": "fail", "devices": "pass", "blkio": "pass", "pids": "pass",
                                                     "freezer": "pass"}),
    Case("host-garbage", "host.cgroup.controllers", {"": "error"}),
    # resources
    Case("host-healthy-intel", "host.resources.cpu", {"cpus": "pass"}),
    Case("host-old-amd", "host.resources.cpu", {"cpus": "fail"}),
    Case("host-healthy-intel", "host.resources.cpu", {"cpus": "fail"}, profile={"cpus": 128}, note="override"),
    Case("host-healthy-intel", "host.resources.memory", {"memory": "pass"}, profile={"size": "gpu-host"}),
    Case("host-old-amd", "host.resources.memory", {"memory": "fail"}),
    Case("host-old-amd", "host.resources.memory", {"memory": "pass"}, profile={"size": "small"}, note="small"),
    Case("host-healthy-intel", "host.resources.disk", {"/var/lib/libvirt/images": "pass"}, profile={"size": "gpu-host"}),
    Case("host-old-amd", "host.resources.disk", {"/var/lib/docker": "fail"}, note="walks-up"),
    Case("host-healthy-intel", "host.resources.disk", {"/var/lib/docker": "fail"}, profile={"disk_gb": 5000}, note="override"),
    Case("host-healthy-intel", "host.resources.swap", {"swap": "pass"}),
    Case("host-old-amd", "host.resources.swap", {"swap": "warn"}),
    Case("host-garbage", "host.resources.swap", {"": "error"}),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def test_nested_message_names_the_situation_and_the_way_out():
    [f] = Case("host-cloud-no-nested", "host.cpu.virtualization", {}).findings()
    assert "itself a virtual machine" in f.message and "nested virtualization" in f.message
    assert "host-passthrough" in f.remediation


def test_bios_off_points_at_the_firmware_not_the_cmdline():
    [f] = Case("host-bios-virt-off", "host.cpu.virtualization", {}).findings()
    assert "firmware" in f.message and "BIOS" in f.remediation


def test_old_config_message_names_the_file_it_read():
    findings = Case("host-old-amd", "host.kernel.config", {}).findings()
    vfio = next(f for f in findings if f.resource == "CONFIG_VFIO_PCI")
    assert "/boot/config-4.9.0-19-amd64" in vfio.message


def test_disk_walk_up_is_explained():
    [f] = Case("host-old-amd", "host.resources.disk", {}).findings()
    assert "not created yet; measured at /var/lib" in f.message
    assert f.observed == "12.0 GiB"


def test_kvm_fail_names_the_groups_and_mode():
    [f] = Case("host-healthy-intel", "host.kvm.device", {}, profile={"vm_user": "ops"}).findings()
    assert "crw-rw---- root:kvm" in f.message and "ops" in f.message
    assert f.fix_id == "fix.kvm.device_access"
