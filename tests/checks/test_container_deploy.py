"""AutoGLM deployment checks: exact verdicts per scenario and resource."""

import pytest

from tests.helpers import Case

MODELS = "http://127.0.0.1:8000/v1/models"
AGENT_ONLY = {"containers": [{"name": "auto-glm", "ports": ["8080"]}]}

CASES = [
    Case("ctr-healthy", "container.deploy.present", {"auto-glm": "pass", "vllm-autoglm": "pass"}),
    # a crash loop is one failure, container.deploy.health's: the restarting container is present
    Case("ctr-broken", "container.deploy.present", {"auto-glm": "pass", "vllm-autoglm": "fail"},
         note="restarting-and-gpu-driver-error"),
    Case("ctr-garbage", "container.deploy.present",
         {"auto-glm": "fail", "model server (image matching vllm|sglang)": "fail"}, note="absent"),
    Case("ctr-daemon-down", "container.deploy.present", {"": "skip"}),
    Case("ctr-healthy", "container.deploy.health", {"auto-glm": "pass", "vllm-autoglm": "pass"}),
    Case("ctr-broken", "container.deploy.health", {"auto-glm": "fail", "vllm-autoglm": "skip"}),
    Case("ctr-userns", "container.deploy.health", {"auto-glm": "pass", "sglang": "warn"}, note="4-restarts"),
    Case("ctr-healthy", "container.deploy.ports", {"auto-glm:8080/tcp": "pass", "vllm-autoglm:8000/tcp": "pass"}),
    Case("ctr-broken", "container.deploy.ports", {"auto-glm:8080/tcp": "fail", "vllm-autoglm:8000/tcp": "fail"},
         note="wrong-host-port-and-clash"),
    Case("ctr-userns", "container.deploy.ports", {"auto-glm:8080/tcp": "pass", "sglang:8000/tcp": "fail"},
         note="wrong-container-port"),
    Case("ctr-healthy", "container.deploy.gpu", {"vllm-autoglm": "pass"}),
    Case("ctr-userns", "container.deploy.gpu", {"sglang": "pass"}, note="nvidia-runtime"),
    Case("ctr-healthy", "container.deploy.gpu", {"auto-glm": "fail"},
         profile={"containers": [{"name": "auto-glm", "role": "model"}, {"name": "vllm-autoglm", "role": "agent"}]},
         note="no-gpu-request"),
    Case("ctr-healthy", "container.deploy.gpu", {"model": "skip"}, profile=AGENT_ONLY),
    Case("ctr-healthy", "container.deploy.shm", {"vllm-autoglm": "pass"}),
    Case("ctr-userns", "container.deploy.shm", {"sglang": "pass"}),
    Case("ctr-broken", "container.deploy.shm", {"vllm-autoglm": "fail"}),
    Case("ctr-healthy", "container.deploy.model_endpoint", {MODELS: "pass"}),
    Case("ctr-healthy", "container.deploy.model_endpoint", {MODELS: "pass"},
         profile={"model_endpoint": "http://127.0.0.1:8000/v1/"}, note="base-with-v1"),
    Case("ctr-userns", "container.deploy.model_endpoint", {MODELS: "fail"}, note="wrong-model"),
    Case("ctr-userns", "container.deploy.model_endpoint", {MODELS: "pass"},
         profile={"served_model_name": "/models/AutoGLM-Phone-9B"}, note="name-from-profile"),
    Case("ctr-broken", "container.deploy.model_endpoint", {MODELS: "fail"}, note="http-500"),
    Case("ctr-daemon-down", "container.deploy.model_endpoint", {MODELS: "fail"}, note="refused"),
    Case("ctr-garbage", "container.deploy.model_endpoint", {MODELS: "fail"}, note="timeout"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def _finding(case, tmp_path, resource):
    return next(f for f in case.verify(tmp_path) if f.check_id == case.check_id and f.resource == resource)


def test_gpu_start_error_is_explained(tmp_path):
    f = _finding(CASES[1], tmp_path, "vllm-autoglm")
    assert 'could not select device driver ""' in f.message
    assert "nvidia-container-toolkit" in f.remediation


def test_port_clash_names_the_holder(tmp_path):
    f = _finding(CASES[8], tmp_path, "vllm-autoglm:8000/tcp")
    assert "127.0.0.1:8000 is held by PID 4242 (python3)" in f.message


@pytest.mark.parametrize("index, words", [(19, "serves '/models/AutoGLM-Phone-9B', not 'autoglm-phone-9b'"),
                                          (21, "HTTP 500"), (22, "connection refused"), (23, "no answer within 5 s")])
def test_endpoint_failures_are_precise(tmp_path, index, words):
    assert words in _finding(CASES[index], tmp_path, MODELS).message


def test_profile_validation_is_idempotent_and_strict():
    from autoglm_doctor.facts.docker import validate_containers, validate_host_volumes

    once = validate_containers([{"name": "auto-glm", "ports": [8080, "18000:8000/tcp"],
                                 "volumes": ["/app/config", {"target": "/data", "mode": "ro"}]}])
    assert validate_containers(once) == once
    assert once[0]["ports"][1] == {"host": 18000, "container": 8000, "proto": "tcp"}
    assert validate_host_volumes(validate_host_volumes(["/srv/x"])) == [{"path": "/srv/x", "user": "root",
                                                                        "write": False}]
    for bad in ([{"role": "agent"}], [{"name": "x", "ports": ["99999"]}], [{"name": "x", "volumes": ["rel"]}],
                [{"name": "x", "volumes": [{"target": "/a", "mode": "ro", "write": True}]}], [{"name": "x", "bogus": 1}]):
        with pytest.raises(ValueError):
            validate_containers(bad)
