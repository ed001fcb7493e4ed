"""A real OpenSSH sshd on loopback for the ssh target's tests and benchmark: its own port, a generated host
key, a generated user key in authorized_keys, a known_hosts that holds the host key and an ssh client config
that points at them (nothing in ~/.ssh is read or changed).

    with running_sshd(tmp_path) as sshd:
        doctor("check", "--target", sshd.spec, "--ssh-config", sshd.client_config, "--identity", sshd.user_key)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SSHD = "/usr/sbin/sshd"


@dataclass
class Sshd:
    port: int
    dir: Path
    user_key: str
    other_key: str  # a key sshd does not accept
    known_hosts: str
    client_config: str
    proc: subprocess.Popen

    @property
    def spec(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.dir / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""


def available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh") is not None and shutil.which("ssh-keygen") is not None \
        and os.geteuid() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "autoglm-remote-test", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def running_sshd(base: Path) -> Iterator[Sshd]:
    d = Path(base) / "sshd-remote"
    d.mkdir(mode=0o700)
    for name in ("host_key", "user_key", "other_key"):
        _keygen(d / name)
    (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nPrintMotd no\n"
        "MaxSessions 20\nMaxStartups 20\nLogLevel VERBOSE\n")
    host_pub = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (d / "ssh_config").write_text(
        f"Host *\n  UserKnownHostsFile {d / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
        "  IdentitiesOnly yes\n  IdentityAgent none\n")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sshd = Sshd(port=port, dir=d, user_key=str(d / "user_key"), other_key=str(d / "other_key"),
                known_hosts=str(d / "known_hosts"), client_config=str(d / "ssh_config"), proc=proc)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {sshd.log()[-500:]}")
            time.sleep(0.05)
        yield sshd
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
