"""Network interfaces as the kernel shows them in sysfs, and their addresses.

Everything about links comes from /sys/class/net (a snapshot replays it): the class entry is a relative
link into /sys/devices (``../../devices/virtual/net/br0`` for software devices, a PCI path for NICs),
``bridge/`` exists only on bridges, ``brif/`` lists a bridge's ports, ``master`` links a port to its bridge.
Bridge timers are in clock_t units (USER_HZ = 100): ``forward_delay`` 1500 means 15 s.

Addresses come from ``ip -j addr show`` run through the Target: sysfs has no addresses and psutil would
read only the machine the doctor runs on, while a command result is recorded into a snapshot and replayed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.targets.base import NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target

SYS_NET = "/sys/class/net"
USER_HZ = 100
UPLINK_KINDS = ("physical", "bond", "team", "vlan")


def _ifname(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 15 or "/" in value or " " in value:
        raise ValueError(f"{value!r} is not a network interface name (1-15 characters, no '/' or spaces)")
    return value


def _network_mode(value: Any) -> str:
    if value not in ("bridged", "nat"):
        raise ValueError(f"{value!r} is not 'bridged' or 'nat'")
    return str(value)


def _vlans(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise ValueError("must be a list of VLAN ids")
    for vid in value:
        if isinstance(vid, bool) or not isinstance(vid, int) or not 1 <= vid <= 4094:
            raise ValueError(f"VLAN id {vid!r} is not an integer in 1..4094")
    return sorted(set(value))


@dataclass(frozen=True)
class Interface:
    name: str
    device_path: str  # what /sys/class/net/NAME points at, e.g. ../../devices/virtual/net/br0
    kind: str  # physical, bridge, bond, team, vlan, tap, wlan, virtual (veth, dummy, ... )
    operstate: str
    admin_up: bool
    carrier: bool | None  # None: unknown (the link is administratively down)
    mtu: int
    master: str | None = None  # the bridge (or bond) this interface is enslaved to
    bridge: dict[str, int] = field(default_factory=dict)  # bridge/ attributes (bridges only)
    ports: tuple[str, ...] = ()  # brif/ entries (bridges only)
    stp_state: str | None = None  # a bridge port's STP state (brport/state): listening, learning, forwarding, ...

    @property
    def is_bridge(self) -> bool:
        return self.kind == "bridge"

    @property
    def virtual(self) -> bool:
        return "/devices/virtual/" in self.device_path

    @property
    def is_uplink_kind(self) -> bool:
        return self.kind in UPLINK_KINDS

    def describe(self) -> str:
        carrier = {True: "carrier", False: "no carrier", None: "carrier unknown"}[self.carrier]
        stp = f", STP {self.stp_state}" if self.stp_state not in (None, "forwarding", "disabled") else ""
        return f"{self.name} ({self.kind}, {self.operstate}, {carrier}{stp}, mtu {self.mtu})"


def _int(text: str, path: str, base: int = 10) -> int:
    try:
        return int(text.strip(), base)
    except ValueError:
        raise GarbageValue(f"{path}: {text.strip()[:40]!r} is not a number") from None


def _read_optional(target: Target, path: str) -> str | None:
    """sysfs files that return EINVAL in some states (carrier on a down link) read as unknown."""
    try:
        return target.read_text(path)
    except TargetError as exc:
        if type(exc) is TargetError and "Invalid argument" in str(exc):
            return None
        raise


def _kind(target: Target, name: str, base: str, device_path: str, devtype: str) -> str:
    if devtype in ("bridge", "bond", "team", "vlan", "wlan"):
        return devtype
    if target.stat(f"{base}/bridge") is not None:
        return "bridge"
    if target.stat(f"{base}/bonding") is not None:
        return "bond"
    if target.stat(f"{base}/tun_flags") is not None:
        return "tap"
    if "/devices/virtual/" not in device_path:
        return "physical"
    return "virtual"


def read_interface(target: Target, name: str) -> Interface | None:
    """One interface from sysfs, or None when it does not exist."""
    base = f"{SYS_NET}/{name}"
    device_path = target.readlink(base)
    if device_path is None:
        if target.stat(base) is None:
            return None
        device_path = ""
    uevent = target.read_text(f"{base}/uevent") or ""
    devtype = next((ln.split("=", 1)[1].strip() for ln in uevent.splitlines() if ln.startswith("DEVTYPE=")), "")
    kind = _kind(target, name, base, device_path, devtype)
    operstate = (target.read_text(f"{base}/operstate") or "unknown").strip()
    flags_text = target.read_text(f"{base}/flags")
    admin_up = bool(_int(flags_text, f"{base}/flags", 16) & 0x1) if flags_text else operstate == "up"
    carrier_text = _read_optional(target, f"{base}/carrier") if admin_up else None
    carrier = None if not carrier_text else _int(carrier_text, f"{base}/carrier") == 1
    mtu_text = target.read_text(f"{base}/mtu")
    mtu = _int(mtu_text, f"{base}/mtu") if mtu_text else 0
    master_link = target.readlink(f"{base}/master")
    master = master_link.rstrip("/").rsplit("/", 1)[-1] if master_link else None
    bridge: dict[str, int] = {}
    ports: tuple[str, ...] = ()
    if kind == "bridge":
        for attr in ("stp_state", "forward_delay", "vlan_filtering", "nf_call_iptables", "nf_call_ip6tables",
                     "nf_call_arptables", "hello_time", "max_age"):
            text = target.read_text(f"{base}/bridge/{attr}")
            if text is not None:
                bridge[attr] = _int(text, f"{base}/bridge/{attr}")
        ports = tuple(sorted(target.listdir(f"{base}/brif") or []))
    return Interface(name, device_path, kind, operstate, admin_up, carrier, mtu, master, bridge, ports,
                     _port_state(target, base) if master else None)


# include/uapi/linux/if_bridge.h BR_STATE_*: a port forwards only in state 3
PORT_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}


def _port_state(target: Target, base: str) -> str | None:
    """The STP state of a bridge port (brport/state), or None when it is not a bridge port or not recorded."""
    try:
        text = target.read_text(f"{base}/brport/state")
    except NotCaptured:  # a snapshot recorded before this was read
        return None
    if text is None or not text.strip().isdigit():
        return None
    return PORT_STATES.get(int(text.strip()), text.strip())


def interface_names(ctx: Context) -> list[str]:
    names = ctx.target.listdir(SYS_NET)
    if names is None:
        raise TargetError(f"{SYS_NET} is absent: is sysfs mounted?")
    return names


def vlan_id(ctx: Context, name: str) -> int | None:
    """The VLAN id of a VLAN sub-interface (/proc/net/vlan/NAME: 'eth0.100  VID: 100  REORDER_HDR: 1 ...')."""
    text = ctx.target.read_text(f"/proc/net/vlan/{name}")
    if not text:
        return None
    for token_pair in zip(text.split(), text.split()[1:]):
        if token_pair[0] == "VID:":
            return _int(token_pair[1], f"/proc/net/vlan/{name}")
    return None


@dataclass(frozen=True)
class Address:
    interface: str
    family: str  # inet or inet6
    address: str
    prefixlen: int
    scope: str  # global, link, host

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"


def parse_ip_addr_json(text: str, where: str = "ip -j addr show") -> dict[str, list[Address]]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise GarbageValue(f"{where}: not JSON ({exc})") from exc
    if not isinstance(data, list):
        raise GarbageValue(f"{where}: expected a JSON list of interfaces")
    out: dict[str, list[Address]] = {}
    for link in data:
        if not isinstance(link, dict) or not isinstance(link.get("ifname"), str):
            continue  # 'ip' prints {} for links it cannot describe
        name = link["ifname"].split("@", 1)[0]
        addrs = out.setdefault(name, [])
        for info in link.get("addr_info") or []:
            if not isinstance(info, dict) or "local" not in info:
                continue
            addrs.append(Address(name, str(info.get("family", "")), str(info["local"]),
                                 int(info.get("prefixlen", 0)), str(info.get("scope", ""))))
    return out


ADDR_ARGV = ("ip", "-j", "addr", "show")


def addresses(ctx: Context) -> dict[str, list[Address]]:
    """Addresses per interface, from iproute2 through the Target (recorded into snapshots)."""
    result = ctx.target.run(ADDR_ARGV)
    if result.not_found:
        raise TargetError("'ip' (iproute2) is not installed: cannot list addresses")
    if not result.ok:
        raise TargetError(f"'{' '.join(ADDR_ARGV)}' failed (exit {result.returncode}): {result.stderr.strip()[:200]}")
    return parse_ip_addr_json(result.stdout)


def seconds(clock_t: int) -> float:
    return clock_t / USER_HZ
