"""Plans of fixes/container.py on the ctr-* scenarios: exact changes, diffs for daemon.json."""

import json

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.registry import load_registry
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import run_check_ids, scenario_path


def plan(scenario, check_ids, fix_id, profile=None):
    target = SnapshotTarget(str(scenario_path(scenario)))
    try:
        findings = [f for f in run_check_ids(target, check_ids, profile)
                    if f.check_id in check_ids and f.status.value in ("fail", "warn")]
        fix = load_registry().fixes[fix_id]()
        p = fix.plan(Context(target, Profile(dict(profile or {}))), findings)
        return p, p.render(target)
    finally:
        target.close()


def test_volume_access_plan_grants_exactly_the_containers_uid_by_acl():
    profile = {"containers": [{"name": "auto-glm", "volumes": [{"target": "/app/config", "write": True}]}]}
    p, _text = plan("ctr-broken", ["container.volumes.access"], "fix.container.volume_access", profile)
    assert [c.describe() for c in p.changes] == [
        "setfacl -R -m u:1000:rwX /home/admin/autoglm/config; "
        "setfacl -R -d -m u:1000:rwX /home/admin/autoglm/config (directories)"]


def test_volume_access_plan_for_userns_parent_and_group():
    p, _ = plan("ctr-userns", ["container.volumes.access"], "fix.container.volume_access")
    # userns-remap: the ACL names the remapped host uid the container really runs as
    assert [c.describe() for c in p.changes] == ["chmod 0701 /root", "setfacl -R -m u:231072:rX /srv/models; "
                                                 "setfacl -R -d -m u:231072:rX /srv/models (directories)"]


def test_selinux_plan_uses_semanage_and_restorecon():
    p, _ = plan("ctr-broken", ["container.selinux.labels", "container.selinux.vm_images"],
                "fix.container.selinux_labels")
    assert [c.describe() for c in p.changes] == [
        "run: semanage fcontext -a -t container_file_t /home/admin/autoglm/config(/.*)?  "
        "(undo: semanage fcontext -d /home/admin/autoglm/config(/.*)?)",
        "run: restorecon -Rv /home/admin/autoglm/config  (undo: run again after the inputs are restored)",
        "run: restorecon -v /var/lib/libvirt/images/autoglm-vm.qcow2  (undo: run again after the inputs are restored)",
    ]


def test_nvidia_plan_when_only_a_restart_is_missing():
    p, text = plan("ctr-broken", ["container.docker.nvidia"], "fix.container.nvidia_runtime")
    assert [c.describe() for c in p.changes] == ["run: systemctl restart docker  (undo: run again after the inputs are restored)"]
    assert "already registers nvidia" in text


def test_nvidia_plan_shows_daemon_json_diff(tmp_path):
    import shutil

    tree = tmp_path / "snap"
    shutil.copytree(scenario_path("ctr-healthy"), tree, symlinks=True)
    (tree / "etc/docker/daemon.json").write_text('{"selinux-enabled": true}\n')
    api_path = tree / ".autoglm-doctor/api.json"
    api = json.loads(api_path.read_text())
    del api['docker.info([])']["result"]["Runtimes"]["nvidia"]
    api_path.write_text(json.dumps(api))
    (tree / "usr/bin/nvidia-container-runtime-hook").unlink()
    target = SnapshotTarget(str(tree))
    try:
        findings = [f for f in run_check_ids(target, ["container.docker.nvidia"]) if f.status.value == "fail"]
        assert findings, "the scenario without runtime and hook must fail"
        p = load_registry().fixes["fix.container.nvidia_runtime"]().plan(Context(target, Profile({})), findings)
        text = p.render(target)
    finally:
        target.close()
    assert "--- a/etc/docker/daemon.json" in text
    assert '+    "runtimes": {' in text and '+            "path": "nvidia-container-runtime",' in text
    assert p.changes[-1].describe().startswith("run: systemctl restart docker")
