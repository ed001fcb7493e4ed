"""What the agent needs on each phone: a known Android version and model, the ADB Keyboard as input method,
a readable and unlocked screen, and screenshots that make it across the ADB link.

The agent sees the phone only through screenshots (screencap) and acts through ``input`` and the ADB
Keyboard IME (com.android.adbkeyboard/.AdbIME: text arrives as a broadcast, so any language can be typed;
``input text`` cannot type CJK). A phone that is asleep or on the lock screen gives the model a black or
lock-screen image. Only phones in state 'device' are asked; the others are reported by device.adb.devices.
"""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.adb import ADBKEYBOARD_IME, ADBKEYBOARD_PACKAGE, DeviceEntry
from autoglm_doctor.facts.adb_device import (
    IME_ENABLED,
    IME_SELECTED,
    KEYBOARD_PACKAGE,
    MIN_SCREENSHOT,
    PROPS,
    SCREEN,
    WM_SIZE,
    Shell,
    expected_devices,
    ime_ids,
    package_listed,
    parse_props,
    parse_screen,
    parse_wm_size,
    screenshot_bytes,
    setting_value,
    shell,
)
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity

SCOPE = (Scope.DEVICE,)
RUNS_ON = (Scope.HOST, Scope.GUEST, Scope.CONTAINER)
SERVER = "device.adb.server"
MIN_SDK = 24  # Android 7.0: shell protocol v2 (exit status of adb shell), the agent's floor


class PerDevice(Check):
    """One finding per expected phone; phones not in state 'device' are skipped with their state."""

    def run(self, ctx: Context) -> Iterable[Finding]:
        items = ctx.fact(expected_devices)
        if not items:
            yield self.skip("no device attached (see device.adb.devices)", resource="devices")
            return
        for serial, entry in items:
            if entry is None or entry.state != "device":
                state = entry.state if entry else "missing"
                yield self.skip(f"{serial} is {state} (see device.adb.devices)", resource=serial)
                continue
            yield from self.check_device(ctx, serial, entry)

    def check_device(self, ctx: Context, serial: str, entry: DeviceEntry) -> Iterable[Finding]:
        raise NotImplementedError

    def lost(self, serial: str, sh: Shell) -> Finding:
        return self.fail(sh.why(), resource=serial, observed=sh.problem, expected="the device answers",
                         remediation="check the cable / network and the phone's state; adb devices -l shows it now")


class AndroidInfo(PerDevice):
    meta = CheckMeta(
        id="device.adb.android",
        title="Each phone's Android version and model can be read",
        severity=Severity.MEDIUM,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="use a phone with Android 7.0 (API 24) or newer",
        docs=docs_link("device.adb.android"),
        description="getprop ro.build.version.release, ro.build.version.sdk and ro.product.model. Before "
                    "Android 7 adb shell returns no exit status, so failures on the phone look like success.",
        requires=(SERVER,),
    )

    def check_device(self, ctx: Context, serial: str, entry: DeviceEntry) -> Iterable[Finding]:
        sh = shell(ctx, serial, PROPS)
        if not sh.ok:
            yield self.lost(serial, sh)
            return
        props = parse_props(sh.stdout)
        if props is None:
            yield self.fail(f"{serial}: getprop gave an unexpected answer {sh.stdout[:80]!r}", resource=serial,
                            observed=sh.stdout[:80], expected="release, sdk, model")
            return
        observed = f"Android {props.release or '?'} (API {props.sdk or '?'}), {props.model or '?'}"
        if props.sdk is not None and props.sdk < MIN_SDK:
            yield self.warn(f"{serial}: {observed} is older than Android 7.0 (API 24)", resource=serial,
                            observed=observed, expected=f"API >= {MIN_SDK}")
            return
        yield self.passed(f"{serial}: {observed}", resource=serial, observed=observed, expected=f"API >= {MIN_SDK}")


class AdbKeyboard(PerDevice):
    meta = CheckMeta(
        id="device.adb.keyboard",
        title="ADB Keyboard is installed, enabled and selected on each phone",
        severity=Severity.HIGH,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="install ADBKeyboard.apk (github.com/senzhk/ADBKeyBoard releases): adb -s SERIAL install "
                    "ADBKeyboard.apk, then enable and select it: adb -s SERIAL shell ime enable "
                    f"{ADBKEYBOARD_IME}; adb -s SERIAL shell ime set {ADBKEYBOARD_IME}",
        docs=docs_link("device.adb.keyboard"),
        description="pm list packages com.android.adbkeyboard (filtered on the phone: no package list is "
                    "recorded), ime list -s (enabled IMEs), settings get secure default_input_method (selected).",
        requires=(SERVER,),
        fix="fix.adb.keyboard",
    )

    def check_device(self, ctx: Context, serial: str, entry: DeviceEntry) -> Iterable[Finding]:
        pkg = shell(ctx, serial, KEYBOARD_PACKAGE)
        if not pkg.ok:
            yield self.lost(serial, pkg)
            return
        if not package_listed(pkg.stdout, ADBKEYBOARD_PACKAGE):
            yield self.fail(f"{serial}: ADB Keyboard ({ADBKEYBOARD_PACKAGE}) is not installed: the agent cannot "
                            "type text (input text has no CJK)", resource=serial, observed="not installed",
                            expected=f"{ADBKEYBOARD_IME} selected").with_(fix_id=None)
            return
        enabled_sh = shell(ctx, serial, IME_ENABLED)
        selected_sh = shell(ctx, serial, IME_SELECTED)
        for sh in (enabled_sh, selected_sh):
            if not sh.ok:
                yield self.lost(serial, sh)
                return
        enabled = ime_ids(enabled_sh.stdout)
        selected = setting_value(selected_sh.stdout)
        observed = {"enabled": enabled, "selected": selected}
        if ADBKEYBOARD_IME not in enabled:
            yield self.fail(f"{serial}: ADB Keyboard is installed but not enabled as an input method "
                            f"(enabled: {', '.join(enabled) or 'none'})", resource=serial, observed=observed,
                            expected=f"{ADBKEYBOARD_IME} selected")
        elif selected != ADBKEYBOARD_IME:
            yield self.warn(f"{serial}: ADB Keyboard is enabled but {selected or 'no IME'} is selected: typing "
                            "goes to the other keyboard until the agent switches (ime set)", resource=serial,
                            observed=observed, expected=f"{ADBKEYBOARD_IME} selected")
        else:
            yield self.passed(f"{serial}: ADB Keyboard is installed, enabled and selected", resource=serial,
                              observed=observed, expected=f"{ADBKEYBOARD_IME} selected")


