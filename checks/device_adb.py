"""The ADB path from the phone agent to its phones: the adb client, its server, and the device list.

Open-AutoGLM's phone agent does everything through ``adb``: ``adb devices`` must list each phone in state
``device``. The other states each have one cause: ``unauthorized`` (the phone has not accepted this
server's RSA key: the prompt on the phone), ``offline`` (the transport exists but the phone's adbd does not
answer: a stale USB/TCP connection), ``no permissions`` (Linux: the user cannot open /dev/bus/usb/BBB/DDD;
a udev rule for the phone's vendor id and the plugdev group fix it). These checks run where the agent runs
(the host, the agent's VM or its container) and read only through ``target.run``.
"""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.adb import adb_version, is_endpoint, server_answer, server_env
from autoglm_doctor.facts.adb_device import WIRELESS_DEBUGGING, expected_devices, setting_value, shell
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity

SCOPE = (Scope.DEVICE,)
RUNS_ON = (Scope.HOST, Scope.GUEST, Scope.CONTAINER)
INSTALLED, SERVER, DEVICES = "device.adb.installed", "device.adb.server", "device.adb.devices"
INSTALL = ("install Android platform-tools where the agent runs: apt-get install adb (Debian/Ubuntu), "
           "dnf install android-tools (Fedora), or unpack platform-tools from developer.android.com and put it "
           "on PATH")
PAIRING_RELEASE = (30, 0, 0)


