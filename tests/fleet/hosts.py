"""A simulated fleet for the Ansible tests: each host is its own OpenSSH sshd on a loopback port with its
own host key, its own doctor home (venv, profile) and its own deliberately broken state — a bridge, a
volume directory, a model endpoint port — on this machine. Built for real: real sshd, real ssh, real
bridges, real files, a real HTTP server."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("AUTOGLM_CI_CACHE", "/var/cache/autoglm-ci"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw)


def wheelhouse(dest: Path) -> Path:
    """autoglm-doctor's dependencies as wheels, built once per machine and cached (keyed by the dependency
    list), plus this checkout's own wheel, built fresh: one wheelhouse every host installs from."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    deps = pyproject[pyproject.index("dependencies = ["):pyproject.index("]", pyproject.index("dependencies = ["))]
    cached = CACHE / f"wheelhouse-{hashlib.sha256(deps.encode()).hexdigest()[:12]}"
    if not (cached / ".complete").exists():
        tmp = cached.with_name(cached.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(tmp), str(ROOT)], timeout=600)
        for own in tmp.glob("autoglm_doctor-*.whl"):
            own.unlink()
        (tmp / ".complete").write_text("ok\n")
        shutil.rmtree(cached, ignore_errors=True)
        tmp.rename(cached)
    dest.mkdir(parents=True, exist_ok=True)
    for whl in cached.glob("*.whl"):
        shutil.copy2(whl, dest / whl.name)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(ROOT)], timeout=300)
    return dest


class ModelServer(http.server.BaseHTTPRequestHandler):
    served = "autoglm-phone-9b"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = json.dumps({"object": "list", "data": [{"id": self.served, "object": "model"}]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@dataclass
class Host:
    name: str
    port: int
    home: Path
    profile: dict[str, Any]
    state: str
    bridges: list[str] = field(default_factory=list)


@dataclass
class Fleet:
    dir: Path
    hosts: list[Host]
    inventory: Path
    key: Path
    known_hosts: Path
    procs: list[subprocess.Popen] = field(default_factory=list)


def _sshd(dir: Path, port: int, authorized: Path) -> subprocess.Popen:
    hostkey = dir / "ssh_host_ed25519_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)])
    cfg = dir / "sshd_config"
    cfg.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {hostkey}", f"PidFile {dir / 'sshd.pid'}",
        f"AuthorizedKeysFile {authorized}", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "LogLevel ERROR",
        "Subsystem sftp internal-sftp", "MaxSessions 50", "MaxStartups 50",
    ]) + "\n")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=open(dir / "sshd.log", "w"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"sshd on port {port} exited: {(dir / 'sshd.log').read_text()}")
        time.sleep(0.1)
    raise RuntimeError(f"sshd on port {port} did not listen")


def _bridge(name: str, stp: bool) -> None:
    port = name[:-2] + "p"
    run(["ip", "link", "add", name, "type", "bridge", "stp_state", "1" if stp else "0"])
    run(["ip", "link", "add", port, "type", "veth", "peer", "name", port + "x"])
    run(["ip", "link", "set", port, "master", name])
    for dev in (port, port + "x", name):
        run(["ip", "link", "set", dev, "up"])


def remove_bridges(names: list[str]) -> None:
    for name in names:
        subprocess.run(["ip", "link", "del", name[:-2] + "p"], capture_output=True)
        subprocess.run(["ip", "link", "del", name], capture_output=True)


@contextlib.contextmanager
def fleet(tmp: Path, tag: str, count: int = 5) -> Iterator[Fleet]:
    """``count`` hosts cycling through five states: ok, missing bridge, STP on, volume not readable, model
    server stopped."""
    key = tmp / "id_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    authorized = tmp / "authorized_keys"
    authorized.write_text((tmp / "id_ed25519.pub").read_text())
    served = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ModelServer)
    threading.Thread(target=served.serve_forever, daemon=True).start()
    good_endpoint = f"http://127.0.0.1:{served.server_address[1]}"
    dead_endpoint = f"http://127.0.0.1:{free_port()}"
    states = ["ok", "missing-bridge", "stp-on", "volume-denied", "model-stopped"]
    hosts: list[Host] = []
    known = []
    procs: list[subprocess.Popen] = []
    # volumes live where every parent is searchable (pytest's own tmp is 0700: nobody could reach them)
    volumes = Path(tempfile.mkdtemp(prefix=f"{tag}-volumes-"))
    os.chmod(volumes, 0o755)
    try:
        for i in range(1, count + 1):
            state = states[(i - 1) % len(states)]
            name = f"fleet{i}"
            hdir = tmp / name
            hdir.mkdir(parents=True)
            vol = volumes / name
            vol.mkdir()
            os.chmod(vol, 0o700 if state == "volume-denied" else 0o755)
            bridge = f"{tag}{i}br"
            h = Host(name=name, port=free_port(), home=hdir / "opt", state=state, profile={
                "bridge": bridge, "containers": [], "served_model_name": ModelServer.served,
                "volumes": [{"path": str(vol), "user": "nobody", "write": False}],
                "model_endpoint": dead_endpoint if state == "model-stopped" else good_endpoint,
            })
            if state != "missing-bridge":
                _bridge(bridge, stp=state == "stp-on")
                h.bridges.append(bridge)
            procs.append(_sshd(hdir, h.port, authorized))
            pub = (hdir / "ssh_host_ed25519_key.pub").read_text().split()
            known.append(f"[127.0.0.1]:{h.port} {pub[0]} {pub[1]}")
            hosts.append(h)
        known_hosts = tmp / "known_hosts"
        known_hosts.write_text("\n".join(known) + "\n")
        inventory = tmp / "inventory.yml"
        ssh_args = f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
        inventory.write_text(json.dumps({"autoglm": {"hosts": {h.name: {
            "ansible_host": "127.0.0.1", "ansible_port": h.port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(key), "ansible_ssh_common_args": ssh_args,
            "ansible_python_interpreter": "/usr/bin/python3",
            "autoglm_doctor_home": str(h.home), "autoglm_doctor_profile": h.profile,
        } for h in hosts}}}, indent=1))
        yield Fleet(tmp, hosts, inventory, key, known_hosts, procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        served.shutdown()
        shutil.rmtree(volumes, ignore_errors=True)
        remove_bridges([b for h in hosts for b in h.bridges])
