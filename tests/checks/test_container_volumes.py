"""Volume permission checks: exact verdicts per scenario and resource."""

import pytest

from autoglm_doctor.facts.access import Account
from autoglm_doctor.facts.volumes import repair_for
from autoglm_doctor.targets.base import StatResult
from tests.helpers import Case

MUST_WRITE = {"containers": [{"name": "auto-glm", "volumes": [{"target": "/app/config", "write": True}]}]}
MUST_WRITE_RO = {"containers": [{"name": "auto-glm", "volumes": [{"target": "/app/config", "mode": "ro"}]}]}
HOST_VOLS = {"containers": [], "volumes": ["/srv/autoglm/config", {"path": "/srv/autoglm/config", "user": "admin",
                                                                    "write": True}]}

CASES = [
    Case("ctr-healthy", "container.volumes.source", {"auto-glm:/app/config": "pass", "vllm-autoglm": "pass"}),
    Case("ctr-userns", "container.volumes.source",
         {"auto-glm:/app/config": "pass", "auto-glm:/app/logs": "warn", "auto-glm:/data": "warn",
          "sglang:/models": "pass"}, note="empty-root-dir-and-world-writable"),
    Case("ctr-userns", "container.volumes.source",
         {"auto-glm:/app/config": "pass", "auto-glm:/app/logs": "warn", "auto-glm:/data": "warn",
          "sglang:/models": "pass", "sglang:/root/.cache/huggingface": "fail"},
         profile={"containers": [{"name": "auto-glm"},
                                 {"name": "sglang", "role": "model", "volumes": ["/root/.cache/huggingface"]}]},
         note="expected-mount-missing"),
    Case("ctr-healthy", "container.volumes.source", {"/srv/autoglm/config": "pass", "/srv/nothing": "fail"},
         profile={"containers": [], "volumes": ["/srv/autoglm/config", "/srv/nothing"]}, note="host-volumes"),
    Case("ctr-healthy", "container.volumes.access", {"auto-glm:/app/config": "pass", "vllm-autoglm": "pass"}),
    Case("ctr-healthy", "container.volumes.access", {"auto-glm:/app/config": "pass"}, profile=MUST_WRITE,
         note="app-owns-config"),
    Case("ctr-broken", "container.volumes.access", {"auto-glm:/app/config": "pass", "vllm-autoglm": "pass"},
         note="read-is-enough"),
    Case("ctr-broken", "container.volumes.access", {"auto-glm:/app/config": "fail"}, profile=MUST_WRITE,
         note="root-owned-config"),
    Case("ctr-broken", "container.volumes.access", {"auto-glm:/app/config": "warn"}, profile=MUST_WRITE_RO,
         note="rw-but-ro-expected"),
    Case("ctr-userns", "container.volumes.access",
         {"auto-glm:/app/config": "fail", "auto-glm:/app/logs": "pass", "auto-glm:/data": "pass",
          "sglang:/models": "fail"}, note="remapped-root"),
    Case("ctr-healthy", "container.volumes.access", {"/srv/autoglm/config": "fail"},
         profile={"containers": [], "volumes": [{"path": "/srv/autoglm/config", "user": "nobody"}]},
         note="unknown-host-user"),
    Case("ctr-healthy", "container.volumes.access", {"/srv/autoglm/config": "pass"},
         profile={"containers": [], "volumes": [{"path": "/srv/autoglm/config", "user": "admin", "write": True}]},
         note="host-owner"),
    Case("ctr-healthy", "container.volumes.access", {"/srv/autoglm/config": "fail"},
         profile={"containers": [], "volumes": [{"path": "/srv/autoglm/config", "user": "dockremap"}]},
         note="host-other-user"),
    # nothing to judge is a skip, never silence (which the runner turns into an error)
    Case("ctr-healthy", "container.volumes.access", {"volumes": "skip"}, profile={"containers": []},
         note="nothing-expected"),
    Case("ctr-healthy", "container.volumes.source", {"volumes": "skip"}, profile={"containers": []},
         note="nothing-expected"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def _finding(case, tmp_path, resource):
    return next(f for f in case.verify(tmp_path) if f.check_id == case.check_id and f.resource == resource)


def test_write_fail_gives_the_exact_acl_for_the_containers_uid(tmp_path):
    f = _finding(CASES[7], tmp_path, "auto-glm:/app/config")
    assert f.remediation == ("setfacl -R -m u:1000:rwX /home/admin/autoglm/config && "
                             "setfacl -R -d -m u:1000:rwX /home/admin/autoglm/config")
    assert f.expected["acl"] == {"path": "/home/admin/autoglm/config", "uid": 1000, "perms": "rwX"}
    assert "fix" not in f.expected  # no owner or group change is offered for a container's mount


def test_userns_parent_traversal_and_shifted_ids(tmp_path):
    config = _finding(CASES[9], tmp_path, "auto-glm:/app/config")
    assert "host uid 231072, which cannot search /root (drwx------ root:root)" in config.message
    assert config.remediation == "chmod 0701 /root"
    models = _finding(CASES[9], tmp_path, "sglang:/models")
    assert models.remediation == "setfacl -R -m u:231072:rX /srv/models && setfacl -R -d -m u:231072:rX /srv/models"


@pytest.mark.parametrize("mode, uid, write, expected", [
    (0o755, 0, True, "chown 1000:1000 /x && chmod 0755 /x"),
    (0o500, 1000, True, "chmod 0700 /x"),
    (0o700, 0, False, "chown :1000 /x && chmod 0750 /x"),
    (0o000, 1000, False, "chmod 0500 /x"),
])
def test_repair_is_minimal(mode, uid, write, expected):
    st = StatResult(mode=0o040000 | mode, uid=uid, gid=uid)
    assert repair_for("/x", st, Account("app", 1000, 1000, frozenset({1000})), write).command() == expected
