"""container.volumes.access and its ACL fix under a real userns-remap daemon.

A second dockerd (its own socket, data root, exec root and containerd, in its own network and mount
namespaces so that its docker0 never touches the host's; no iptables) runs with --userns-remap=default: container uid 1000 is host
uid BASE+1000, BASE being dockremap's range in /etc/subuid (dockerd creates the user and the range). The
doctor reads the remap through the Target and the adapter (docker info, /etc/subuid); the fix must name
the shifted uid, and only the container itself can prove it did: it reads the file afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import require
from tests.remedy.treestate import tree_state

pytestmark = pytest.mark.live

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "autoglm-doctor"
IMAGE = "autoglm-doctor-test/busybox:latest"
CHECK = "container.volumes.access"


def _docker(host, *args, check=True):
    return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture(scope="module")
def remapped():
    """A userns-remapped dockerd for this module, with the busybox image loaded from the main daemon."""
    require(shutil.which("dockerd") is not None and shutil.which("docker") is not None, "dockerd")
    main = "unix:///var/run/docker.sock"
    require(_docker(main, "image", "inspect", IMAGE, check=False).returncode == 0, f"the image {IMAGE}")
    tag = f"remedy-userns-{os.getpid()}"
    sock, exec_root, data_root = f"/var/run/{tag}.sock", f"/var/run/{tag}", f"/var/lib/{tag}"
    require(shutil.which("unshare") is not None, "unshare (util-linux)")
    # its own network namespace: never --bridge=none on the host (dockerd then deletes the host's docker0,
    # which the shared daemon uses), and its docker0 stays out of the host's routes. Its own mount namespace
    # with a sysfs of that network namespace, the host's cgroup mounts moved under it.
    cg = f"/run/{tag}-cgroup"
    os.makedirs(cg, exist_ok=True)
    dockerd = ["dockerd", "--userns-remap=default", "-H", f"unix://{sock}", "--exec-root", exec_root, "--data-root",
               data_root, "--pidfile", f"{exec_root}.pid", "--iptables=false", "--ip-masq=false",
               "--storage-driver=overlay2"]
    script = (f"mount --rbind /sys/fs/cgroup {cg} && mount -t sysfs sysfs /sys && mount --move {cg} /sys/fs/cgroup "
              '&& exec "$@"')
    log = open(Path(tempfile.gettempdir()) / f"{tag}.log", "wb")
    proc = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "slave", "sh", "-c", script, "sh",
                             *dockerd], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    host = f"unix://{sock}"
    try:
        deadline = time.monotonic() + 60
        while _docker(host, "info", check=False).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, \
                f"userns dockerd did not start: {Path(log.name).read_text(errors='replace')[-2000:]}"
            time.sleep(0.3)
        saved = subprocess.run(["docker", "-H", main, "save", IMAGE], capture_output=True, check=True, timeout=120)
        subprocess.run(["docker", "-H", host, "load"], input=saved.stdout, capture_output=True, check=True, timeout=120)
        yield host
    finally:
        ids = _docker(host, "ps", "-aq", check=False).stdout.split()
        if ids:
            _docker(host, "rm", "-f", "-v", *ids, check=False)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        for root in (data_root, exec_root):
            for path in [root] + [str(p) for p in Path(root).parent.glob(f"{Path(root).name}.*.*")]:
                shutil.rmtree(path, ignore_errors=True)  # userns-remap adds ROOT.UID.GID
        if os.path.isdir(cg):
            os.rmdir(cg)
        for leftover in (sock, f"{exec_root}.pid", log.name):
            if os.path.exists(leftover):
                os.unlink(leftover)


def _subid_base(path: str, user: str = "dockremap") -> int:
    for line in Path(path).read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == user:
            return int(rest.split(":")[0])
    raise AssertionError(f"no {user} range in {path}")


def test_the_fix_grants_the_remapped_uid_and_the_container_reads(remapped):
    base_uid, base_gid = _subid_base("/etc/subuid"), _subid_base("/etc/subgid")
    top = Path(tempfile.mkdtemp(prefix=f"remedy-userns-{os.getpid()}-", dir="/var/tmp"))
    os.chmod(top, 0o755)  # the remapped root must search every parent to make the mount
    config = top / "config"
    config.mkdir()
    (config / "settings.json").write_text('{"model": "autoglm-phone-9b"}\n')
    os.chmod(config / "settings.json", 0o600)
    os.chown(config, 0, 1000)
    os.chmod(config, 0o750)
    name = f"remedy-userns-{os.getpid()}"
    env = {**os.environ, "DOCKER_HOST": remapped}
    cfg = top / "profile.toml"
    cfg.write_text(f'[profile]\n[[profile.containers]]\nname = "{name}"\n'
                   '[[profile.containers.volumes]]\ntarget = "/app/config"\n')

    def doctor(*args):
        return subprocess.run([str(EXE), *args, "--config", str(cfg), "--only", CHECK], capture_output=True,
                              text=True, timeout=180, env=env)

    def finding():
        out = doctor("check", "--format", "json")
        assert out.returncode in (0, 1), out.stderr
        return next(f for f in json.loads(out.stdout)["findings"] if f["check_id"] == CHECK)

    def reads():
        return _docker(remapped, "exec", name, "cat", "/app/config/settings.json", check=False).returncode == 0

    run = _docker(remapped, "run", "-d", "--name", name, "--network", "none", "--user", "1000:1000", "-v",
                  f"{config}:/app/config", IMAGE, "sleep", "300", check=False)
    try:
        assert run.returncode == 0, run.stderr
        before = tree_state(str(config))
        assert not reads()
        f = finding()
        assert f["status"] == "fail", f
        who = f"app (uid 1000, gid 1000) = host {base_uid + 1000}:{base_gid + 1000} via userns-remap dockremap"
        assert f["message"].startswith(f"{config} (drwxr-x--- root:") and who in f["message"], f["message"]
        assert "confirmed inside" in f["message"] and "ls: can't open '/app/config': Permission denied" in f["message"]
        assert f["remediation"].startswith(f"setfacl -R -m u:{base_uid + 1000}:rX {config}")

        journal = top / "journal"
        res = doctor("fix", "--journal-dir", str(journal), "--apply", "--yes")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "the addressed checks now pass" in res.stdout
        assert reads()
        acl = subprocess.run(["getfacl", "-n", "--omit-header", str(config / "settings.json")], capture_output=True,
                             text=True, check=True, timeout=30).stdout.split()
        assert f"user:{base_uid + 1000}:r--" in acl and "user:1000:r--" not in acl  # the shifted uid, only
        after = finding()
        assert after["status"] == "pass" and "confirmed from inside" in after["message"], after

        run_id = next(n for n in os.listdir(journal) if not n.startswith(".") and n != "pending.json")
        back = doctor("fix", "--journal-dir", str(journal), "--rollback", run_id)
        assert back.returncode == 0, back.stdout + back.stderr
        assert tree_state(str(config)) == before
        assert not reads()
    finally:
        _docker(remapped, "rm", "-f", "-v", name, check=False)
        shutil.rmtree(top, ignore_errors=True)
