"""How libvirt guests attach to the network: <interface> elements of every domain (parsed by facts.domain)
and the libvirt networks they name, read through the libvirt adapter (recordable). Which host bridges matter
comes from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autoglm_doctor.facts.domain import parse_domain, parse_xml
from autoglm_doctor.facts.net import Interface, read_interface
from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context


@dataclass(frozen=True)
class GuestInterface:
    domain: str
    type: str  # bridge, network, direct, user, ...
    source: str  # bridge name, network name, or macvtap device
    mac: str = ""

    @property
    def label(self) -> str:
        return f"{self.domain}:{self.mac or self.source}"


@dataclass(frozen=True)
class LibvirtNetwork:
    name: str
    active: bool
    forward_mode: str  # nat, route, open, bridge, passthrough, ... ; '' = isolated
    bridge: str  # <bridge name='virbr0'/> (or the host bridge for forward mode='bridge')


@dataclass(frozen=True)
class VmNetworking:
    available: bool
    reason: str = ""  # why libvirt could not be asked
    interfaces: tuple[GuestInterface, ...] = ()
    networks: dict[str, LibvirtNetwork] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # domain/network XML that could not be parsed

    def bridges(self) -> dict[str, list[str]]:
        """Host bridges guests attach to -> the guest interfaces that use them."""
        out: dict[str, list[str]] = {}
        for iface in self.interfaces:
            bridge = ""
            if iface.type == "bridge":
                bridge = iface.source
            elif iface.type == "network":
                net = self.networks.get(iface.source)
                if net is not None and net.forward_mode == "bridge" and net.bridge:
                    bridge = net.bridge
            if bridge:
                out.setdefault(bridge, []).append(iface.label)
        return out


def parse_domain_interfaces(name: str, xml: str) -> list[GuestInterface]:
    """The domain's <interface>s, from the one domain parser (facts.domain)."""
    return [GuestInterface(name, i.type, i.source, i.mac) for i in parse_domain(xml, name).interfaces]


def parse_network(xml: str, active: bool) -> LibvirtNetwork:
    root = parse_xml(xml, "network")
    name = (root.findtext("name") or "").strip()
    fwd = root.find("forward")
    mode = "" if fwd is None else fwd.get("mode", "nat")  # <forward/> without mode means NAT
    br = root.find("bridge")
    return LibvirtNetwork(name, active, mode, br.get("name", "") if br is not None else "")


def vm_networking(ctx: Context) -> VmNetworking:
    try:
        lv = ctx.target.adapter("libvirt")
        domains = lv.domains()
    except AdapterUnavailable as exc:
        return VmNetworking(False, f"libvirt unavailable ({exc})")
    except NotCaptured as exc:
        return VmNetworking(False, f"libvirt domains not captured ({exc})")
    except TargetError as exc:
        return VmNetworking(False, f"libvirt error ({exc})")
    problems: list[str] = []
    interfaces: list[GuestInterface] = []
    for dom in domains or []:
        try:
            interfaces += parse_domain_interfaces(str(dom.get("name", "?")), str(dom.get("xml", "")))
        except ValueError as exc:
            problems.append(str(exc))
    networks: dict[str, LibvirtNetwork] = {}
    try:
        for net in lv.networks() or []:
            try:
                parsed = parse_network(str(net.get("xml", "")), bool(net.get("active")))
            except ValueError as exc:
                problems.append(f"network {net.get('name', '?')}: {exc}")
                continue
            networks[parsed.name or str(net.get("name"))] = parsed
    except (AdapterUnavailable, TargetError) as exc:
        problems.append(f"libvirt networks could not be listed ({exc})")
    return VmNetworking(True, "", tuple(interfaces), networks, tuple(problems))


@dataclass(frozen=True)
class BridgeSet:
    names: tuple[str, ...]
    why: dict[str, str]  # bridge -> why it is checked
    note: str = ""  # e.g. libvirt unavailable: only the profile's bridge


def bridges_to_check(ctx: Context) -> BridgeSet:
    """The profile's bridge (unless network_mode is 'nat' and no bridge was named) and every host bridge
    a libvirt guest attaches to, directly or through a libvirt network with <forward mode='bridge'/>."""
    profile_bridge = ctx.profile.get("bridge")
    why: dict[str, str] = {}
    if ctx.profile.get("network_mode") == "bridged" or ctx.profile.is_set("bridge"):
        why[profile_bridge] = "profile.bridge"
    vm = ctx.fact(vm_networking)
    note = ""
    if not vm.available:
        note = f"{vm.reason}: checking only the profile's bridge {profile_bridge}" if why else vm.reason
    else:
        for bridge, users in vm.bridges().items():
            used = "used by " + ", ".join(users)
            why[bridge] = f"{why[bridge]}; {used}" if bridge in why else used
    return BridgeSet(tuple(why), why, note)


@dataclass(frozen=True)
class BridgeView:
    name: str
    why: str
    iface: Interface | None  # None: no such interface
    ports: dict[str, Interface] = field(default_factory=dict)
    error: str = ""  # sysfs could not be read for this bridge

    @property
    def usable(self) -> bool:
        return self.iface is not None and self.iface.is_bridge and not self.error


def bridge_views(ctx: Context) -> dict[str, BridgeView]:
    out = {}
    for name, why in ctx.fact(bridges_to_check).why.items():
        try:
            iface = read_interface(ctx.target, name)
            ports = {}
            if iface is not None and iface.is_bridge:
                for port in iface.ports:
                    info = read_interface(ctx.target, port)
                    if info is not None:
                        ports[port] = info
            out[name] = BridgeView(name, why, iface, ports)
        except NotCaptured:
            raise
        except TargetError as exc:
            out[name] = BridgeView(name, why, None, {}, error=str(exc))
    return out
