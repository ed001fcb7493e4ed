"""container.volumes.access and its ACL fix against a real container: a config directory made
readable for the container's group while a file inside stays 0600 root — the top-level check passes,
`cat` inside the container is denied. The check walks the tree and asks the running container itself
(docker exec as its user), the fix grants exactly the container's uid (setfacl -R -m u:UID:rX plus the
default ACL), its verification reads from inside the container again, and --rollback restores the tree
byte for byte. Where the computed access and the container disagree, the container's answer wins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.helpers import require
from tests.remedy.treestate import tree_state

pytestmark = pytest.mark.live

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "autoglm-doctor"
IMAGE = "autoglm-doctor-test/busybox:latest"
CHECK = "container.volumes.access"


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=60)


def _config_tree(tmp_path: Path) -> Path:
    """The issue's case: config/ 0750 root:1000 ("made readable"), settings.json 0600 root inside."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text('{"model": "autoglm-phone-9b"}\n')
    (config / "sub").mkdir()
    (config / "sub" / "prompts.txt").write_text("hello\n")
    os.chmod(config / "settings.json", 0o600)
    os.chmod(config / "sub", 0o700)
    os.chown(config, 0, 1000)
    os.chmod(config, 0o750)
    return config


def _start(tmp_path: Path, config: Path, *run_args: str) -> dict:
    require(shutil.which("docker") is not None and docker("info", check=False).returncode == 0, "a running dockerd")
    name = f"remedy-vol-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    run = docker("run", "-d", "--name", name, *run_args, "-v", f"{config}:/app/config", IMAGE, "sleep", "300",
                 check=False)
    if run.returncode != 0:  # a container that was created but could not start is removed too
        docker("rm", "-f", "-v", name, check=False)
    assert run.returncode == 0, run.stderr
    cfg = tmp_path / "profile.toml"
    cfg.write_text(f'[profile]\n[[profile.containers]]\nname = "{name}"\n'
                   '[[profile.containers.volumes]]\ntarget = "/app/config"\n')
    return {"name": name, "config": config, "cfg": cfg, "journal": tmp_path / "journal", "tmp": tmp_path}


@pytest.fixture
def container(tmp_path):
    c = _start(tmp_path, _config_tree(tmp_path), "--user", "1000:1000")
    try:
        yield c
    finally:
        docker("rm", "-f", "-v", c["name"], check=False)


def inside(c, path="/app/config/settings.json", user="1000:1000"):
    return docker("exec", "--user", user, c["name"], "cat", path, check=False).returncode == 0


def doctor(c, *args):
    return subprocess.run([str(EXE), "fix", "--config", str(c["cfg"]), "--journal-dir", str(c["journal"]),
                           "--only", CHECK, *args], capture_output=True, text=True, timeout=180)


def finding(c, *target):
    out = subprocess.run([str(EXE), "check", "--config", str(c["cfg"]), "--only", CHECK, *target,
                          "--format", "json"], capture_output=True, text=True, timeout=180)
    assert out.returncode in (0, 1), out.stderr
    found = [f for f in json.loads(out.stdout)["findings"] if f["check_id"] == CHECK]
    assert len(found) == 1, found
    return found[0]


