"""Why a check has no mechanical fix: what it finds is decided by firmware, hardware, capacity or
the operator's own deployment, not by a file or value a tool could safely change. ``autoglm-doctor
list`` shows this next to each check without a fix, so "no fix" is a statement, not an omission."""

from __future__ import annotations

import fnmatch

REASONS: tuple[tuple[str, str], ...] = (
    ("host.cpu.virtualization", "firmware setting: enable VT-x / AMD-V (SVM) in the BIOS/UEFI setup"),
    ("host.iommu.firmware", "firmware setting: enable VT-d / AMD-Vi (IOMMU) in the BIOS/UEFI setup"),
    ("host.iommu.group_isolation", "hardware topology: move the card to a slot with its own group "
                                   "(pcie_acs_override only hides the sharing)"),
    ("host.vfio.boot_vga", "firmware setting: make another GPU (or the iGPU) the primary display"),
    ("host.vfio.reset", "hardware capability of the card (FLR/bus reset)"),
    ("host.vfio.numa", "placement decision: pin the VM's vCPUs and memory to the GPU's NUMA node"),
    ("host.pci.*", "inventory: nothing to change"),
    ("host.kernel.*", "boot a different kernel (a package choice, not a setting)"),
    ("host.cgroup.*", "init system choice (cgroup v2 with systemd.unified_cgroup_hierarchy)"),
    ("host.resources.cpu", "capacity: more cores"),
    ("host.resources.memory", "capacity: more memory"),
    ("host.resources.disk", "capacity: free or add disk space (what to delete is the operator's call)"),
    ("host.resources.swap", "policy: sizing swap is the operator's call"),
    ("host.libvirt.*", "install or start libvirt with the distribution's packages"),
    ("host.bridge.persistent", "the bridge must be defined in the host's own network configuration system"),
    ("host.bridge.mtu", "the MTU must match the LAN: the operator knows the right value"),
    ("host.bridge.vlan*", "VLAN layout is a network design decision"),
    ("host.bridge.uplink", "which NIC is the uplink is a network design decision"),
    ("host.bridge.carrier", "a cable, switch port or uplink problem"),
    ("container.deploy.*", "deployment options (compose / docker run) belong to the operator"),
    ("container.docker.daemon_config", "repair the daemon configuration by hand (it does not parse)"),
    ("container.docker.storage_driver", "changing the storage driver loses images and containers"),
    ("container.docker.root_space", "capacity: free or add disk space"),
    ("container.docker.cgroup_driver", "the cgroup driver must match the orchestrator's"),
    ("container.volumes.source", "create the bind-mount source where the deployment expects it"),
    ("container.selinux.docker_option", "dockerd's --selinux-enabled is a daemon policy decision"),
    ("container.apparmor.profiles", "which AppArmor profile confines a container is a deployment option "
                                    "(--security-opt apparmor=...); load it with apparmor_parser -r"),
    ("container.docker.daemon", "install or start Docker with the distribution's packages"),
    ("host.bridge.present", "the bridge must be created in the host's own network configuration system"),
    ("model.*", "deployment options, images and weights belong to the operator"),
    ("guest.gpu.visible", "follows from the host binding and the domain: see fix.vfio.bind and fix.vm.domain_xml"),
    ("guest.driver.vendor", "guest packages: install the vendor driver built for the guest's kernel (a package choice)"),
    ("guest.system.kernel", "guest packages: install the vendor driver built for the guest's kernel (a package "
                            "choice)"),
    ("guest.nvidia.errors", "hardware errors: reset or replace the GPU"),
    ("guest.nvidia.*", "guest services from the driver's packages, matching its version (a package choice)"),
    ("guest.system.clock", "the guest's time service is the operator's choice (chrony, systemd-timesyncd)"),
    ("guest.system.disk", "capacity: grow the guest's disk or free space"),
    ("guest.system.resources", "follows from the domain definition: see vm.resources.*"),
    ("xcheck.*", "a comparison of host, VM and guest: fix the side the finding names"),
    ("logs.*", "application-level: the findings name the failing requests and hops"),
    ("vm.*", "domain definition: see the vm fixes where present"),
    ("device.*", "device-side setting"),
)


def no_fix_reason(check_id: str) -> str:
    for pattern, reason in REASONS:
        if fnmatch.fnmatchcase(check_id, pattern):
            return reason
    return "no mechanical fix yet"
