"""Services that accept and never answer, or answer one byte at a time, must not hold a check past its
budget: an HTTP probe's timeout is for the whole request, and libvirt calls (which block in C) are
abandoned at their deadline."""

import json
import os
import socket
import threading
import time

import pytest

from autoglm_doctor.adapters.http_api import HttpAdapter
from tests.helpers import doctor


class Trickler:
    """A TCP server on loopback: sends ``head`` at once, then ``payload`` one byte every ``interval`` s."""

    def __init__(self, payload: bytes, interval: float, head: bytes = b"") -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.head, self.payload, self.interval = head, payload, interval
        self.stop = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.trickle, args=(conn,), daemon=True).start()

    def trickle(self, conn):
        try:
            conn.recv(65536)
            conn.sendall(self.head)
            for byte in self.payload:
                if self.interval and self.stop.wait(self.interval):
                    break
                conn.sendall(bytes([byte]))
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("head, payload", [
    (b"", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + b" " * 200),  # headers trickled
    (b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n", b"x" * 200),  # body trickled
])
def test_http_overall_timeout_beats_a_trickling_server(head, payload):
    server = Trickler(payload, 0.4, head)
    try:
        start = time.monotonic()
        answer = HttpAdapter().get(f"http://127.0.0.1:{server.port}/v1/models", 1.5)
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert answer["status"] is None and answer["error"]["kind"] == "timeout", answer
    assert elapsed < 3.5, elapsed


def test_http_fast_answer_still_works():
    body = json.dumps({"data": [{"id": "m"}]}).encode()
    server = Trickler(b"", 0, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    try:
        answer = HttpAdapter().get(f"http://127.0.0.1:{server.port}/v1/models", 5)
    finally:
        server.close()
    assert answer["status"] == 200 and json.loads(answer["body"]) == {"data": [{"id": "m"}]}


@pytest.fixture
def silent_libvirt_socket(tmp_path):
    """A unix socket that accepts libvirt's connection and never says a word."""
    path = str(tmp_path / "libvirt-sock-hostile")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield path
    stop.set()
    server.close()
    for conn in held:
        conn.close()


def test_libvirt_that_never_answers_is_abandoned_at_the_deadline(silent_libvirt_socket, monkeypatch):
    from autoglm_doctor.adapters.libvirt_api import LibvirtAdapter
    from autoglm_doctor.targets.base import AdapterUnavailable

    monkeypatch.setenv("AUTOGLM_DOCTOR_LIBVIRT_TIMEOUT", "1.5")
    start = time.monotonic()
    with pytest.raises(AdapterUnavailable, match="no answer within 1.5s"):
        LibvirtAdapter.connect(f"qemu+unix:///system?socket={silent_libvirt_socket}")
    assert time.monotonic() - start < 4


def test_libvirt_checks_do_not_each_wait_out_their_budget(silent_libvirt_socket):
    start = time.monotonic()
    out = doctor("check", "--only", "host.libvirt.daemon", "--format", "json", "--timeout", "30",
                 env={"LIBVIRT_DEFAULT_URI": f"qemu+unix:///system?socket={silent_libvirt_socket}",
                      "AUTOGLM_DOCTOR_LIBVIRT_TIMEOUT": "2", "AUTOGLM_DOCTOR_NO_CACHE": "1"})
    elapsed = time.monotonic() - start
    assert elapsed < 15, elapsed
    findings = json.loads(out.stdout)["findings"]
    assert findings[0]["status"] == "fail" and "no answer within 2s" in findings[0]["message"], findings
    assert out.returncode == 1


def test_collect_stopped_by_sigterm_leaves_no_temporary_tree(silent_libvirt_socket, tmp_path):
    """collect works in a temporary tree; SIGTERM (or SIGHUP) unwinds like Ctrl-C and removes it."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    exe = Path(sys.executable).with_name("autoglm-doctor")
    env = {**os.environ, "TMPDIR": str(tmpdir), "AUTOGLM_DOCTOR_LIBVIRT_TIMEOUT": "60",
           "LIBVIRT_DEFAULT_URI": f"qemu+unix:///system?socket={silent_libvirt_socket}"}
    proc = subprocess.Popen([str(exe), "collect", "--only", "host.libvirt.daemon", "--only", "host.kvm.*",
                             "-o", str(tmp_path / "out.tar.gz")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not os.listdir(tmpdir) and time.monotonic() < deadline:  # collect has started its tree
        time.sleep(0.05)
    assert os.listdir(tmpdir), "collect never created its working tree"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and err.strip().endswith("autoglm-doctor: stopped by SIGTERM"), err
    assert os.listdir(tmpdir) == []
    assert not (tmp_path / "out.tar.gz").exists()
