"""container.volumes.access and its ACL fix against a real container: a config directory made
readable for the container's group while a file inside stays 0600 root — the top-level check passes,
`cat` inside the container is denied. The check walks the tree, the fix grants exactly the
container's uid (setfacl -R -m u:UID:rX plus the default ACL), the file is then read from inside the
running container as its user, and --rollback restores the tree byte for byte."""

from __future__ import annotations

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


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture
def container(tmp_path):
    require(shutil.which("docker") is not None and docker("info", check=False).returncode == 0, "a running dockerd")
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text('{"model": "autoglm-phone-9b"}\n')
    (config / "sub").mkdir()
    (config / "sub" / "prompts.txt").write_text("hello\n")
    os.chmod(config / "settings.json", 0o600)
    os.chmod(config / "sub", 0o700)
    os.chown(config, 0, 1000)
    os.chmod(config, 0o750)  # "made readable": group 1000 may list it
    name = f"remedy-vol-{uuid.uuid4().hex[:6]}"
    run = docker("run", "-d", "--name", name, "--user", "1000:1000", "-v", f"{config}:/app/config", IMAGE,
                 "sleep", "300", check=False)
    assert run.returncode == 0, run.stderr
    cfg = tmp_path / "profile.toml"
    cfg.write_text(f'[profile]\n[[profile.containers]]\nname = "{name}"\n'
                   '[[profile.containers.volumes]]\ntarget = "/app/config"\n')
    try:
        yield {"name": name, "config": config, "cfg": cfg, "journal": tmp_path / "journal"}
    finally:
        docker("rm", "-f", "-v", name, check=False)


def inside(c, path="/app/config/settings.json"):
    return docker("exec", "--user", "1000:1000", c["name"], "cat", path, check=False).returncode == 0


def doctor(c, *args):
    return subprocess.run([str(EXE), "fix", "--config", str(c["cfg"]), "--journal-dir", str(c["journal"]),
                           "--only", "container.volumes.access", *args], capture_output=True, text=True, timeout=180)


def test_walks_the_tree_fixes_with_an_acl_for_the_containers_uid_and_rolls_back(container):
    c = container
    before = tree_state(str(c["config"]))
    assert not inside(c) and not inside(c, "/app/config/sub/prompts.txt")
    dry = doctor(c)
    assert f"setfacl -R -m u:1000:rX {c['config']}" in dry.stdout, dry.stdout + dry.stderr
    assert "2 path(s) inside are not" in dry.stdout
    assert tree_state(str(c["config"])) == before

    res = doctor(c, "--apply", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "the addressed checks now pass" in res.stdout
    assert inside(c) and inside(c, "/app/config/sub/prompts.txt")
    st = os.stat(c["config"] / "settings.json")
    assert (st.st_uid, st.st_gid) == (0, 0)  # no owner or group was changed

    again = doctor(c, "--apply", "--yes")
    assert again.returncode == 0 and "nothing to apply" in again.stdout

    run_id = next(n for n in os.listdir(c["journal"]) if not n.startswith(".") and n != "pending.json")
    back = doctor(c, "--rollback", run_id)
    assert back.returncode == 0, back.stdout + back.stderr
    assert tree_state(str(c["config"])) == before
    assert not inside(c)
