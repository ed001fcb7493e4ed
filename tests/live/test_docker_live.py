"""Container checks against the real dockerd: real containers (image autoglm-doctor-test/busybox, never
pulled), real bind mounts of real directories with real owners and modes, a real listening socket for
the port clash, a real HTTP server standing in for the model endpoint. Containers are named adt5-*
and always removed."""

from __future__ import annotations

import http.server
import json
import os
import shlex
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest

from autoglm_doctor.targets.local import LocalTarget
from tests.helpers import doctor, require, run_check_ids

pytestmark = pytest.mark.live
IMAGE = "autoglm-doctor-test/busybox:latest"


def _docker(*args, check=True, timeout=60):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def dockerd():
    ok = shutil.which("docker") is not None and _docker("info", check=False).returncode == 0
    require(ok, "a running dockerd (.ci/services.sh starts it)")
    require(_docker("image", "inspect", IMAGE, check=False).returncode == 0, f"local image {IMAGE}")
    return True


@pytest.fixture
def containers(dockerd):
    names: list[str] = []

    def run(*args, name_hint="c", start=True):
        name = f"adt5-{name_hint}-{uuid.uuid4().hex[:6]}"
        names.append(name)
        proc = _docker("run" if start else "create", *(["-d"] if start else []), "--name", name, *args, check=False)
        return name, proc

    yield run
    for name in names:
        _docker("rm", "-f", "-v", name, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verdicts(ids, profile, target=None):
    target = target or LocalTarget()
    try:
        findings = run_check_ids(target, ids, profile)
    finally:
        target.close()
    return {(f.check_id, f.resource): f for f in findings if f.check_id in ids}


def status(found):
    return {k: f.status.value for k, f in found.items()}


def wait_for(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def inspect(name):
    return json.loads(_docker("inspect", name).stdout)[0]


def test_config_dir_write_denied_then_fixed_with_the_exact_command(containers, tmp_path):
    config = tmp_path / "config"
    config.mkdir(mode=0o755)
    (config / "agent.yaml").write_text("model: autoglm-phone-9b\n")
    os.chmod(config, 0o755)
    port = free_port()
    name, proc = containers("--user", "app", "-p", f"127.0.0.1:{port}:8080", "-v", f"{config}:/app/config",
                            IMAGE, "sleep", "300", name_hint="agent")
    assert proc.returncode == 0, proc.stderr
    profile = {"containers": [{"name": name, "ports": [f"{port}:8080"],
                               "volumes": [{"target": "/app/config", "write": True}]}]}
    ids = ["container.deploy.present", "container.deploy.ports", "container.volumes.access", "container.volumes.source"]
    found = verdicts(ids, profile)
    resource = f"{name}:/app/config"
    assert status(found) == {
        ("container.deploy.present", name): "pass",
        ("container.deploy.ports", f"{name}:{port}/tcp"): "pass",
        ("container.volumes.source", resource): "pass",
        ("container.volumes.access", resource): "fail",
    }
    access = found[("container.volumes.access", resource)]
    assert access.remediation == f"setfacl -R -m u:1000:rwX {config} && setfacl -R -d -m u:1000:rwX {config}"
    assert "app (uid 1000, gid 1000)" in access.message
    # ground truth: the container really cannot write, and really can after the advised commands, run as given
    assert _docker("exec", name, "touch", "/app/config/probe", check=False).returncode != 0
    for command in access.remediation.split(" && "):
        subprocess.run(shlex.split(command), check=True, timeout=30)
    assert _docker("exec", name, "touch", "/app/config/probe", check=False).returncode == 0
    assert status(verdicts(["container.volumes.access"], profile)) == {("container.volumes.access", resource): "pass"}


def test_missing_source_becomes_empty_root_dir_and_ro_mount(containers, tmp_path):
    ghost = tmp_path / "not-there" / "config"
    data = tmp_path / "data"
    data.mkdir()
    (data / "x").write_text("x")
    os.chmod(data, 0o777)
    name, proc = containers("-v", f"{ghost}:/app/config", "-v", f"{data}:/data:ro", IMAGE, "sleep", "300",
                            name_hint="ghost")
    assert proc.returncode == 0, proc.stderr
    assert ghost.is_dir() and os.stat(ghost).st_uid == 0  # dockerd created it
    profile = {"containers": [{"name": name, "volumes": [{"target": "/app/config"},
                                                         {"target": "/data", "mode": "rw"}]}]}
    found = verdicts(["container.volumes.source", "container.volumes.access"], profile)
    assert status(found) == {
        ("container.volumes.source", f"{name}:/app/config"): "warn",
        ("container.volumes.source", f"{name}:/data"): "warn",
        ("container.volumes.access", f"{name}:/app/config"): "pass",
        ("container.volumes.access", f"{name}:/data"): "warn",
    }
    assert "what dockerd creates when a -v source did not exist" in found[("container.volumes.source",
                                                                         f"{name}:/app/config")].message
    assert "world-writable" in found[("container.volumes.source", f"{name}:/data")].message


def test_restart_loop_and_exit_code(containers):
    name, proc = containers("--restart", "on-failure:3", IMAGE, "sh", "-c", "exit 3", name_hint="loop")
    assert proc.returncode == 0, proc.stderr
    assert wait_for(lambda: inspect(name)["State"]["Status"] == "exited" and inspect(name)["RestartCount"] == 3)
    found = verdicts(["container.deploy.present", "container.deploy.health"], {"containers": [{"name": name}]})
    # one cause, one failure: present says it stopped (with its restarts); health does not repeat it
    assert status(found) == {("container.deploy.present", name): "fail", ("container.deploy.health", name): "skip"}
    assert "exited with code 3" in found[("container.deploy.present", name)].message
    assert "3 restarts, policy on-failure, last exit code 3" in found[("container.deploy.present", name)].message
    assert "see container.deploy.present" in found[("container.deploy.health", name)].message


def test_port_clash_with_a_real_listener(containers):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        name, proc = containers("-p", f"127.0.0.1:{port}:8080", IMAGE, "sleep", "300", name_hint="clash")
        assert proc.returncode != 0  # docker run reports the bind failure
        found = verdicts(["container.deploy.present", "container.deploy.ports"],
                         {"containers": [{"name": name, "ports": [f"{port}:8080"]}]})
    finally:
        holder.close()
    assert status(found) == {("container.deploy.present", name): "fail",
                             ("container.deploy.ports", f"{name}:{port}/tcp"): "fail"}
    ports = found[("container.deploy.ports", f"{name}:{port}/tcp")]
    assert f"127.0.0.1:{port} is held by PID {os.getpid()}" in ports.message
    assert "address already in use" in found[("container.deploy.present", name)].message


def test_gpu_request_without_toolkit_is_an_api_error_explained(containers):
    name, proc = containers("--gpus", "all", IMAGE, "sleep", "300", name_hint="gpu", start=False)
    assert proc.returncode == 0, proc.stderr
    start = _docker("start", name, check=False)
    assert start.returncode != 0 and "could not select device driver" in start.stderr  # the 500 from dockerd
    ipc_name, proc = containers("--ipc", "host", IMAGE, "sleep", "300", name_hint="ipc")
    assert proc.returncode == 0, proc.stderr
    profile = {"containers": [{"name": name, "role": "model"}, {"name": ipc_name, "role": "model"}]}
    found = verdicts(["container.deploy.present", "container.deploy.gpu", "container.deploy.shm"], profile)
    assert status(found) == {
        ("container.deploy.present", name): "fail", ("container.deploy.present", ipc_name): "pass",
        ("container.deploy.gpu", name): "pass", ("container.deploy.gpu", ipc_name): "fail",
        ("container.deploy.shm", name): "fail", ("container.deploy.shm", ipc_name): "pass",
    }
    assert "nvidia-container-toolkit" in found[("container.deploy.present", name)].remediation


class _ModelServer(http.server.BaseHTTPRequestHandler):
    mode = "right"

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.mode == "500":
            body, code = b'{"error": "engine dead"}', 500
        else:
            model = "autoglm-phone-9b" if self.mode == "right" else "other-model"
            body, code = json.dumps({"object": "list", "data": [{"id": model}]}).encode(), 200
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def model_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ModelServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode, verdict, words", [("right", "pass", "serves 'autoglm-phone-9b'"),
                                                  ("wrong", "fail", "serves 'other-model', not 'autoglm-phone-9b'"),
                                                  ("500", "fail", "HTTP 500")])