class Screen(PerDevice):
    meta = CheckMeta(
        id="device.adb.screen",
        title="Each phone's screen size is readable and the screen is awake and unlocked",
        severity=Severity.HIGH,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="wake and unlock the phone (adb shell input keyevent KEYCODE_WAKEUP, then unlock by hand); "
                    "for unattended use set Screen lock to None and Developer options > Stay awake",
        docs=docs_link("device.adb.screen"),
        description="wm size (the agent maps model coordinates onto it), mWakefulness from dumpsys power and "
                    "mKeyguardShowing from dumpsys activity (grep -o on the phone: only those fields are "
                    "recorded).",
        requires=(SERVER,),
    )

    def check_device(self, ctx: Context, serial: str, entry: DeviceEntry) -> Iterable[Finding]:
        size_sh = shell(ctx, serial, WM_SIZE)
        if not size_sh.ok:
            yield self.lost(serial, size_sh)
            return
        size = parse_wm_size(size_sh.stdout)
        if size is None:
            yield self.fail(f"{serial}: wm size is unreadable ({size_sh.stdout.strip()[:80]!r})", resource=serial,
                            observed=size_sh.stdout.strip()[:80], expected="Physical size: WxH",
                            remediation="reboot the phone; wm size failing means the window manager is not up")
            return
        screen_sh = shell(ctx, serial, SCREEN)
        if not screen_sh.ok and screen_sh.problem != "failed":  # grep finding nothing exits 1: parse anyway
            yield self.lost(serial, screen_sh)
            return
        state = parse_screen(screen_sh.stdout)
        shown = size[1] if size[0] == size[1] else f"{size[1]} (physical {size[0]})"
        observed = {"size": size[1], "wakefulness": state.wakefulness or "unknown",
                    "keyguard": {True: "showing", False: "hidden", None: "unknown"}[state.keyguard]}
        kw = dict(resource=serial, observed=observed, expected="awake, unlocked")
        if state.wakefulness and state.wakefulness != "Awake":
            yield self.fail(f"{serial}: screen {shown} is off ({state.wakefulness}): screenshots are black", **kw)
        elif state.keyguard:
            yield self.fail(f"{serial}: screen {shown} is locked (the lock screen is showing): the agent sees and "
                            "taps the lock screen", **kw)
        elif not state.wakefulness or state.keyguard is None:
            yield self.warn(f"{serial}: screen {shown}; whether it is awake and unlocked could not be read "
                            f"({screen_sh.stdout.strip()[:80]!r})", **kw)
        else:
            yield self.passed(f"{serial}: screen {shown}, awake and unlocked", **kw)


class Screenshot(PerDevice):
    meta = CheckMeta(
        id="device.adb.screencap",
        title="A screenshot makes the round trip from each phone to the agent",
        severity=Severity.HIGH,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="adb -s SERIAL exec-out screencap -p > /tmp/s.png by hand shows the error; apps with "
                    "FLAG_SECURE (banking, DRM) give black screenshots; on Xiaomi/MIUI enable 'USB debugging "
                    "(Security settings)'",
        docs=docs_link("device.adb.screencap"),
        description="adb exec-out screencap -p, counted with wc -c where the agent runs: the bytes cross the "
                    "ADB link, only their number is kept (no screenshot is ever stored or reported).",
        requires=(SERVER,),
    )

    def check_device(self, ctx: Context, serial: str, entry: DeviceEntry) -> Iterable[Finding]:
        size, detail = screenshot_bytes(ctx, serial)
        kw = dict(resource=serial, expected=f">= {MIN_SCREENSHOT} bytes of PNG")
        if size is None:
            yield self.fail(f"{serial}: the screenshot did not arrive: {detail}", observed="no answer", **kw)
        elif size < MIN_SCREENSHOT:
            extra = f": {detail}" if detail else ""
            yield self.fail(f"{serial}: the screenshot is {size} bytes, too small for a PNG of a screen{extra}",
                            observed=f"{size} bytes", **kw)
        else:
            yield self.passed(f"{serial}: a screenshot of {size} bytes came across", observed=f"{size} bytes", **kw)


CHECKS = (AndroidInfo, AdbKeyboard, Screen, Screenshot)
