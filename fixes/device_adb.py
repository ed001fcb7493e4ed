"""Plans for the phone side: adb reconnect / connect, a udev rule for the phone's USB vendor id, and the ADB
Keyboard as the selected input method. Each plan names the adb command the engine would run where the
agent runs; nothing here touches a phone or a file."""

from __future__ import annotations

import re
from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.adb import ADBKEYBOARD_IME, is_endpoint
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, Plan, RunCommand, WriteFile
from autoglm_doctor.targets.base import TargetError

UDEV_RULE_PATH = "/etc/udev/rules.d/51-autoglm-doctor-android.rules"


def _state(f: Finding) -> str:
    return str(f.observed or "").split(" usb:", 1)[0]


class AdbReconnect(Fix):
    meta = FixMeta(
        id="fix.adb.reconnect",
        title="Reconnect offline phones and connect missing host:port phones",
        fixes=("device.adb.devices", "device.adb.network"),
        risk=Severity.LOW,
        description="adb -s SERIAL reconnect for an offline transport; adb connect HOST:PORT for a TCP phone "
                    "that is not listed.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        changes: list[Change] = []
        notes: list[str] = []
        done: set[str] = set()
        for f in findings:
            serial, state = f.resource, _state(f)
            if serial in done:
                continue
            if state == "offline":
                changes.append(RunCommand(("adb", "-s", serial, "reconnect")))
            elif is_endpoint(serial) and state.startswith(("missing", "offline")):
                changes.append(RunCommand(("adb", "connect", serial), undo=("adb", "disconnect", serial)))
            else:
                continue
            done.add(serial)
        if not changes:
            notes.append("nothing adb can reconnect by itself: see each finding's remedy")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


class AdbUdevRule(Fix):
    meta = FixMeta(
        id="fix.adb.udev_rule",
        title="udev rule giving the plugdev group access to the phone's USB device",
        fixes=("device.adb.devices",),
        risk=Severity.LOW,
        description="The vendor id comes from /sys/bus/usb/devices/<usb:path from adb devices -l>/idVendor.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        vendors: dict[str, str] = {}
        notes: list[str] = []
        for f in findings:
            m = re.search(r"usb:([0-9]+-[0-9.]+)$", str(f.observed or ""))
            if not _state(f) == "no permissions":
                continue
            if m is None:
                notes.append(f"{f.resource}: adb did not say which USB port it is on; unplug other phones and run again")
                continue
            try:
                vendor = (ctx.target.read_text(f"/sys/bus/usb/devices/{m.group(1)}/idVendor") or "").strip().lower()
            except TargetError as exc:
                notes.append(f"{f.resource}: {exc}")
                continue
            if re.fullmatch(r"[0-9a-f]{4}", vendor):
                vendors[vendor] = f.resource
            else:
                notes.append(f"{f.resource}: no USB vendor id at /sys/bus/usb/devices/{m.group(1)}/idVendor")
        if not vendors:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings), notes=tuple(notes))
        rule = "# Written by autoglm-doctor (fix.adb.udev_rule): the adb server's user reaches the phone.\n"
        for vendor, serial in sorted(vendors.items()):
            rule += (f'SUBSYSTEM=="usb", ATTR{{idVendor}}=="{vendor}", MODE="0660", GROUP="plugdev", '
                     f'TAG+="uaccess"  # {serial}\n')
        changes: list[Change] = [WriteFile(UDEV_RULE_PATH, rule),
                                 RunCommand(("udevadm", "control", "--reload-rules"), regenerate=True)]
        for vendor in sorted(vendors):
            changes.append(RunCommand(("udevadm", "trigger", "--subsystem-match=usb", f"--attr-match=idVendor={vendor}"),
                                      regenerate=True))
        changes.append(RunCommand(("adb", "kill-server")))
        notes.append("the agent's user must be in group plugdev (usermod -aG plugdev USER, then log in again)")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


class AdbKeyboardSelect(Fix):
    meta = FixMeta(
        id="fix.adb.keyboard",
        title="Enable and select the ADB Keyboard input method",
        fixes=("device.adb.keyboard",),
        risk=Severity.LOW,
        description="ime enable and ime set on the phone; undo selects the input method that was selected.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        changes: list[Change] = []
        for f in findings:
            if not isinstance(f.observed, dict):
                continue  # not installed: no plan can install an APK it does not have
            serial, before = f.resource, f.observed.get("selected")
            if ADBKEYBOARD_IME not in (f.observed.get("enabled") or []):
                changes.append(RunCommand(("adb", "-s", serial, "shell", f"ime enable {ADBKEYBOARD_IME}"),
                                          undo=("adb", "-s", serial, "shell", f"ime disable {ADBKEYBOARD_IME}")))
            undo = ("adb", "-s", serial, "shell", f"ime set {before}") if before else None
            changes.append(RunCommand(("adb", "-s", serial, "shell", f"ime set {ADBKEYBOARD_IME}"), undo=undo))
        notes = () if changes else ("ADB Keyboard is not installed: adb install ADBKeyboard.apk first",)
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=notes)


FIXES = (AdbReconnect, AdbUdevRule, AdbKeyboardSelect)
