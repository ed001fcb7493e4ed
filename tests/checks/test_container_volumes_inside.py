"""container.volumes.access confirmed from inside the running container: the container's answer wins
over the computed one in both directions; without an answer the computed verdict stands and says so;
the answer is replayed from a snapshot; hostile answers never forge a verdict.

The scenarios hold what the host shows; the container's answers come from a stand-in for the docker
adapter's exec_run that answers like the probe script does on busybox (tests/live runs the real one)."""

from __future__ import annotations

import json
import shutil

import pytest

import autoglm_doctor.checks.container_volumes as cv
from autoglm_doctor.facts.volume_probe import SCRIPT, Item, parse
from autoglm_doctor.facts.volumes import MountInfo
from autoglm_doctor.targets.base import call_key
from tests.helpers import Case, scenario_path

CHECK = "container.volumes.access"
ANSWER = object()  # Inside's default: answer path by path
MUST_WRITE = {"containers": [{"name": "auto-glm", "volumes": [{"target": "/app/config", "write": True}]}]}


class Inside:
    """A running container as the probe sees it: ``denied`` paths give busybox's EACCES, ``missing`` ones
    ENOENT, the rest read; ``reply`` replaces the whole answer."""

    def __init__(self, inner, denied=(), missing=(), reply=ANSWER):
        self.inner, self.denied, self.missing, self.reply = inner, set(denied), set(missing), reply
        self.calls: list[tuple] = []

    def exec_run(self, name, argv, user=None):
        self.calls.append((name, list(argv), user))
        if self.reply is not ANSWER:
            return self.reply
        lines = []
        for i, arg in enumerate(argv[4:], 1):
            path = arg[2:]
            if path in self.denied:
                lines.append(f"agd {i} no head: {path}: Permission denied")
            elif path in self.missing:
                lines.append(f"agd {i} no head: {path}: No such file or directory")
            else:
                lines.append(f"agd {i} ok")
        return {"exit_code": 0, "output": "\n".join(lines) + "\n"}

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def inside(monkeypatch):
    """``inside(**answers)`` installs the stand-in for the next runs and returns it."""
    real = cv.docker

    def install(**answers):
        holder = {}

        def docker(ctx):
            if "fake" not in holder:
                holder["fake"] = Inside(real(ctx), **answers)
            holder["fake"].inner = real(ctx)
            return holder["fake"]

        monkeypatch.setattr(cv, "docker", docker)
        return holder

    return install


def one(scenario, resource, profile=None):
    findings = Case(scenario, CHECK, {}, profile=profile or {}).findings()
    return next(f for f in findings if f.check_id == CHECK and f.resource == resource)


def test_agreement_is_confirmed_and_the_probe_runs_as_the_containers_user(inside):
    holder = inside()
    f = one("ctr-healthy", "auto-glm:/app/config")
    assert f.status.value == "pass"
    assert f.message.endswith("; confirmed from inside auto-glm (2 path(s) read)")
    assert f.observed["inside"] == {"tried": 2, "denied": []}
    name, argv, user = holder["fake"].calls[0]
    assert (name, user) == ("auto-glm", "app")
    assert argv[:4] == ["sh", "-c", SCRIPT, "sh"]
    assert argv[4:] == ["r:/app/config", "r:/app/config/agent.yaml"]  # host paths mapped to the container's


def test_reads_never_overrule_a_computed_write_verdict(inside):
    """Only reads are tried inside (a write test would change the mount; busybox's test -w ignores ACLs)."""
    inside()
    logs = {"containers": [{"name": "auto-glm", "volumes": [{"target": "/app/logs", "write": True}]}]}
    f = one("ctr-userns", "auto-glm:/app/logs", logs)
    assert f.status.value == "fail"
    assert f.message.startswith("/srv/empty (drwxr-xr-x root:root) is not writable as root (uid 0, gid 0) = host "
                                "231072:231072")
    assert f.message.endswith("; inside auto-glm the 1 path(s) tried can be read, writing is computed (not tried "
                              "inside: that would change the mount)")
    ok = one("ctr-healthy", "auto-glm:/app/config", MUST_WRITE)
    assert ok.status.value == "pass"
    assert ok.message.endswith("confirmed from inside auto-glm (2 path(s) read); write access computed, not tried "
                               "inside")


def test_a_denial_the_computation_missed_fails_with_the_containers_error_and_an_acl_plan(inside):
    inside(denied={"/app/config/agent.yaml"})
    f = one("ctr-healthy", "auto-glm:/app/config")
    assert f.status.value == "fail"
    assert f.message.startswith("inside auto-glm, app (uid 1000, gid 1000) cannot read 1 of 2 path(s) tried: "
                                "head: /app/config/agent.yaml: Permission denied — the computed access said it "
                                "could: the container's answer wins")
    assert f.expected["acl"] == {"path": "/srv/autoglm/config", "uid": 1000, "perms": "rX"}
    assert f.remediation == ("setfacl -R -m u:1000:rX /srv/autoglm/config && "
                             "setfacl -R -d -m u:1000:rX /srv/autoglm/config")


