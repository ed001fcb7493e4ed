"""device.adb.* on snapshots: adb's recorded answers (commands.json, the way collect records them) replayed.
The live tests (tests/live/test_adb_live.py) get the same verdicts from the real adb; these tables pin each
verdict to one answer, including the garbage and timeouts a live phone rarely produces on demand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoglm_doctor.facts.adb import ENV_PROBE, parse_devices, parse_version
from autoglm_doctor.facts.adb_device import (
    END,
    IME_ENABLED,
    IME_SELECTED,
    KEYBOARD_PACKAGE,
    PROPS,
    SCREEN,
    SCREENCAP,
    WIRELESS_DEBUGGING,
    WM_SIZE,
    parse_props,
    parse_screen,
    parse_wm_size,
    wrapped,
)
from autoglm_doctor.targets.base import GarbageValue
from checks.device_adb import PROBE
from tests.helpers import Case

IME = "com.android.adbkeyboard/.AdbIME"
GBOARD = "com.google.android.inputmethod.latin/com.android.inputmethod.latin.LatinIME"
VERSION = "Android Debug Bridge version 1.0.41\nVersion 34.0.5-10900879\nInstalled as /opt/platform-tools/adb\n"
OLD = "Android Debug Bridge version 1.0.41\nVersion 29.0.6-debian\nInstalled as /usr/lib/android-sdk/platform-tools/adb\n"
USB = "R58M123ABC"
TCP = "192.168.1.50:5555"
GOOD = {PROPS: "14\n34\nGalaxy S23\n", KEYBOARD_PACKAGE: "package:com.android.adbkeyboard\n",
        IME_ENABLED: f"{GBOARD}\n{IME}\n", IME_SELECTED: f"{IME}\n", WM_SIZE: "Physical size: 1080x2340\n",
        SCREEN: "mWakefulness=Awake\nmKeyguardShowing=false\n", WIRELESS_DEBUGGING: "0\n"}


def cmd(argv: list[str], stdout: str = "", rc: int = 0, stderr: str = "", **kw) -> dict:
    return {"argv": argv, "returncode": rc, "stdout": stdout, "stderr": stderr, "not_found": False,
            "timed_out": False, **kw}


def snapshot(devices: str | dict | None = None, *, version: str | None = VERSION, env: str = "",
             phones: dict[str, dict[str, str | tuple[str, int]]] | None = None, shots: dict[str, str] | None = None,
             probes: dict[str, str] | None = None):
    """A hand-made snapshot holding exactly the commands the device.adb checks run."""
    def build(tmp_path: Path) -> Path:
        root = tmp_path / "snap"
        (root / ".autoglm-doctor").mkdir(parents=True)
        cmds = [cmd(["sh", "-c", ENV_PROBE], env)]
        cmds.append(cmd(["adb", "version"], version) if version is not None else
                    cmd(["adb", "version"], "", 127, "adb: command not found", not_found=True))
        if isinstance(devices, dict):
            cmds.append({"argv": ["adb", "devices", "-l"], **{"returncode": 0, "stdout": "", "stderr": "",
                                                                "not_found": False, "timed_out": False}, **devices})
        elif devices is not None:
            cmds.append(cmd(["adb", "devices", "-l"], devices))
        for serial, answers in (phones or {}).items():
            for command, answer in answers.items():
                out, rc = answer if isinstance(answer, tuple) else (answer, 0)
                cmds.append(cmd(["adb", "-s", serial, "shell", wrapped(command)], f"{out}{END}{rc}\n"))
        for serial, count in (shots or {}).items():
            cmds.append(cmd(["sh", "-c", SCREENCAP, "sh", serial, "10"], count))
        for endpoint, answer in (probes or {}).items():
            host, port = endpoint.rsplit(":", 1)
            cmds.append(cmd(["python3", "-c", PROBE, host, port], answer))
        (root / ".autoglm-doctor" / "commands.json").write_text(json.dumps(cmds))
        (root / ".autoglm-doctor" / "manifest.json").write_text(json.dumps(
            {"format": "autoglm-doctor-snapshot", "version": 1, "kind": "handmade", "role": "guest"}))
        return root
    return build


LISTED = (f"List of devices attached\n{USB}               device usb:1-2 product:dm1qxxx model:SM_S911B "
          "device:dm1q transport_id:3\n")
HEALTHY = snapshot(LISTED, phones={USB: GOOD}, shots={USB: "187342\n"})
ON_TCP = snapshot(f"List of devices attached\n{TCP}     device product:panther model:Pixel_7 device:panther "
                  "transport_id:4\n", phones={TCP: GOOD})
WIFI_PAIRED = snapshot(f"List of devices attached\n{TCP}     device product:panther model:Pixel_7 transport_id:4\n",
                       phones={TCP: {**GOOD, WIRELESS_DEBUGGING: "1\n"}})
STATES = snapshot(
    "* daemon not running; starting now at tcp:5037\n* daemon started successfully\nList of devices attached\n"
    "R58M123ABC     unauthorized usb:1-2 transport_id:1\n"
    "0123456789ABCDEF no permissions (user in plugdev group; are your udev rules wrong?); see "
    "[http://developer.android.com/tools/device.html] usb:1-3 transport_id:2\n"
    "emulator-5554  offline transport_id:3\n")
GARBAGE_LINES = snapshot("List of devices attached\n\x1b[31mWARNING: adb wrapper v2\x1b[0m\n"
                         f"{USB}  device usb:1-2 transport_id:3\n", phones={USB: GOOD})
ALL_STATES = {"R58M123ABC": "fail", "0123456789ABCDEF": "fail", "emulator-5554": "fail", "missing-one": "fail"}
PAIRING = {"adb_pairing": True}

CASES = [
    Case(HEALTHY, "device.adb.installed", {"adb": "pass"}),
    Case(HEALTHY, "device.adb.installed", {"adb": "pass"}, profile=PAIRING, note="pairing-new-adb"),
    Case(snapshot(LISTED, version=OLD), "device.adb.installed", {"adb": "fail"}, profile=PAIRING, note="pairing-old"),
    Case(snapshot(LISTED, version="Android Debug Bridge version 1.0.39\n"), "device.adb.installed", {"adb": "fail"},
         profile=PAIRING, note="pairing-ancient"),
    Case(snapshot(None, version=None), "device.adb.installed", {"adb": "fail"}, note="not-installed"),
    Case(snapshot(None, version="garbage\x00"), "device.adb.installed", {"": "error"}, note="garbage-version"),
    Case(HEALTHY, "device.adb.server", {"tcp:localhost:5037": "pass"}),
    Case(snapshot(LISTED, env="ADB_SERVER_SOCKET=tcp:localhost:15037\n"), "device.adb.server",
         {"tcp:localhost:15037": "pass"}, note="own-socket"),
    Case(snapshot({"returncode": -9, "timed_out": True, "stderr": "timed out after 10s"}), "device.adb.server",
         {"tcp:localhost:5037": "fail"}, note="hangs"),
    Case(snapshot({"returncode": 1, "stderr": "* daemon not running; starting now at tcp:5037\nerror: could not "
                   "install *smartsocket* listener: cannot bind to 127.0.0.1:5037: Address already in use (98)\n"
                   "* failed to start daemon\nadb: cannot connect to daemon\n"}),
         "device.adb.server", {"tcp:localhost:5037": "fail"}, note="port-taken"),
    Case(snapshot({"stdout": "List of devices attached\n", "stderr": "adb server version (41) doesn't match this "
                   "client (39); killing...\n* daemon started successfully\n"}),
         "device.adb.server", {"tcp:localhost:5037": "warn"}, note="two-versions"),
    Case(snapshot("<html>garbage</html>\n"), "device.adb.server", {"": "error"}, note="garbage-devices"),
    Case(snapshot("<html>garbage</html>\n"), "device.adb.devices", {"": "skip"}, note="garbage-devices"),
    Case(HEALTHY, "device.adb.devices", {USB: "pass"}),
    Case(STATES, "device.adb.devices", ALL_STATES, profile={"devices": list(ALL_STATES)}),
    Case(snapshot("List of devices attached\n\n"), "device.adb.devices", {"devices": "fail"}, note="none"),
    Case(GARBAGE_LINES, "device.adb.devices", {"adb devices": "warn", USB: "pass"}, note="garbage-lines"),
    Case(HEALTHY, "device.adb.android", {USB: "pass"}),
    Case(snapshot(LISTED, phones={USB: {PROPS: "6.0.1\n23\nNexus 5\n"}}), "device.adb.android", {USB: "warn"},
         note="android-6"),
    Case(snapshot(LISTED, phones={USB: {PROPS: "\x00\x01\x02"}}), "device.adb.android", {USB: "fail"}, note="garbage"),
    Case(STATES, "device.adb.android", {s: "skip" for s in ALL_STATES}, profile={"devices": list(ALL_STATES)},
         note="not-usable"),
    Case(HEALTHY, "device.adb.keyboard", {USB: "pass"}),
    Case(snapshot(LISTED, phones={USB: {KEYBOARD_PACKAGE: ("", 0)}}), "device.adb.keyboard", {USB: "fail"},
         note="missing"),
    Case(snapshot(LISTED, phones={USB: {**GOOD, IME_SELECTED: f"{GBOARD}\n"}}), "device.adb.keyboard",
         {USB: "warn"}, note="not-selected"),
    Case(snapshot(LISTED, phones={USB: {**GOOD, IME_ENABLED: f"{GBOARD}\n", IME_SELECTED: "null\n"}}),
         "device.adb.keyboard", {USB: "fail"}, note="not-enabled"),
    Case(snapshot(LISTED, phones={USB: {KEYBOARD_PACKAGE: "package:com.android.adbkeyboard\n"}}),
         "device.adb.keyboard", {"": "skip"}, note="ime-not-recorded"),
    Case(HEALTHY, "device.adb.screen", {USB: "pass"}),
    Case(snapshot(LISTED, phones={USB: {**GOOD, SCREEN: "mWakefulness=Awake\nmKeyguardShowing=true\n"}}),
         "device.adb.screen", {USB: "fail"}, note="locked"),
    Case(snapshot(LISTED, phones={USB: {**GOOD, SCREEN: ("", 1)}}), "device.adb.screen", {USB: "warn"},
         note="unknown-state"),
    Case(snapshot(LISTED, phones={USB: {**GOOD, WM_SIZE: ("Error: no window manager", 255)}}), "device.adb.screen",
         {USB: "fail"}, note="wm-fails"),
    Case(HEALTHY, "device.adb.screencap", {USB: "pass"}),
    Case(snapshot(LISTED, shots={USB: "27\n"}), "device.adb.screencap", {USB: "fail"}, note="tiny"),
    Case(snapshot(LISTED, shots={USB: "sh: adb: not found\n"}), "device.adb.screencap", {USB: "fail"},
         note="garbage"),
    Case(snapshot(LISTED, shots={USB: "no-timeout\n"}), "device.adb.screencap", {USB: "fail"},
         note="no-timeout-command"),
    Case(HEALTHY, "device.adb.network", {"tcp": "skip"}, note="usb-only"),
    Case(ON_TCP, "device.adb.network", {TCP: "warn"}, note="plain-tcp"),
    Case(WIFI_PAIRED, "device.adb.network", {TCP: "pass"}, note="wireless-debugging"),
    Case(snapshot("List of devices attached\n", probes={TCP: "closed [Errno 113] No route to host\n"}),
         "device.adb.network", {TCP: "fail"}, profile={"devices": [TCP]}, note="unreachable"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def test_screenshot_without_timeout_command_says_so(tmp_path):
    [f] = [f for f in Case(snapshot(LISTED, shots={USB: "no-timeout\n"}), "device.adb.screencap", {})
           .findings(tmp_path) if f.check_id == "device.adb.screencap"]
    assert f.message == (f"{USB}: the screenshot did not arrive: no `timeout` command where the agent runs "
                         "(coreutils or busybox): the screenshot was not tried")


def test_states_have_their_own_remedy(tmp_path):
    found = {f.resource: f for f in Case(STATES, "device.adb.devices", {}, profile={"devices": list(ALL_STATES)})
             .findings(tmp_path) if f.check_id == "device.adb.devices"}
    assert "accept 'Allow USB debugging?'" in found["R58M123ABC"].remediation
    assert "udev rule" in found["0123456789ABCDEF"].remediation
    assert found["0123456789ABCDEF"].observed == "no permissions usb:1-3"
    assert found["0123456789ABCDEF"].fix_id == "fix.adb.udev_rule"
    assert "adb reconnect offline" in found["emulator-5554"].remediation
    assert found["emulator-5554"].fix_id == "fix.adb.reconnect"
    assert found["missing-one"].fix_id is None  # a USB serial: nothing adb can do
    assert len({f.remediation for f in found.values()}) == 4


@pytest.mark.parametrize("text", ["", "\x00" * 50, "List of devices\n", "error: protocol fault\n",
                                  "<html>\n" * 1000])
def test_garbage_device_lists_are_refused(text):
    with pytest.raises(GarbageValue, match="adb devices -l"):
        parse_devices(text)


def test_device_list_lines():
    listing = parse_devices("List of devices attached\nabc\tdevice\nbroken line here\nx y\n"
                            "adb-R58M-abc._adb-tls-connect._tcp.\tdevice product:p model:Pixel_8 transport_id:9\n")
    assert [(e.serial, e.state) for e in listing.entries] == [("abc", "device"), (
        "adb-R58M-abc._adb-tls-connect._tcp.", "device")]
    assert listing.entries[1].label == "adb-R58M-abc._adb-tls-connect._tcp. (Pixel 8)"
    assert listing.garbage == ("broken line here", "x y")


def test_version_parsing():
    assert parse_version(VERSION).release == (34, 0, 5)
    assert parse_version(OLD).at_least((30, 0, 0)) is False
    assert parse_version("Android Debug Bridge version 1.0.41\n").at_least((30, 0, 0)) is None
    with pytest.raises(GarbageValue):
        parse_version("adb: permission denied")


@pytest.mark.parametrize("text, ok", [("14\n34\nPixel 7\n", True), ("14\n34\n", False), ("\x00\n\x01\n\x02\n", False),
                                      ("x" * 100 + "\n34\nm\n", False), ("14\n34\nPixel 7\nextra\n", False)])
def test_props_parsing(text, ok):
    assert (parse_props(text) is not None) is ok


def test_screen_and_size_parsing():
    assert parse_wm_size("Physical size: 1080x2400\nOverride size: 720x1600\n") == ("1080x2400", "720x1600")
    assert parse_wm_size("Physical size: 99999999x1\n") is None
    assert parse_screen("mWakefulness=Dozing\nmKeyguardShowing=false\nmKeyguardShowing=true\n").keyguard is True
    assert parse_screen("garbage").wakefulness == ""


def test_profile_devices_are_validated():
    from autoglm_doctor.config import ConfigError, parse_config_text

    with pytest.raises(ConfigError, match="devices"):
        parse_config_text('[profile]\ndevices = ["ok", "bad; rm -rf /"]\n', "t.toml")
    assert parse_config_text('[profile]\ndevices = ["R58M123ABC", "10.0.0.5:5555"]\n', "t.toml")[0]["devices"]


def _plans(tmp_path, build, fix_id: str, profile: dict) -> str:
    from autoglm_doctor.app import plan_fixes
    from autoglm_doctor.config import Config, Profile
    from autoglm_doctor.model import Report
    from autoglm_doctor.registry import load_registry
    from autoglm_doctor.targets.snapshot import SnapshotTarget
    from tests.helpers import run_check_ids

    root = build(tmp_path)
    target = SnapshotTarget(str(root))
    try:
        findings = run_check_ids(target, ["device.adb.*"], profile)
        report = Report("t", target.name, "r", "now", 0, tuple(findings))
        plans = plan_fixes(load_registry(), target, Config(profile=Profile(profile)), report, only=[fix_id])
        return "\n".join(p.render(target) for p in plans)
    finally:
        target.close()


def test_udev_rule_for_the_phone_without_permissions(tmp_path):
    def build(tmp):
        root = STATES(tmp)
        (root / "sys/bus/usb/devices/1-3").mkdir(parents=True)
        (root / "sys/bus/usb/devices/1-3/idVendor").write_text("04e8\n")
        return root
    text = _plans(tmp_path, build, "fix.adb.udev_rule", {"devices": list(ALL_STATES)})
    assert "[1] write /etc/udev/rules.d/51-autoglm-doctor-android.rules (mode 0644)" in text
    assert '+SUBSYSTEM=="usb", ATTR{idVendor}=="04e8", MODE="0660", GROUP="plugdev", TAG+="uaccess"  # 0123456789ABCDEF' in text
    assert "run: udevadm trigger --subsystem-match=usb --attr-match=idVendor=04e8" in text
    assert "note: the agent's user must be in group plugdev" in text


def test_reconnect_plan_for_offline_and_missing_tcp(tmp_path):
    build = snapshot("List of devices attached\nemulator-5554  offline transport_id:3\n",
                     probes={TCP: "open\n"})
    text = _plans(tmp_path, build, "fix.adb.reconnect", {"devices": ["emulator-5554", TCP, USB]})
    assert "[1] run: adb -s emulator-5554 reconnect" in text
    assert f"[2] run: adb connect {TCP}  (undo: adb disconnect {TCP})" in text
    assert "[3]" not in text  # a missing USB serial gets no step: nothing adb can do
