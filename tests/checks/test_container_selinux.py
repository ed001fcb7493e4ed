"""SELinux checks: exact verdicts per scenario and resource."""

import pytest

from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.facts.selinux import parse_label, parse_selinux_config
from tests.helpers import Case

CASES = [
    Case("ctr-healthy", "container.selinux.mode", {"selinux": "pass"}),
    Case("ctr-userns", "container.selinux.mode", {"selinux": "pass"}, note="permissive-as-configured"),
    Case("ctr-broken", "container.selinux.mode", {"selinux": "warn"}, note="runtime-differs"),
    Case("ctr-daemon-down", "container.selinux.mode", {"selinux": "skip"}, note="absent"),
    Case("ctr-garbage", "container.selinux.mode", {"": "error"}),
    Case("ctr-healthy", "container.selinux.labels", {"auto-glm:/app/config": "pass"}),
    Case("ctr-broken", "container.selinux.labels", {"auto-glm:/app/config": "fail"}, note="user_home_t"),
    Case("ctr-userns", "container.selinux.labels",
         {"auto-glm:/app/config": "pass", "auto-glm:/app/logs": "pass", "auto-glm:/data": "pass",
          "sglang:/models": "pass"}, note="docker-without-selinux"),
    Case("ctr-daemon-down", "container.selinux.labels", {"": "skip"}),
    Case("ctr-healthy", "container.selinux.vm_images", {"/var/lib/libvirt/images/autoglm-vm.qcow2": "pass"}),
    Case("ctr-broken", "container.selinux.vm_images", {"/var/lib/libvirt/images/autoglm-vm.qcow2": "fail"}),
    Case("ctr-userns", "container.selinux.vm_images", {"/var/lib/libvirt/images": "skip"}),
    Case("ctr-healthy", "container.selinux.docker_option", {"dockerd": "pass"}),
    Case("ctr-userns", "container.selinux.docker_option", {"dockerd": "warn"}),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def test_label_fix_is_persistent(tmp_path):
    f = next(f for f in CASES[6].verify(tmp_path) if f.check_id == "container.selinux.labels")
    assert f.remediation.startswith("semanage fcontext -a -t container_file_t '/home/admin/autoglm/config(/.*)?' "
                                    "&& restorecon -Rv /home/admin/autoglm/config")


def test_parsers():
    lab = parse_label(b"system_u:object_r:container_file_t:s0:c1,c2\x00", "/x")
    assert (lab.type, lab.level, lab.categories) == ("container_file_t", "s0:c1,c2", "c1,c2")
    assert parse_selinux_config("SELINUX=Enforcing # comment\nSELINUXTYPE=targeted\n") == ("enforcing", "targeted")
    with pytest.raises(GarbageValue):
        parse_label(b"garbage", "/x")
    with pytest.raises(GarbageValue):
        parse_selinux_config("SELINUX=yes\n")
