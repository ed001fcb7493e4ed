"""Per-phone answers through ``adb -s SERIAL shell CMD``, each command reduced on the phone to what a check
decides on, and the parsers for them (robust to garbage: unexpected output is reported, never trusted).

A phone can vanish between two commands (cable pulled, TCP dropped, adbd restarted): the adb client then
fails with ``error: device 'X' not found`` / ``error: closed`` / ``error: device offline``. ``shell()``
tells that apart from the command itself failing on the phone, so checks report "stopped answering".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.facts.adb import DeviceEntry, adb_timeout, server_answer
from autoglm_doctor.targets.base import TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

PROPS = "getprop ro.build.version.release; getprop ro.build.version.sdk; getprop ro.product.model"
KEYBOARD_PACKAGE = "pm list packages com.android.adbkeyboard"
IME_ENABLED = "ime list -s"
IME_SELECTED = "settings get secure default_input_method"
WM_SIZE = "wm size"
SCREEN = ("dumpsys power | grep -o 'mWakefulness=[A-Za-z]*'; "
          "dumpsys activity activities | grep -o 'mKeyguardShowing=[a-z]*'")
WIRELESS_DEBUGGING = "settings get global adb_wifi_enabled"
# The screenshot crosses the ADB link (exec-out streams the PNG to the agent's side) and only its size is
# printed: wc -c is all that a recording holds. timeout keeps a hung transfer from outliving the check.
SCREENCAP = ('command -v timeout >/dev/null || { echo no-timeout; exit 0; }; '
             'timeout -k 2 "$2" adb -s "$1" exec-out "screencap -p" | wc -c')
MIN_SCREENSHOT = 1024
END = "autoglm-doctor-exit="  # a PNG of any phone screen, even all black, is larger

_GONE = re.compile(r"^(?:adb: )?error: (?:device '.*' not found|closed|device offline|no devices/emulators found|"
                   r"device unauthorized|device still authorizing|protocol fault.*|connection reset.*)", re.I | re.M)


@dataclass(frozen=True)
class Shell:
    command: str
    stdout: str
    problem: str = ""  # "" | gone | timed_out | failed
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem

    def why(self) -> str:
        return {"gone": f"the device stopped answering during the check ({self.detail})",
                "timed_out": f"`{self.command}` got no answer in time ({self.detail})",
                "failed": f"`{self.command}` failed on the device: {self.detail}"}.get(self.problem, "")


def wrapped(command: str) -> str:
    """What is sent: the command, then its exit status on a last line of its own. Without that line the
    answer was cut off (adb prints nothing and exits 0 when the phone goes away mid-command), and phones
    without shell protocol v2 (Android < 7) get an exit status too."""
    return f"{command}; echo {END}$?"


def shell(ctx: Context, serial: str, command: str) -> Shell:
    res = ctx.target.run(["adb", "-s", serial, "shell", wrapped(command)], timeout=adb_timeout(ctx))
    err = (res.stderr or "").strip()
    if res.timed_out:
        return Shell(command, res.stdout, "timed_out", f"no answer within {adb_timeout(ctx):g}s")
    m = _GONE.search(err)
    if res.not_found or (res.returncode != 0 and m):
        return Shell(command, res.stdout, "gone", m.group(0) if m else err[:200])
    body, sep, status = res.stdout.rpartition(END)
    status = status.strip()
    if not sep or not status.isdigit():
        return Shell(command, res.stdout, "gone", "the answer was cut off" + (f": {err[:160]}" if err else ""))
    if status != "0":
        return Shell(command, body, "failed", (err or body.strip())[:200] or f"exit {status}")
    return Shell(command, body)


def expected_devices(ctx: Context) -> list[tuple[str, DeviceEntry | None]]:
    """The profile's devices with their list entry (None: missing), else every listed device."""
    answer = ctx.fact(server_answer)
    if answer.devices is None:
        raise TargetError(f"no device list: adb devices -l failed ({answer.problem}: {answer.detail})")
    wanted = ctx.profile.get("devices") or []
    if wanted:
        return [(s, answer.devices.find(s)) for s in wanted]
    return [(e.serial, e) for e in answer.devices.entries]


# -- parsers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Props:
    release: str
    sdk: int | None
    model: str


def parse_props(text: str) -> Props | None:
    lines = [ln.strip() for ln in text.replace("\r", "").split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 3 or not re.fullmatch(r"[0-9A-Za-z.]{0,16}", lines[0]) or not re.fullmatch(r"\d{0,3}", lines[1]):
        return None
    return Props(lines[0], int(lines[1]) if lines[1] else None, lines[2][:80])


def package_listed(text: str, package: str) -> bool:
    return any(ln.strip() == f"package:{package}" for ln in text.splitlines())


def ime_ids(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if re.fullmatch(r"[\w.]+/[\w.$]+", ln.strip())]


def setting_value(text: str) -> str | None:
    value = text.strip()
    return None if value in ("", "null") else value[:200]


_SIZE = re.compile(r"^(Physical|Override) size: (\d{2,5})x(\d{2,5})\s*$", re.M)


def parse_wm_size(text: str) -> tuple[str, str] | None:
    """(physical, effective) as 'WxH'; None when neither line is there."""
    sizes = {kind: f"{w}x{h}" for kind, w, h in _SIZE.findall(text)}
    if "Physical" not in sizes:
        return None
    return sizes["Physical"], sizes.get("Override", sizes["Physical"])


@dataclass(frozen=True)
class ScreenState:
    wakefulness: str  # Awake, Asleep, Dozing, Dreaming; '' unknown
    keyguard: bool | None  # None unknown


def parse_screen(text: str) -> ScreenState:
    wake = re.findall(r"mWakefulness=([A-Za-z]+)", text)
    guard = re.findall(r"mKeyguardShowing=(true|false)", text)
    return ScreenState(wake[0] if wake else "", ("true" in guard) if guard else None)


def screenshot_bytes(ctx: Context, serial: str) -> tuple[int | None, str]:
    """Bytes of one screenshot taken through the ADB link, measured where the agent runs; (None, why)."""
    inner = max(1, int(adb_timeout(ctx)))
    res = ctx.target.run(["sh", "-c", SCREENCAP, "sh", serial, str(inner)], timeout=inner + 5)
    if res.timed_out:
        return None, f"no answer within {inner + 5}s"
    text = res.stdout.strip()
    if text == "no-timeout":
        return None, "no `timeout` command where the agent runs (coreutils or busybox): the screenshot was not tried"
    if not re.fullmatch(r"\d{1,12}", text):
        return None, f"unexpected answer {text[:60]!r} {(res.stderr or '').strip()[:120]}".strip()
    return int(text), (res.stderr or "").strip()[:200]