def test_model_endpoint_answers(model_server, monkeypatch, mode, verdict, words):
    monkeypatch.setattr(_ModelServer, "mode", mode)
    base = f"http://127.0.0.1:{model_server.server_address[1]}"
    found = verdicts(["container.deploy.model_endpoint"], {"model_endpoint": base})
    [(key, f)] = found.items()
    assert (f.resource, f.status.value) == (f"{base}/v1/models", verdict) and words in f.message


def test_model_endpoint_refused_and_timeout():
    port = free_port()
    found = verdicts(["container.deploy.model_endpoint"], {"model_endpoint": f"http://127.0.0.1:{port}"})
    [f] = found.values()
    assert f.status.value == "fail" and "connection refused" in f.message
    silent = socket.socket()  # accepts connections (backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        start = time.monotonic()
        found = verdicts(["container.deploy.model_endpoint"],
                         {"model_endpoint": f"http://127.0.0.1:{silent.getsockname()[1]}"})
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    [f] = found.values()
    assert f.status.value == "fail" and "no answer within 5 s" in f.message and elapsed < 9


@pytest.mark.parametrize("how, words", [("missing", "does not exist"), ("dead", "connection refused")])
def test_daemon_unreachable_exit_1(tmp_path, how, words):
    sock = tmp_path / "docker.sock"
    if how == "dead":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(sock))  # a socket file nobody listens on: what a crashed dockerd leaves
    proc = doctor("check", "--only", "container.*", "--color", "never", env={"DOCKER_HOST": f"unix://{sock}"},
                  cwd=str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert words in proc.stdout and "FAIL  critical container.docker.daemon" in proc.stdout


def test_permission_denied_for_an_unprivileged_user(dockerd, tmp_path):
    require(shutil.which("setpriv") is not None, "setpriv (util-linux)")
    exe = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", ".venv", "bin", "autoglm-doctor")
    os.chmod(tmp_path, 0o755)
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", os.path.abspath(exe),
                           "check", "--only", "container.docker.*", "--color", "never"],
                          capture_output=True, text=True, cwd=str(tmp_path), timeout=120,
                          env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "permission denied on the Docker socket" in proc.stdout and "usermod -aG docker" in proc.stdout