class AdbInstalled(Check):
    meta = CheckMeta(
        id=INSTALLED,
        title="adb (Android platform-tools) is installed where the agent runs",
        severity=Severity.CRITICAL,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation=INSTALL,
        docs=docs_link(INSTALLED),
        description="`adb version` answers; with profile.adb_pairing, platform-tools 30.0.0 or newer (the first "
                    "release with `adb pair` for Android 11 wireless debugging).",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        version = ctx.fact(adb_version)
        if version is None:
            yield self.fail("adb is not installed (not on PATH)", resource="adb", observed="absent",
                            expected="adb on PATH")
            return
        shown = version.text or f"protocol {version.protocol} (release not printed: before platform-tools 28)"
        where = f" at {version.path}" if version.path else ""
        observed = f"adb {shown}{where}"
        if ctx.profile.get("adb_pairing"):
            new_enough = version.at_least(PAIRING_RELEASE)
            if new_enough is not True:
                yield self.fail(f"{observed}: wireless-debugging pairing (`adb pair`, Android 11+) needs "
                                "platform-tools 30.0.0 or newer", resource="adb", observed=observed,
                                expected=">= 30.0.0 (adb pair)",
                                remediation="install current platform-tools from developer.android.com (the "
                                            "distribution's adb package can be older than 30.0.0)")
                return
        yield self.passed(observed, resource="adb", observed=observed,
                          expected=">= 30.0.0 (adb pair)" if ctx.profile.get("adb_pairing") else "adb on PATH")


_SERVER_WHY = {
    "timed_out": "`adb devices` did not answer: something holds the server port without answering (a hung "
                 "adb server, or another program)",
    "port_in_use": "the adb server cannot start: its port is taken by another program",
    "not_adb": "what answers on the adb server port does not speak the adb server protocol",
    "cannot_start": "the adb server is not running and cannot be started",
    "error": "`adb devices` failed",
}
_SERVER_FIX = {
    "timed_out": "find what holds the port (ss -ltnp 'sport = :5037'), stop it or the hung server "
                 "(adb kill-server, else kill it), or give this agent its own ADB_SERVER_SOCKET=tcp:localhost:PORT",
    "port_in_use": "ss -ltnp 'sport = :5037' names the program; stop it or set ADB_SERVER_SOCKET=tcp:localhost:PORT "
                   "(same value for the agent and every adb it runs)",
    "not_adb": "ss -ltnp names the program on the port; move it or set ADB_SERVER_SOCKET to a free port",
}


class AdbServer(Check):
    meta = CheckMeta(
        id=SERVER,
        title="The adb server is running or can start, on a port of its own",
        severity=Severity.CRITICAL,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="adb kill-server; adb start-server, and read its log (/tmp/adb.UID.log)",
        docs=docs_link(SERVER),
        description="`adb devices -l` starts the server when it is not running. A port held by another program, "
                    "a silent listener (the client hangs), and two different adb versions killing each other's "
                    "server (\"adb server version (N) doesn't match this client\") are told apart; "
                    "ADB_SERVER_SOCKET / ANDROID_ADB_SERVER_PORT in the agent's environment are shown.",
        requires=(INSTALLED,),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        env = ctx.fact(server_env)
        where = ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "default tcp:localhost:5037"
        answer = ctx.fact(server_answer)
        resource = env.get("ADB_SERVER_SOCKET") or (f"tcp:localhost:{env['ANDROID_ADB_SERVER_PORT']}"
                                                    if "ANDROID_ADB_SERVER_PORT" in env else "tcp:localhost:5037")
        if answer.devices is None:
            why = _SERVER_WHY.get(answer.problem, _SERVER_WHY["error"])
            yield self.fail(f"{why} ({where}): {answer.detail or 'no output'}", resource=resource,
                            observed=answer.problem, expected="adb devices -l answers",
                            remediation=_SERVER_FIX.get(answer.problem, self.meta.remediation))
            return
        n = len(answer.devices.entries)
        if answer.problem == "version_clash":
            yield self.warn(f"two adb versions share the server at {where}: {'; '.join(answer.notes)}; each one "
                            "kills the other's server, dropping every phone connection the agent holds",
                            resource=resource, observed="; ".join(answer.notes), expected="one adb version",
                            remediation="use one platform-tools for everything on this machine (remove the "
                                        "other adb from PATH), or give each its own ADB_SERVER_SOCKET")
            return
        yield self.passed(f"adb server answers at {where}; {n} device{'s' if n != 1 else ''} listed",
                          resource=resource, observed=f"{n} listed", expected="adb devices -l answers")


_STATE = {
    "unauthorized": ("the phone has not accepted this adb server's RSA key",
                     "unlock the phone and accept 'Allow USB debugging?' (tick 'Always allow'); no prompt: revoke "
                     "USB debugging authorizations in Developer options, then adb kill-server and reconnect"),
    "offline": ("the connection exists but the phone's adbd does not answer (stale USB/TCP transport)",
                "adb reconnect offline (or unplug/replug; over TCP: adb disconnect HOST:PORT; adb connect HOST:PORT)"),
    "no permissions": ("this user cannot open the phone's /dev/bus/usb node",
                       "install a udev rule for the phone's USB vendor id (MODE=0660, GROUP=plugdev, "
                       "TAG+=uaccess), add the agent's user to plugdev, replug the phone and restart the adb server"),
    "authorizing": ("the phone is still authorizing this server's key", "wait a few seconds and run again"),
    "connecting": ("the server is still connecting to the phone", "wait a few seconds and run again"),
}
MISSING_FIX = ("USB: plug the phone in with a data cable, enable Developer options > USB debugging, pick 'File "
               "transfer' USB mode; VM: pass the phone's USB device to the VM (device.usb.passthrough). TCP: "
               "adb connect HOST:PORT (wireless debugging: adb pair first)")


class AdbDevices(Check):
    meta = CheckMeta(
        id=DEVICES,
        title="The expected phones are listed by adb in state 'device'",
        severity=Severity.CRITICAL,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation=MISSING_FIX,
        docs=docs_link(DEVICES),
        description="profile.devices (serials or host:port) must each be listed as 'device'; unset, at least "
                    "one device. unauthorized, offline, no permissions and missing each get their own finding "
                    "and remedy.",
        requires=(SERVER,),
        fix="fix.adb.reconnect",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        items = ctx.fact(expected_devices)
        listing = ctx.fact(server_answer).devices
        garbage = listing.garbage if listing else ()
        if garbage:
            yield self.warn(f"`adb devices -l` printed {len(garbage)} line(s) that are not a device line: "
                            f"{garbage[0]!r}", resource="adb devices", observed=list(garbage[:5]),
                            expected="SERIAL STATE [key:value ...]",
                            remediation="run adb devices -l by hand; a wrapper script or a second adb on PATH "
                                        "can print this")
        if not items:
            yield self.fail("no Android device is attached (adb devices -l lists none)", resource="devices",
                            observed="none", expected="at least one device in state 'device'").with_(fix_id=None)
            return
        for serial, entry in items:
            if entry is None:
                missing = self.fail(f"{serial} is not listed by adb devices", resource=serial, observed="missing",
                                    expected="device")
                yield missing if is_endpoint(serial) else missing.with_(fix_id=None)
            elif entry.state == "device":
                yield self.passed(f"{entry.label} is connected and authorized", resource=serial, observed="device",
                                  expected="device")
            else:
                why, fix = _STATE.get(entry.state, (f"state {entry.state!r}: not usable by the agent",
                                                    "reboot the phone into Android"))
                usb = f" (USB {entry.usb})" if entry.usb else ""
                finding = self.fail(f"{entry.label}{usb} is {entry.state}: {why}", resource=serial,
                                    observed=entry.state if not entry.usb else f"{entry.state} usb:{entry.usb}",
                                    expected="device", remediation=fix)
                if entry.state == "no permissions":
                    finding = finding.with_(fix_id="fix.adb.udev_rule")
                elif entry.state != "offline":
                    finding = finding.with_(fix_id=None)
                yield finding


PROBE = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1],int(sys.argv[2])),3).close()\n"
         " print('open')\nexcept OSError as e:\n print('closed',e)")