def test_a_path_missing_inside_the_container_has_no_acl_plan(inside):
    inside(missing={"/app/config/agent.yaml"})
    f = one("ctr-healthy", "auto-glm:/app/config")
    assert f.status.value == "fail" and "No such file or directory" in f.message
    assert "acl" not in f.expected and f.remediation.startswith("make what the container opens exist inside it")


def test_userns_remap_confirmed_denial_keeps_the_remapped_uid(inside):
    inside(denied={"/models"})
    f = one("ctr-userns", "sglang:/models")
    assert f.status.value == "fail"
    assert "; confirmed inside sglang: head: /models: Permission denied" in f.message
    assert f.expected["acl"] == {"path": "/srv/models", "uid": 231072, "perms": "rX"}  # host uid, remapped


def test_a_read_the_computation_denied_passes_with_a_note(inside):
    inside()
    f = one("ctr-userns", "sglang:/models")
    assert f.status.value == "pass"
    assert "reads it from inside sglang" in f.message and "the container's answer wins" in f.message
    assert "is not readable as root (uid 0, gid 0) = host 231072:231072" in f.message  # the computed verdict


def test_the_userns_parent_search_is_a_start_time_problem_and_stays_computed(inside):
    holder = inside()
    f = one("ctr-userns", "auto-glm:/app/config")
    assert f.status.value == "fail" and "cannot search /root" in f.message
    assert all(argv[4] != "r:/app/config" for _n, argv, _u in holder["fake"].calls)


@pytest.mark.parametrize("reply, why", [
    ({"exit_code": None, "error": "Container auto-glm is paused, unpause the container before exec"},
     "docker exec failed: Container auto-glm is paused, unpause the container before exec"),
    ({"exit_code": 126, "output": 'OCI runtime exec failed: exec: "sh": executable file not found in $PATH'},
     'the probe did not run inside the container (exit 126: OCI runtime exec failed: exec: "sh": executable '
     'file not found in $PATH); the image may have no sh'),
    (None, "the container is gone"),
])
def test_without_an_answer_the_computed_verdict_stands_and_says_why(inside, reply, why):
    inside(reply=reply)
    f = one("ctr-healthy", "auto-glm:/app/config")
    assert f.status.value == "pass"
    assert f.message.endswith(f"(computed, not confirmed inside the container: {why})")
    assert f.observed["inside"] == f"not confirmed: {why}"


def test_a_restarting_container_is_not_asked(inside):
    holder = inside()
    f = one("ctr-broken", "auto-glm:/app/config", MUST_WRITE)
    assert f.status.value == "fail"
    assert f.message.endswith("(computed, not confirmed inside the container: the container is restarting)")
    assert "fake" not in holder or not holder["fake"].calls


def test_a_snapshot_without_the_answer_keeps_the_computed_verdict():
    f = one("ctr-healthy", "auto-glm:/app/config")
    assert f.status.value == "pass"
    assert f.message.endswith("(computed, not confirmed inside the container: the snapshot holds no answer from "
                              "inside the container)")


def _with_answer(tmp_path, argv, user, result):
    snap = tmp_path / "snap"
    shutil.copytree(scenario_path("ctr-healthy"), snap, symlinks=True)
    api_file = snap / ".autoglm-doctor" / "api.json"
    api = json.loads(api_file.read_text())
    api[call_key("docker", "exec_run", ["auto-glm", argv, user])] = {"result": result}
    api_file.write_text(json.dumps(api))
    return str(snap)


def test_a_recorded_answer_replays_the_same_verdict(inside, tmp_path, monkeypatch):
    holder = inside(denied={"/app/config/agent.yaml"})
    live = one("ctr-healthy", "auto-glm:/app/config")
    _name, argv, user = holder["fake"].calls[0]
    answer = holder["fake"].exec_run("auto-glm", argv, user)
    monkeypatch.undo()
    replay = one(lambda _p: _with_answer(tmp_path, argv, user, answer), "auto-glm:/app/config")
    assert (replay.status, replay.message, replay.expected) == (live.status, live.message, live.expected)


def test_a_garbage_recorded_answer_is_named_not_trusted(inside, tmp_path, monkeypatch):
    holder = inside()
    one("ctr-healthy", "auto-glm:/app/config")
    _name, argv, user = holder["fake"].calls[0]
    monkeypatch.undo()
    f = one(lambda _p: _with_answer(tmp_path, argv, user, {"exit_code": "0", "output": 5}), "auto-glm:/app/config")
    assert f.status.value == "pass"
    assert f.message.endswith('(computed, not confirmed inside the container: unexpected answer to docker exec '
                              '(exit_code is "0" (expected an integer)))')


def test_forged_lines_cannot_answer_for_another_path():
    m = MountInfo("bind", "/srv/c", "/app/c", True, "")
    items = [Item("/srv/c", "r", True), Item("/srv/c/a", "r", True), Item("/srv/c/b", "r", True)]
    out = "agd 2 no head: /app/c/a: Permission denied\nagd 2 ok\nagd 3 ok\nagd 9 ok\nnoise\n"
    answer = parse(m, items, {"exit_code": 0, "output": out})
    assert [(t.inside, t.ok) for t in answer.tried] == [("/app/c/a", False), ("/app/c/b", True)]
    assert answer.confirmed  # index 1 unanswered: not tried, the others stand
