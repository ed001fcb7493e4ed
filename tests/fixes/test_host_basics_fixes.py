"""Host-basics fixes: plans on scenarios, as golden text; planning never writes."""

import pytest

from autoglm_doctor.app import RunOptions, build_report, plan_fixes
from autoglm_doctor.config import Config, Profile
from autoglm_doctor.plan import RunCommand, SetMode, SetOwner, WriteFile
from autoglm_doctor.registry import load_registry
from autoglm_doctor.targets.base import ReadOnlyTarget
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import scenario_path

KVM_GOLDEN = """\
# fix fix.kvm.device_access: Give /dev/kvm to group kvm (0660) and put the VM user in it
#   addresses host.kvm.device [/dev/kvm]: /dev/kvm (crw------- root:root) is not read-write for the VM user libvirt-qemu (groups: kvm)
#   risk: safe
[1] write /etc/udev/rules.d/65-autoglm-doctor-kvm.rules (mode 0644)
    --- /dev/null
    +++ b/etc/udev/rules.d/65-autoglm-doctor-kvm.rules
    @@ -0,0 +1,2 @@
    +# Written by autoglm-doctor (fix.kvm.device_access): QEMU's user reaches /dev/kvm through group kvm.
    +KERNEL=="kvm", GROUP="kvm", MODE="0660", OPTIONS+="static_node=kvm"
[2] chown :kvm /dev/kvm
    /dev/kvm: owner 0:0 -> 0:kvm
[3] chmod 0660 /dev/kvm
    /dev/kvm: mode 0600 -> 0660"""


def plans_for(scenario, profile=None, only=("host.kvm.*",)):
    registry = load_registry()
    target = SnapshotTarget(str(scenario_path(scenario)))
    config = Config(profile=Profile(dict(profile or {})))
    report = build_report(target, config, RunOptions(only=only), registry=registry)
    return target, {p.fix_id: p for p in plan_fixes(registry, target, config, report)}


def test_kvm_access_plan_is_golden_and_snapshot_stays_read_only():
    target, plans = plans_for("host-old-amd")
    plan = plans["fix.kvm.device_access"]
    assert plan.render(target) == KVM_GOLDEN
    assert [type(c) for c in plan.changes] == [WriteFile, SetOwner, SetMode]
    with pytest.raises(ReadOnlyTarget):
        target.write("/etc/udev/rules.d/x", "y")


def test_kvm_plan_adds_the_vm_user_to_kvm_when_missing():
    target, plans = plans_for("host-healthy-intel", profile={"vm_user": "ops"})
    plan = plans["fix.kvm.device_access"]
    assert plan.changes[-1] == RunCommand(("usermod", "-aG", "kvm", "ops"), undo=("gpasswd", "-d", "ops", "kvm"))
    assert "restart libvirtd" in plan.notes[0]


def test_vhost_plan_refuses_when_the_kernel_lacks_the_module():
    target, plans = plans_for("host-old-amd")
    plan = plans["fix.kvm.vhost_net"]
    assert plan.empty and "built without CONFIG_VHOST_NET" in plan.notes[0]


def test_vhost_plan_loads_and_persists_the_module():
    target, plans = plans_for("host-bios-virt-off")
    plan = plans["fix.kvm.vhost_net"]
    assert plan.changes[0] == WriteFile("/etc/modules-load.d/autoglm-doctor-vhost-net.conf",
                                        "# Written by autoglm-doctor (fix.kvm.vhost_net)\nvhost_net\n")
    assert plan.changes[1] == RunCommand(("modprobe", "vhost_net"), undo=("modprobe", "-r", "vhost_net"))


def test_healthy_host_needs_no_plan():
    _target, plans = plans_for("host-healthy-intel")
    assert plans == {}
