"""What the ADB client says where the phone agent runs: its version, the server, the device list and
per-device answers, all through ``target.run`` so a snapshot records and replays them.

The agent drives phones with ``adb``: a client that talks to a per-user server (tcp:localhost:5037 unless
``ADB_SERVER_SOCKET`` / ``ANDROID_ADB_SERVER_PORT`` say otherwise), which holds one transport per phone
(USB, or TCP after ``adb connect``). The commands here are chosen so that what ``collect`` records is only
what the checks decide on: a filtered ``pm list packages``, ``grep -o`` of two dumpsys fields, and a
screenshot measured as a byte count by ``wc -c`` on the agent's side (the PNG itself is never kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autoglm_doctor.targets.base import CommandResult, GarbageValue, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

ADBKEYBOARD_PACKAGE = "com.android.adbkeyboard"
ADBKEYBOARD_IME = "com.android.adbkeyboard/.AdbIME"
STATES = ("device", "unauthorized", "offline", "no permissions", "connecting", "authorizing", "bootloader",
          "recovery", "sideload", "rescue", "host", "unknown", "detached")
_SERIAL_OK = re.compile(r"^[^\s\x00-\x1f'\"\\`$;|&<>]{1,255}$")
_ENDPOINT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


# profile keys (declared in autoglm_doctor/profile_schema.py): devices, adb_pairing, adb_timeout, agent_domain
def _devices(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _SERIAL_OK.match(v) for v in value):
        raise ValueError('must be a list of adb serials or host:port, e.g. ["R58M123ABC", "192.168.1.50:5555"]')
    return value


def _domain_name(value: str) -> str:
    if not re.fullmatch(r"[^/\x00-\x1f]{1,255}", value):
        raise ValueError(f"{value!r} is not a libvirt domain name")
    return value


def is_endpoint(serial: str) -> bool:
    """host:port (adb over TCP), as opposed to a USB serial or an mDNS service name."""
    m = _ENDPOINT.match(serial)
    return m is not None and 0 < int(m.group(1)) < 65536


def adb_timeout(ctx: Context) -> float:
    return float(ctx.profile.get("adb_timeout") or 10)


# -- adb version ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdbVersion:
    protocol: str  # "1.0.41"
    release: tuple[int, ...] | None  # platform-tools release (29, 0, 6); None when the client does not say
    text: str  # "29.0.6-debian"
    path: str = ""

    def at_least(self, release: tuple[int, ...]) -> bool | None:
        """True/False when known; None when only the protocol version is printed (before platform-tools 28)."""
        if self.release is not None:
            return self.release >= release
        return False if self.protocol and tuple(int(p) for p in self.protocol.split(".")) < (1, 0, 41) else None


def parse_version(text: str) -> AdbVersion:
    proto = re.search(r"^Android Debug Bridge version (\d+\.\d+\.\d+)\s*$", text, re.M)
    if proto is None:
        raise GarbageValue(f"`adb version` printed no 'Android Debug Bridge version X.Y.Z' line: {text[:80]!r}")
    rel = re.search(r"^Version (\d+)\.(\d+)\.(\d+)(\S*)\s*$", text, re.M)
    path = re.search(r"^Installed as (\S.*?)\s*$", text, re.M)
    release = tuple(int(rel.group(i)) for i in (1, 2, 3)) if rel else None
    shown = f"{rel.group(1)}.{rel.group(2)}.{rel.group(3)}{rel.group(4)}" if rel else ""
    return AdbVersion(proto.group(1), release, shown, path.group(1) if path else "")


# -- adb devices -l ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceEntry:
    serial: str
    state: str
    usb: str = ""  # usb:1-2 -> "1-2" (the sysfs name of the USB device)
    props: dict[str, str] = field(default_factory=dict)  # product, model, device, transport_id

    @property
    def label(self) -> str:
        model = self.props.get("model", "").replace("_", " ")
        return f"{self.serial} ({model})" if model else self.serial


_LINE = re.compile(r"^(?P<serial>\S+)\s+(?P<state>" + "|".join(re.escape(s) for s in STATES) + r")(?P<rest>(?:\s.*)?)$")


@dataclass(frozen=True)
class DeviceList:
    entries: tuple[DeviceEntry, ...]
    garbage: tuple[str, ...] = ()  # lines that are not a device line

    def find(self, serial: str) -> DeviceEntry | None:
        for e in self.entries:
            if e.serial == serial:
                return e
        return None


def parse_devices(text: str) -> DeviceList:
    """``adb devices -l``: a header, then ``SERIAL  STATE [usb:1-2] [key:value ...]``. Daemon start-up
    notes (``* daemon ...``) are skipped; anything else that is not a device line is kept as garbage."""
    lines = [ln.rstrip("\r") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip() and not ln.startswith("* ")]
    if not lines or lines[0].strip() != "List of devices attached":
        raise GarbageValue(f"`adb devices -l` printed no 'List of devices attached' header: {text[:80]!r}")
    entries, garbage = [], []
    for line in lines[1:]:
        m = _LINE.match(line.strip())
        if m is None:
            garbage.append(line[:120])
            continue
        rest = m.group("rest")
        usb = re.search(r"(?:^|\s)usb:(\S+)", rest)
        props = dict(re.findall(r"(?:^|\s)(product|model|device|transport_id):(\S+)", rest))
        entries.append(DeviceEntry(m.group("serial"), m.group("state"), usb.group(1) if usb else "", props))
    return DeviceList(tuple(entries), tuple(garbage))


# -- the server -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerAnswer:
    """``adb devices -l`` as run where the agent runs: the list, or why there is none."""

    problem: str  # "" | not_installed | timed_out | port_in_use | not_adb | version_clash | cannot_start | error
    detail: str = ""
    devices: DeviceList | None = None
    notes: tuple[str, ...] = ()


def classify_server(result: CommandResult) -> ServerAnswer:
    err = (result.stderr or "").strip()
    notes = tuple(ln.strip() for ln in (result.stderr + "\n" + result.stdout).splitlines()
                  if "doesn't match this client" in ln or "server version" in ln)
    if result.not_found:
        return ServerAnswer("not_installed", err)
    if result.timed_out:
        return ServerAnswer("timed_out", err)
    if result.returncode != 0:
        low = err.lower()
        if "address already in use" in low or "cannot bind" in low:
            return ServerAnswer("port_in_use", err)
        if "protocol fault" in low or "unexpected" in low:
            return ServerAnswer("not_adb", err)
        if "failed to start daemon" in low or "cannot connect to daemon" in low:
            return ServerAnswer("cannot_start", err)
        return ServerAnswer("error", err or result.stdout.strip()[:200])
    devices = parse_devices(result.stdout)  # GarbageValue -> error finding naming the command
    return ServerAnswer("version_clash" if notes else "", err, devices, notes)


ENV_PROBE = ('for v in ADB_SERVER_SOCKET ANDROID_ADB_SERVER_ADDRESS ANDROID_ADB_SERVER_PORT; do '
             'eval "x=\\${$v-}"; [ -n "$x" ] && echo "$v=$x"; done; true')


def server_env(ctx: Context) -> dict[str, str]:
    """The adb server variables set in the agent's environment (only those three are read)."""
    res = ctx.target.run(["sh", "-c", ENV_PROBE], timeout=adb_timeout(ctx))
    out = {}
    for line in res.stdout.splitlines() if res.ok else ():
        key, sep, value = line.partition("=")
        if sep and key in ("ADB_SERVER_SOCKET", "ANDROID_ADB_SERVER_ADDRESS", "ANDROID_ADB_SERVER_PORT"):
            out[key] = value.strip()
    return out


def server_answer(ctx: Context) -> ServerAnswer:
    return classify_server(ctx.target.run(["adb", "devices", "-l"], timeout=adb_timeout(ctx)))


def adb_version(ctx: Context) -> AdbVersion | None:
    res = ctx.target.run(["adb", "version"], timeout=adb_timeout(ctx))
    if res.not_found:
        return None
    if res.timed_out:
        raise TargetError(f"`adb version` did not answer within {adb_timeout(ctx):g}s")
    return parse_version(res.stdout)