def test_collect_then_replay_gives_the_same_verdicts(containers, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    name, proc = containers("--user", "app", "-v", f"{config}:/app/config", IMAGE, "sleep", "300", name_hint="rec")
    assert proc.returncode == 0, proc.stderr
    cfg = tmp_path / "doctor.toml"
    cfg.write_text(f'[profile]\ncontainers = [{{name = "{name}", volumes = [{{target = "/app/config", '
                   'write = true}]}]\n')
    args = ["--only", "container.volumes.*", "--only", "container.deploy.present", "--config", str(cfg)]
    live = doctor("check", *args, "--format", "json", cwd=str(tmp_path))
    snap = tmp_path / "snap"
    assert doctor("collect", *args, "-o", str(snap), cwd=str(tmp_path)).returncode == 0
    replay = doctor("check", *args, "--format", "json", "--target", f"snapshot:{snap}", cwd=str(tmp_path))

    def picked(p):
        return sorted((f["check_id"], f["resource"], f["status"]) for f in json.loads(p.stdout)["findings"])

    assert picked(live) == picked(replay)
    assert ("container.volumes.access", f"{name}:/app/config", "fail") in picked(live)


class _SelinuxDockerd(LocalTarget):
    """The real machine, except that dockerd's info says selinux-enabled (this kernel has no SELinux
    loaded, so dockerd cannot); containers, mounts and security.selinux xattrs are all real."""

    def adapter(self, kind):
        real = super().adapter(kind)
        if kind != "docker":
            return real

        class Patched:
            API = real.API

            def __getattr__(self, name):
                return getattr(real, name)

            def info(self):
                data = dict(real.info())
                data["SecurityOptions"] = list(data.get("SecurityOptions") or []) + ["name=selinux"]
                return data

        return Patched()


def test_selinux_labels_on_real_xattrs(containers, tmp_path):
    selinuxfs = tmp_path / "selinuxfs"
    selinuxfs.mkdir()
    (selinuxfs / "enforce").write_text("1\n")
    good, bad = tmp_path / "good", tmp_path / "bad"
    for d, label in ((good, "system_u:object_r:container_file_t:s0"), (bad, "unconfined_u:object_r:user_home_t:s0")):
        d.mkdir()
        try:
            os.setxattr(d, "security.selinux", label.encode() + b"\0")
        except OSError as exc:
            require(False, f"security.selinux xattrs on {tmp_path} ({exc})")
    name, proc = containers("-v", f"{good}:/good", "-v", f"{bad}:/bad", IMAGE, "sleep", "300", name_hint="sel")
    assert proc.returncode == 0, proc.stderr
    free, proc = containers("--security-opt", "label=disable", "-v", f"{bad}:/bad", IMAGE, "sleep", "300",
                            name_hint="unconfined")
    assert proc.returncode == 0, proc.stderr
    profile = {"selinuxfs": str(selinuxfs), "containers": [{"name": name}, {"name": free}]}
    found = verdicts(["container.selinux.labels", "container.selinux.mode", "container.selinux.docker_option"],
                     profile, target=_SelinuxDockerd())
    assert status(found) == {
        ("container.selinux.mode", "selinux"): "pass",
        ("container.selinux.docker_option", "dockerd"): "pass",
        ("container.selinux.labels", f"{name}:/good"): "pass",
        ("container.selinux.labels", f"{name}:/bad"): "fail",
        ("container.selinux.labels", f"{free}:/bad"): "pass",
    }
    assert found[("container.selinux.labels", f"{name}:/bad")].remediation.startswith(
        f"semanage fcontext -a -t container_file_t '{bad}(/.*)?' && restorecon -Rv {bad}")
    # without the injected mode the same machine says why nothing applies
    plain = verdicts(["container.selinux.mode"], {"containers": [{"name": name}]})
    assert status(plain) == {("container.selinux.mode", "selinux"): "skip"}
