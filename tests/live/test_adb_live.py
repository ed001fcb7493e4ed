"""device.adb.* against the real adb client and server (Debian's adb package) talking to scripted phones
(tests/adbdevice.py speaks the ADB wire protocol): every verdict comes from real `adb` output.

The adb server of these tests listens on a private port (ADB_SERVER_SOCKET) with its own HOME, so it
never meets another adb server on this machine; it is killed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time

import pytest

from autoglm_doctor.facts.adb import ADBKEYBOARD_IME
from autoglm_doctor.facts.adb_device import (
    IME_ENABLED,
    IME_SELECTED,
    KEYBOARD_PACKAGE,
    PROPS,
    SCREEN,
    WIRELESS_DEBUGGING,
    WM_SIZE,
)
from tests.adbdevice import DROP, HANG, AdbDevice, Answer
from tests.helpers import doctor, require

pytestmark = pytest.mark.live

GBOARD = "com.google.android.inputmethod.latin/com.android.inputmethod.latin.LatinIME"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + bytes(range(256)) * 200  # 51 KB: never to be recorded


def phone(**over: Answer | str) -> dict[str, Answer | str]:
    answers: dict[str, Answer | str] = {
        PROPS: Answer("14\n34\nPixel 7\n"),
        KEYBOARD_PACKAGE: Answer("package:com.android.adbkeyboard\n"),
        IME_ENABLED: Answer(f"{GBOARD}\n{ADBKEYBOARD_IME}\n"),
        IME_SELECTED: Answer(f"{ADBKEYBOARD_IME}\n"),
        WM_SIZE: Answer("Physical size: 1080x2400\n"),
        SCREEN: Answer("mWakefulness=Awake\nmKeyguardShowing=false\n"),
        WIRELESS_DEBUGGING: Answer("0\n"),
        "screencap -p": Answer(PNG),
    }
    answers.update(over)
    return answers


class AdbServer:
    def __init__(self, root) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        home = root / "home"
        home.mkdir()
        self.env = {"ADB_SERVER_SOCKET": f"tcp:localhost:{self.port}", "HOME": str(home),
                    "ANDROID_SDK_HOME": str(home), "TMPDIR": str(root)}
        self.background: list[subprocess.Popen] = []

    def adb(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run(["adb", *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **self.env}, stdin=subprocess.DEVNULL)

    def connect(self, device: AdbDevice, state: str) -> None:
        """adb connect, in the background (a phone that never answers keeps it waiting 10 s), until
        adb devices lists the phone in ``state``."""
        proc = subprocess.Popen(["adb", "connect", device.serial], env={**os.environ, **self.env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.background.append(proc)
        deadline = time.time() + 15
        while time.time() < deadline:
            for line in self.adb("devices").stdout.splitlines()[1:]:
                if line.split() == [device.serial, *state.split()]:
                    return
            time.sleep(0.1)
        pytest.fail(f"{device.serial} never became {state}: {self.adb('devices').stdout}")

    def stop(self) -> None:
        for proc in self.background:
            proc.kill()
            proc.wait()
        self.adb("kill-server")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require(shutil.which("adb") is not None, "adb (apt-get install adb; .ci/services.sh)")
    srv = AdbServer(tmp_path_factory.mktemp("adb-live"))
    started = srv.adb("start-server")
    assert started.returncode == 0, started.stderr
    yield srv
    srv.stop()


def run(srv: AdbServer, tmp_path, devices: list[str], *args: str, env: dict | None = None, **profile):
    cfg = tmp_path / "profile.toml"
    lines = ["[profile]", f"devices = {json.dumps(devices)}", "adb_timeout = 3"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in profile.items()]
    cfg.write_text("\n".join(lines) + "\n")
    out = doctor("check", "--only", "device.adb.*", "--config", str(cfg), "--format", "json", *args,
                 env={**srv.env, **(env or {})})
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode in (0, 1), out.stderr
    report = json.loads(out.stdout)
    return {(f["check_id"], f["resource"]): f for f in report["findings"]}


def verdicts(found: dict, check: str) -> dict[str, str]:
    return {res: f["status"] for (cid, res), f in found.items() if cid == check}


@pytest.fixture(scope="module")
def fleet(server):
    """Every kind of phone at once, on the one adb server."""
    phones = {
        "good": AdbDevice(phone()),
        "legacy": AdbDevice(phone(), features=(), model="Nexus 5"),  # shell v1: no exit status
        "unauthorized": AdbDevice(phone(), authorized=False),
        "offline": AdbDevice(phone(), muted=True),
        "no_keyboard": AdbDevice(phone(**{KEYBOARD_PACKAGE: Answer("")})),
        "not_selected": AdbDevice(phone(**{IME_SELECTED: Answer(f"{GBOARD}\n")})),
        "not_enabled": AdbDevice(phone(**{IME_ENABLED: Answer(f"{GBOARD}\n"), IME_SELECTED: Answer(f"{GBOARD}\n")})),
        "locked": AdbDevice(phone(**{SCREEN: Answer("mWakefulness=Awake\nmKeyguardShowing=true\n")})),
        "asleep": AdbDevice(phone(**{SCREEN: Answer("mWakefulness=Asleep\nmKeyguardShowing=true\n")})),
        "hangs": AdbDevice(phone(**{WM_SIZE: HANG, "screencap -p": HANG})),
        "drops": AdbDevice(phone(**{KEYBOARD_PACKAGE: DROP})),
        "garbage": AdbDevice(phone(**{PROPS: Answer("\x00\x01garbage"), WM_SIZE: Answer("no window manager\n"),
                                      "screencap -p": Answer("Error: no display\n")})),
    }
    for name, dev in phones.items():
        server.connect(dev, {"unauthorized": "unauthorized", "offline": "offline"}.get(name, "device"))
    yield phones
    for dev in phones.values():
        dev.stop()


@pytest.fixture(scope="module")
def report(server, fleet, tmp_path_factory):
    serials = [d.serial for d in fleet.values()] + ["R58M123ABC", "127.0.0.1:1"]
    return run(server, tmp_path_factory.mktemp("fleet"), serials)


def by_name(fleet, found: dict[str, str]) -> dict[str, str]:
    names = {d.serial: n for n, d in fleet.items()}
    return {names.get(res, res): status for res, status in found.items()}


def test_device_states(fleet, report):
    assert by_name(fleet, verdicts(report, "device.adb.devices")) == {
        **{n: "pass" for n in fleet if n not in ("unauthorized", "offline")},
        "unauthorized": "fail", "offline": "fail", "R58M123ABC": "fail", "127.0.0.1:1": "fail"}
    msg = {n: report[("device.adb.devices", d.serial)]["message"] for n, d in fleet.items()}
    assert "unauthorized: the phone has not accepted this adb server's RSA key" in msg["unauthorized"]
    assert "is offline: " in msg["offline"]
    assert report[("device.adb.devices", fleet["offline"].serial)]["fix_id"] == "fix.adb.reconnect"
    assert report[("device.adb.devices", fleet["unauthorized"].serial)]["fix_id"] is None
    assert report[("device.adb.devices", "R58M123ABC")]["message"] == "R58M123ABC is not listed by adb devices"
    assert "Pixel 7" in msg["good"] and "Nexus 5" in msg["legacy"]


def test_keyboard(fleet, report):
    got = by_name(fleet, verdicts(report, "device.adb.keyboard"))
    assert got == {"good": "pass", "legacy": "pass", "unauthorized": "skip", "offline": "skip",
                   "no_keyboard": "fail", "not_selected": "warn", "not_enabled": "fail", "locked": "pass",
                   "asleep": "pass", "hangs": "pass", "drops": "fail", "garbage": "pass",
                   "R58M123ABC": "skip", "127.0.0.1:1": "skip"}
    serial = fleet["drops"].serial
    assert report[("device.adb.keyboard", serial)]["message"].startswith(
        "the device stopped answering during the check (the answer was cut off)")
    assert "is not installed" in report[("device.adb.keyboard", fleet["no_keyboard"].serial)]["message"]


def test_screen_and_screenshot(fleet, report):
    screen = by_name(fleet, verdicts(report, "device.adb.screen"))
    assert {n: screen[n] for n in ("good", "legacy", "locked", "asleep", "hangs", "garbage")} == {
        "good": "pass", "legacy": "pass", "locked": "fail", "asleep": "fail", "hangs": "fail", "garbage": "fail"}
    assert "is locked" in report[("device.adb.screen", fleet["locked"].serial)]["message"]
    assert "got no answer in time" in report[("device.adb.screen", fleet["hangs"].serial)]["message"]
    shot = by_name(fleet, verdicts(report, "device.adb.screencap"))
    assert {n: shot[n] for n in ("good", "legacy", "hangs", "garbage")} == {
        "good": "pass", "legacy": "pass", "hangs": "fail", "garbage": "fail"}
    assert report[("device.adb.screencap", fleet["good"].serial)]["evidence"]["observed"] == f"{len(PNG)} bytes"


def test_android_and_network(fleet, report):
    android = by_name(fleet, verdicts(report, "device.adb.android"))
    assert android["good"] == "pass" and android["garbage"] == "fail"
    assert report[("device.adb.android", fleet["good"].serial)]["evidence"]["observed"] == "Android 14 (API 34), Pixel 7"
    net = by_name(fleet, verdicts(report, "device.adb.network"))
    assert net["good"] == "warn" and net["offline"] == "fail" and net["127.0.0.1:1"] == "fail"
    assert "port answers from here" in report[("device.adb.network", fleet["offline"].serial)]["message"]
    assert "not reachable" in report[("device.adb.network", "127.0.0.1:1")]["message"]


def test_fix_plans_name_the_adb_commands(server, fleet, tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text(f'[profile]\ndevices = {json.dumps([fleet["not_selected"].serial, fleet["offline"].serial])}\n'
                   "adb_timeout = 3\n")
    out = doctor("fix", "--only", "device.adb.*", "--config", str(cfg), env=server.env)
    assert "Traceback" not in out.stderr
    s, o = fleet["not_selected"].serial, fleet["offline"].serial
    assert f"run: adb -s {s} shell ime set {ADBKEYBOARD_IME}  (undo: adb -s {s} shell ime set {GBOARD})" in out.stdout
    assert f"run: adb -s {o} reconnect" in out.stdout


def test_collect_keeps_no_screenshot_and_no_package_list(server, fleet, tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text(f'[profile]\ndevices = {json.dumps([fleet["good"].serial])}\nadb_timeout = 3\n')
    archive = tmp_path / "phone.tar.gz"
    out = doctor("collect", "-o", str(archive), "--only", "device.adb.*", "--config", str(cfg), env=server.env)
    assert out.returncode == 0, out.stderr
    with tarfile.open(archive) as tar:
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert b"PNG" not in blob and b"IHDR" not in blob
    assert blob.count(b"package:") == 1 and b"package:com.android.adbkeyboard" in blob
    assert f"{len(PNG)}".encode() in blob
    replay = doctor("check", "--target", f"snapshot:{archive}", "--only", "device.adb.*", "--config", str(cfg),
                    "--format", "json")
    live = run(server, tmp_path, [fleet["good"].serial])
    replayed = {(f["check_id"], f["resource"]): f["status"] for f in json.loads(replay.stdout)["findings"]}
    assert replayed == {k: f["status"] for k, f in live.items()}


def _listener(reply: bytes | None):
    srv = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            if reply is not None:
                conn.recv(64)
                conn.sendall(reply)
                conn.close()
            # reply None: hold the connection open and never answer

    threading.Thread(target=serve, daemon=True).start()
    return srv


def test_server_port_held_by_a_silent_program_times_out(server, tmp_path):
    silent = _listener(None)
    try:
        found = run(server, tmp_path, [], env={"ADB_SERVER_SOCKET": f"tcp:localhost:{silent.getsockname()[1]}"})
    finally:
        silent.close()
    [(res, f)] = [(r, f) for (c, r), f in found.items() if c == "device.adb.server"]
    assert f["status"] == "fail" and f["evidence"]["observed"] == "timed_out"
    assert "did not answer" in f["message"]
    assert verdicts(found, "device.adb.devices") == {"": "skip"}


def test_server_port_held_by_something_else(server, tmp_path):
    other = _listener(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    try:
        found = run(server, tmp_path, [], env={"ADB_SERVER_SOCKET": f"tcp:localhost:{other.getsockname()[1]}"})
    finally:
        other.close()
    f = next(f for (c, _r), f in found.items() if c == "device.adb.server")
    assert f["status"] == "fail", f
    assert f["evidence"]["observed"] == "not_adb", f
    assert "protocol fault" in f["message"]


def test_old_adb_with_pairing_in_the_profile(server, tmp_path):
    found = run(server, tmp_path, [], adb_pairing=True)
    installed = found[("device.adb.installed", "adb")]
    release = subprocess.run(["adb", "version"], capture_output=True, text=True).stdout
    expect = "pass" if any(line.startswith("Version 3") for line in release.splitlines()) else "fail"
    assert installed["status"] == expect, installed
