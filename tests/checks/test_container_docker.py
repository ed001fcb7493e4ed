"""Docker daemon checks: exact verdicts per scenario and resource."""

import pytest

from autoglm_doctor.adapters.docker_api import describe_connect_error, unreachable_reason
from tests.helpers import Case

SOCK = "unix:///var/run/docker.sock"
DOWN = "requirement not met"

CASES = [
    Case("ctr-healthy", "container.docker.daemon", {SOCK: "pass"}),
    Case("ctr-daemon-down", "container.docker.daemon", {"dockerd": "fail"}),
    Case("ctr-healthy", "container.docker.daemon_config", {"/etc/docker/daemon.json": "pass"}),
    Case("ctr-broken", "container.docker.daemon_config", {"/etc/docker/daemon.json": "warn"}, note="not-restarted"),
    Case("ctr-userns", "container.docker.daemon_config", {"/etc/docker/daemon.json": "pass"}),
    Case("ctr-garbage", "container.docker.daemon_config", {"": "error"}, note="invalid-json"),
    Case("ctr-daemon-down", "container.docker.daemon_config", {"": "skip"}),
    Case("ctr-healthy", "container.docker.storage_driver", {"overlay2": "pass"}),
    Case("ctr-broken", "container.docker.storage_driver", {"overlay2": "fail"}, note="no-d_type"),
    Case("ctr-userns", "container.docker.storage_driver", {"devicemapper": "warn"}),
    Case("ctr-healthy", "container.docker.root_space", {"/var/lib/docker": "pass"}),
    Case("ctr-userns", "container.docker.root_space", {"/var/lib/docker/231072.231072": "fail"}),
    Case("ctr-userns", "container.docker.root_space", {"/var/lib/docker/231072.231072": "pass"},
         profile={"containers": [{"name": "auto-glm"}]}, note="agent-only"),
    Case("ctr-healthy", "container.docker.cgroup_driver", {"dockerd": "pass"}),
    Case("ctr-userns", "container.docker.cgroup_driver", {"dockerd": "warn"}, note="cgroupfs-on-v2"),
    Case("ctr-healthy", "container.docker.nvidia", {"nvidia": "pass"}),
    Case("ctr-broken", "container.docker.nvidia", {"nvidia": "fail"}, note="stale-runtime"),
    Case("ctr-userns", "container.docker.nvidia", {"nvidia": "warn"}, note="cdi-no-driver"),
    Case("ctr-healthy", "container.docker.nvidia", {"nvidia": "skip"}, profile={"containers": [{"name": "auto-glm"}]},
         note="no-model-here"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def test_daemon_down_finding_names_the_reason_and_the_fix(tmp_path):
    [f] = [f for f in CASES[1].verify(tmp_path) if f.check_id == "container.docker.daemon"]
    assert "connection refused" in f.message and f.observed == "daemon_down"
    assert f.remediation.startswith("start it: systemctl start docker")


@pytest.mark.parametrize("text, reason", [
    ("Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))", "socket_missing"),
    ("Error while fetching server API version: ('Connection aborted.', PermissionError(13, 'Permission denied'))", "permission_denied"),
    ("Error while fetching server API version: ('Connection aborted.', ConnectionRefusedError(111, 'Connection refused'))", "daemon_down"),
    ("Error while fetching server API version: Read timed out. (read timeout=10)", "unreachable"),
])
def test_connect_errors_are_told_apart(text, reason):
    exc = describe_connect_error(Exception(text), "unix:///x.sock", "/x.sock")
    assert exc.cause == reason
    assert unreachable_reason(Exception(str(exc))) == reason  # survives a snapshot round trip as plain text
    assert exc.hint