class AdbNetwork(Check):
    meta = CheckMeta(
        id="device.adb.network",
        title="Phones over TCP: reachable, and not exposed as plaintext ADB on the LAN",
        severity=Severity.HIGH,
        scope=SCOPE,
        runs_on=RUNS_ON,
        remediation="prefer USB or wireless debugging (Android 11+, adb pair: TLS); for adb tcpip keep the phone "
                    "on an isolated network or VLAN and firewall port 5555 to the agent's address",
        docs=docs_link("device.adb.network"),
        description="For host:port devices: reachable from the agent's network namespace when not connected "
                    "(TCP connect from where the agent runs); connected ones are checked for wireless debugging "
                    "(settings global adb_wifi_enabled: TLS after pairing) versus legacy adb tcpip, which is "
                    "plaintext and unauthenticated to anyone on the LAN once a key was accepted.",
        requires=(SERVER,),
        fix="fix.adb.reconnect",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        items = [(s, e) for s, e in ctx.fact(expected_devices) if is_endpoint(s) or "._adb-tls-connect." in s]
        if not items:
            yield self.skip("no phone is reached over TCP (no host:port device)", resource="tcp")
            return
        for serial, entry in items:
            if "._adb-tls-connect." in serial:
                yield self.passed(f"{serial} is a wireless-debugging (TLS, paired) connection found by mDNS",
                                  resource=serial, observed="tls", expected="TLS or isolated network")
            elif entry is not None and entry.state == "device":
                yield from self._connected(ctx, serial)
            else:
                yield self._reach(ctx, serial, entry.state if entry else "missing")

    def _connected(self, ctx: Context, serial: str) -> Iterable[Finding]:
        sh = shell(ctx, serial, WIRELESS_DEBUGGING)
        if not sh.ok:
            yield self.fail(sh.why(), resource=serial, observed=sh.problem, expected="answers")
            return
        value = setting_value(sh.stdout)
        if value == "1":
            yield self.passed(f"{serial}: wireless debugging is on (adb over TLS, paired with adb pair)",
                              resource=serial, observed="adb_wifi_enabled=1", expected="TLS or isolated network")
            return
        yield self.warn(f"{serial}: adb over plain TCP (adb tcpip; adb_wifi_enabled={value or 'unset'}): the link "
                        "is unencrypted and the port accepts connections from anyone on the LAN",
                        resource=serial, observed=f"adb_wifi_enabled={value or 'unset'}",
                        expected="TLS or isolated network")

    def _reach(self, ctx: Context, serial: str, state: str) -> Finding:
        host, _, port = serial.rpartition(":")
        host = host.strip("[]")
        res = ctx.target.run(["python3", "-c", PROBE, host, port], timeout=10)
        if res.not_found:
            res = ctx.target.run(["nc", "-z", "-w", "3", host, port], timeout=10)
            if res.not_found:
                return self.skip(f"{serial} is {state}; neither python3 nor nc is there to test the TCP path",
                                 resource=serial)
            text = "open" if res.ok else f"closed {res.stderr.strip()[:120]}"
        else:
            text = res.stdout.strip() or f"closed {res.stderr.strip()[:120]}"
        if text.startswith("open"):
            return self.fail(f"{serial} is {state} in adb but its port answers from here: adb connect {serial}",
                             resource=serial, observed=f"{state}, port open", expected="device",
                             remediation=f"adb connect {serial}")
        reason = text.partition(" ")[2] or "no answer"
        return self.fail(f"{serial} is {state} and not reachable from where the agent runs ({reason})",
                         resource=serial, observed=f"{state}, port closed", expected="device",
                         remediation="check the phone's IP (it changes with DHCP: reserve it), that it is on the "
                                     "same network, that wireless debugging / adb tcpip 5555 is still on (both stop "
                                     "on reboot), and firewalls between the agent and the phone").with_(fix_id=None)


CHECKS = (AdbInstalled, AdbServer, AdbDevices, AdbNetwork)