def test_confirmed_from_inside_fixed_with_an_acl_verified_inside_and_rolled_back(container):
    c = container
    before = tree_state(str(c["config"]))
    assert not inside(c) and not inside(c, "/app/config/sub/prompts.txt")
    f = finding(c)
    assert f["status"] == "fail", f
    assert "2 path(s) inside are not" in f["message"]
    assert "confirmed inside" in f["message"]
    assert "head: /app/config/settings.json: Permission denied" in f["message"]
    assert f["evidence"]["observed"]["inside"] == {"tried": 3,
                                                   "denied": ["/app/config/sub", "/app/config/settings.json"]}

    # a snapshot records the container's answer and replays the same verdict
    archive = c["tmp"] / "snap.tar.gz"
    col = subprocess.run([str(EXE), "collect", "--config", str(c["cfg"]), "--only", CHECK, "-o", str(archive)],
                         capture_output=True, text=True, timeout=180)
    assert col.returncode == 0, col.stderr
    replay = finding(c, "--target", f"snapshot:{archive}")
    assert (replay["status"], replay["message"]) == ("fail", f["message"])

    dry = doctor(c)
    assert f"setfacl -R -m u:1000:rX {c['config']}" in dry.stdout, dry.stdout + dry.stderr
    assert tree_state(str(c["config"])) == before

    res = doctor(c, "--apply", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "the addressed checks now pass" in res.stdout
    assert inside(c) and inside(c, "/app/config/sub/prompts.txt")
    st = os.stat(c["config"] / "settings.json")
    assert (st.st_uid, st.st_gid) == (0, 0)  # no owner or group was changed
    getfacl = subprocess.run(["getfacl", "-n", "--omit-header", str(c["config"])], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
    assert {"user:1000:r-x", "default:user:1000:r-x"} <= set(getfacl)  # the default ACL covers new files
    after = finding(c)
    assert after["status"] == "pass" and "confirmed from inside" in after["message"], after
    assert after["evidence"]["observed"]["inside"]["denied"] == []

    again = doctor(c, "--apply", "--yes")
    assert again.returncode == 0 and "nothing to apply" in again.stdout

    run_id = next(n for n in os.listdir(c["journal"]) if not n.startswith(".") and n != "pending.json")
    back = doctor(c, "--rollback", run_id)
    assert back.returncode == 0, back.stdout + back.stderr
    assert tree_state(str(c["config"])) == before
    assert not inside(c)

    # a stopped container cannot be asked: the computed verdict stands and says so
    docker("kill", c["name"])
    stopped = finding(c)
    assert stopped["status"] == "fail"
    assert "(computed, not confirmed inside the container: the container is not running (exited))" in \
        stopped["message"]


def test_the_container_reads_what_the_computation_denies(tmp_path):
    """Root without CAP_DAC_OVERRIDE but with CAP_DAC_READ_SEARCH: the model (DAC_OVERRIDE only) denies
    the 0600 files of uid 1000, the kernel lets the container read them. The container wins: PASS."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text("{}\n")
    os.chown(config / "settings.json", 1000, 1000)
    os.chmod(config / "settings.json", 0o600)
    c = _start(tmp_path, config, "--cap-drop", "DAC_OVERRIDE", "--cap-add", "DAC_READ_SEARCH")
    try:
        assert inside(c, user="")
        f = finding(c)
        assert f["status"] == "pass", f
        assert "reads it from inside" in f["message"] and "the container's answer wins" in f["message"]
        assert "1 path(s) inside are not" in f["message"]  # what the computation said, kept for the record
        assert f["evidence"]["observed"]["inside"] == {"tried": 2, "denied": []}
    finally:
        docker("rm", "-f", "-v", c["name"], check=False)


def test_the_container_is_denied_what_the_walk_sees_as_readable_and_the_fix_verifies_inside(tmp_path):
    """A tmpfs mounted on the host over config/sub after the container started is not propagated into it
    (Docker mounts rprivate): the host walk sees a readable tmpfs, the container sees the 0700 root
    directory underneath. The check FAILs from the container's answer; the ACL fix changes the host's
    view only, so its verification — the same read from inside — fails and everything is rolled back."""
    config = tmp_path / "config"
    (config / "sub").mkdir(parents=True)
    (config / "app.json").write_text("{}\n")
    os.chmod(config / "sub", 0o700)
    c = _start(tmp_path, config, "--user", "1000:1000")
    mounted = False
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", f"remedy-vol-{os.getpid()}",
                        str(config / "sub")], check=True, timeout=30)
        mounted = True
        (config / "sub" / "prompts.txt").write_text("hello\n")
        assert not inside(c, "/app/config/sub/prompts.txt")
        f = finding(c)
        assert f["status"] == "fail", f
        assert "ls: can't open '/app/config/sub': Permission denied" in f["message"]
        assert "the computed access said it could: the container's answer wins" in f["message"]
        assert f["evidence"]["observed"]["read"] is True
        assert f["evidence"]["observed"]["inside"] == {
            "tried": 4, "denied": ["/app/config/sub/prompts.txt", "/app/config/sub"]}

        before = tree_state(str(config))
        res = doctor(c, "--apply", "--yes")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "verification failed" in res.stdout and "/app/config/sub" in res.stdout, res.stdout
        assert tree_state(str(config)) == before
    finally:
        if mounted:
            subprocess.run(["umount", str(config / "sub")], check=False, timeout=30)
        docker("rm", "-f", "-v", c["name"], check=False)
