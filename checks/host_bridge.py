"""Host bridge readiness: the bridge the AutoGLM VM sits on, and every bridge a libvirt guest uses.

Read from sysfs (/sys/class/net/BR, bridge/, brif/) and ``ip -j addr show``; see docs/network.md.
"""

from __future__ import annotations

import json
from typing import Iterable, Iterator

from autoglm_doctor.check import Context, docs_link
from autoglm_doctor.facts.net import addresses, seconds, vlan_id
from autoglm_doctor.facts.vmnet import BridgeView, bridges_to_check
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import PerBridge

STP_NAMES = {0: "off", 1: "on (kernel STP)", 2: "on (user-space STP daemon)"}


def _meta(cid: str, title: str, severity: Severity, remediation: str, description: str,
          fix: str | None = None) -> CheckMeta:
    return CheckMeta(id=cid, title=title, severity=severity, scope=(Scope.HOST,), remediation=remediation,
                     docs=docs_link(cid), description=description, fix=fix)


class BridgePresent(PerBridge):
    meta = _meta(
        "host.bridge.present", "The host bridge exists and is a Linux bridge", Severity.CRITICAL,
        "create the bridge persistently (netplan 'bridges:', nmcli con add type bridge, ifupdown 'bridge_ports', "
        "or a systemd-networkd .netdev with Kind=bridge), enslave the LAN NIC and move the host's IP to it",
        "Every bridge named by profile.bridge or a libvirt guest's <interface type='bridge'> must exist in "
        "/sys/class/net with a bridge/ directory.",
    )

    def _suffix(self, ctx: Context) -> str:
        note = ctx.fact(bridges_to_check).note
        return f" ({note})" if note else ""

    def absent(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        if view.iface is None:
            yield self.fail(f"{view.name} ({view.why}) does not exist{self._suffix(ctx)}", resource=view.name,
                            observed="absent", expected="a Linux bridge")
        else:
            yield self.fail(f"{view.name} ({view.why}) exists but is a {view.iface.kind} interface, not a bridge: "
                            "guests attached with <interface type='bridge'> cannot start", resource=view.name,
                            observed=view.iface.kind, expected="bridge")

    def judge(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        assert view.iface is not None  # usable
        ports = ", ".join(view.iface.ports) or "no ports"
        yield self.passed(f"{view.name} ({view.why}) is a bridge ({ports}){self._suffix(ctx)}", resource=view.name,
                          observed="bridge", expected="bridge")


class BridgeLinkUp(PerBridge):
    meta = _meta(
        "host.bridge.link_up", "The bridge is up", Severity.HIGH,
        "ip link set BRIDGE up (and make the network configuration bring it up at boot)",
        "IFF_UP in /sys/class/net/BR/flags and operstate: a bridge that is administratively down, or up without "
        "carrier because none of its ports forwards, passes no guest traffic.", fix="fix.net.bridge_up",
    )

    def judge(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        br = view.iface
        assert br is not None
        if not br.admin_up:
            yield self.fail(f"{br.name} is administratively down (operstate {br.operstate})", resource=br.name,
                            observed="down", expected="up",
                            remediation=f"ip link set {br.name} up, and set it to come up at boot")
        elif br.operstate in ("up", "unknown") and br.carrier is not False:
            yield self.passed(f"{br.name} is up (operstate {br.operstate})", resource=br.name,
                              observed=br.operstate, expected="up")
        else:
            ports = ", ".join(p.describe() for p in view.ports.values()) or "none"
            waiting = [p for p in view.ports.values() if p.stp_state in ("listening", "learning")]
            if waiting:
                # the bridge has carrier only once a port forwards; STP holds new ports back for
                # 2 x forward_delay: the cause is STP, not the cable
                delay = seconds(br.bridge.get("forward_delay", 1500))
                names = ", ".join(f"{p.name} {p.stp_state}" for p in waiting)
                yield self.fail(f"{br.name} is up but has no carrier (operstate {br.operstate}): its ports are still "
                                f"in STP listening/learning ({names}) and forward only after 2 x forward_delay = "
                                f"{2 * delay:g} s; see host.bridge.stp (ports: {ports})", resource=br.name,
                                observed={"operstate": br.operstate, "stp": {p.name: p.stp_state for p in waiting}},
                                expected="up",
                                remediation=f"wait {2 * delay:g} s, or turn STP off on {br.name} "
                                            f"(ip link set {br.name} type bridge stp_state 0; see host.bridge.stp)")
                return
            down = [p.name for p in view.ports.values() if not (p.admin_up and p.carrier)] or list(view.ports)
            fix = (f"bring the uplink port up (ip link set {down[0]} up) and check its cable and switch port "
                   f"(ethtool {down[0]})" if down else f"enslave the LAN network card to {br.name} (see "
                   "host.bridge.uplink)")
            yield self.fail(f"{br.name} is up but has no carrier (operstate {br.operstate}): no port is up and "
                            f"forwarding (ports: {ports})", resource=br.name, observed=br.operstate, expected="up",
                            remediation=fix)


class BridgeUplink(PerBridge):
    meta = _meta(
        "host.bridge.uplink", "The bridge has a LAN uplink port with carrier", Severity.HIGH,
        "enslave the LAN NIC (or bond/VLAN interface) to the bridge and check its link",
        "brif/ must hold a port that leads to the LAN: a NIC, bond, team or VLAN interface (or profile.bridge_uplink), "
        "up and with carrier. Taps (vnetN) and veths only connect guests to each other and the host.",
    )

    def judge(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        br = view.iface
        assert br is not None
        name = br.name
        wanted = ctx.profile.get("bridge_uplink") if name == ctx.profile.get("bridge") else None
        if not br.ports:
            yield self.fail(f"{name} has no ports at all: guests on it cannot reach the LAN", resource=name,
                            observed="no ports", expected=wanted or "a NIC, bond or VLAN port")
            return
        if wanted:
            uplinks = [view.ports[wanted]] if wanted in view.ports else []
            if not uplinks:
                yield self.fail(f"profile.bridge_uplink {wanted} is not a port of {name} (ports: {', '.join(br.ports)})",
                                resource=name, observed=list(br.ports), expected=wanted)
                return
        else:
            uplinks = [p for p in view.ports.values() if p.is_uplink_kind]
        if not uplinks:
            kinds = ", ".join(f"{p.name} ({p.kind})" for p in view.ports.values())
            yield self.warn(f"{name} has only guest-side/virtual ports ({kinds}): guests reach each other and the host "
                            "but not the LAN", resource=name, observed=kinds, expected="a NIC, bond or VLAN port",
                            remediation=f"enslave the LAN NIC to {name}, or name the uplink in profile.bridge_uplink")
            return
        good = [p for p in uplinks if p.admin_up and p.carrier]
        desc = ", ".join(p.describe() for p in uplinks)
        if good:
            yield self.passed(f"{name} uplink: {desc}", resource=name, observed=desc, expected="uplink with carrier")
        else:
            first = uplinks[0].name
            yield self.fail(f"{name}'s uplink has no link: {desc}", resource=name, observed=desc,
                            expected="uplink up with carrier",
                            remediation=f"ip link set {first} up; check the cable and the switch port (ethtool {first})")


class BridgeStp(PerBridge):
    meta = _meta(
        "host.bridge.stp", "STP is off on the bridge (no forwarding delay for guest ports)", Severity.MEDIUM,
        "turn STP off (ip link set BRIDGE type bridge stp_state 0) and in the persistent configuration",
        "bridge/stp_state and bridge/forward_delay (clock_t, 1/100 s). With STP on, every port that joins "
        "(each guest start, each link flap) spends 2 x forward_delay listening and learning before it forwards.",
        fix="fix.net.bridge_stp_off",
    )

    def judge(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        br = view.iface
        assert br is not None
        stp = br.bridge.get("stp_state", 0)
        delay = seconds(br.bridge.get("forward_delay", 1500))
        observed = {"stp_state": stp, "forward_delay_s": delay}
        if stp == 0:
            yield self.passed(f"STP is off on {br.name}: ports forward as soon as they come up", resource=br.name,
                              observed=observed, expected={"stp_state": 0})
            return
        yield self.warn(f"STP is {STP_NAMES.get(stp, stp)} on {br.name} with forward_delay {delay:g} s: each port "
                        f"that comes up (every guest start, every link flap) waits {2 * delay:g} s in listening and "
                        "learning before it forwards, so guests miss DHCP and look unreachable", resource=br.name,
                        observed=observed, expected={"stp_state": 0},
                        remediation=f"turn STP off: ip link set {br.name} type bridge stp_state 0, and in the "
                                    "persistent configuration")


class BridgeAddress(PerBridge):
    meta = _meta(
        "host.bridge.address", "The host's IP address is on the bridge, not on an enslaved port", Severity.HIGH,
        "move the address from the port to the bridge (ip addr del ADDR dev PORT; ip addr add ADDR dev BRIDGE) "
        "and in the persistent configuration",
        "Once a NIC is enslaved, the bridge takes all its frames: an address left on the port stops answering. "
        "Addresses come from 'ip -j addr show' (recorded into snapshots).",
        fix="fix.net.bridge_address",
    )

    def judge(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        br = view.iface
        assert br is not None
        addrs = ctx.fact(addresses)
        mine = [str(a) for a in addrs.get(br.name, []) if a.scope == "global"]
        on_ports = {p: [str(a) for a in addrs.get(p, []) if a.scope == "global"] for p in br.ports}
        on_ports = {p: a for p, a in on_ports.items() if a}
        if on_ports:
            where = "; ".join(f"{', '.join(a)} on {p}" for p, a in on_ports.items())
            moves = "; ".join(f"ip addr del {a} dev {p}; ip addr add {a} dev {br.name}"
                              for p, addrs_ in on_ports.items() for a in addrs_)
            yield self.fail(f"{where}: an address on a port of {br.name} does not answer, the bridge consumes the "
                            f"port's frames (bridge addresses: {', '.join(mine) or 'none'})", resource=br.name,
                            remediation=f"move it to the bridge ({moves}) and in the persistent configuration",
                            observed={"bridge": mine, "ports": on_ports}, expected={"bridge": "the host address",
                                                                                   "ports": "none"})
        elif mine:
            yield self.passed(f"{br.name} holds {', '.join(mine)}; no port has an address", resource=br.name,
                              observed={"bridge": mine, "ports": {}}, expected={"ports": "none"})
        else:
            yield self.passed(f"no global address on {br.name} or its ports: a guest-only bridge (the host itself is "
                              f"not reachable through {br.name})", resource=br.name,
                              observed={"bridge": [], "ports": {}}, expected={"ports": "none"})


class BridgeMtu(PerBridge):
    meta = _meta(
        "host.bridge.mtu", "Bridge and port MTUs agree", Severity.MEDIUM,
        "give the bridge and all its ports the same MTU (the LAN's), in the persistent configuration too",
        "A port with a smaller MTU than the bridge drops the larger frames forwarded to it; a larger one is unused.",
    )

    def judge(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        br = view.iface
        assert br is not None
        mtus = {p.name: p.mtu for p in view.ports.values()}
        observed = {"bridge": br.mtu, "ports": mtus}
        smaller = {n: m for n, m in mtus.items() if m < br.mtu}
        larger = {n: m for n, m in mtus.items() if m > br.mtu}
        if smaller:
            text = ", ".join(f"{n} {m}" for n, m in smaller.items())
            yield self.fail(f"{br.name} has MTU {br.mtu} but port(s) {text}: frames larger than the port MTU are "
                            "dropped when forwarded there (large transfers stall, small pings work)", resource=br.name,
                            observed=observed, expected=f"all {br.mtu}")
        elif larger:
            text = ", ".join(f"{n} {m}" for n, m in larger.items())
            yield self.warn(f"{br.name} has MTU {br.mtu} but port(s) {text}: guests on {br.name} cannot use the "
                            "larger MTU, and frames from a guest configured for it are dropped", resource=br.name,
                            observed=observed, expected=f"all {br.mtu}")
        else:
            yield self.passed(f"{br.name} and its {len(mtus)} port(s) all use MTU {br.mtu}", resource=br.name,
                              observed=observed, expected=f"all {br.mtu}")


def _bridge_vlans(ctx: Context) -> dict[str, set[int]]:
    result = ctx.target.run(("bridge", "-j", "vlan", "show"))
    if not result.ok:
        from autoglm_doctor.targets.base import TargetError

        raise TargetError(f"'bridge -j vlan show' failed: {result.stderr.strip()[:200] or result.returncode}")
    try:
        data = json.loads(result.stdout or "[]")
    except (ValueError, RecursionError) as exc:
        from autoglm_doctor.facts.kernel import GarbageValue

        raise GarbageValue(f"'bridge -j vlan show': not JSON ({exc})") from exc
    entries = data if isinstance(data, list) else [{"ifname": k, "vlans": v} for k, v in data.items()]
    out: dict[str, set[int]] = {}
    for entry in entries:
        for vlan in entry.get("vlans", []) if isinstance(entry, dict) else []:
            first, last = vlan.get("vlan"), vlan.get("vlanEnd", vlan.get("vlan"))
            if isinstance(first, int) and isinstance(last, int):
                out.setdefault(str(entry.get("ifname")), set()).update(range(first, last + 1))
    return out


def _vlan_fix(bridge: str, view: BridgeView, ctx: Context, vids: list[int], *, filtering: bool) -> str:
    """The exact commands: VLAN filtering on the bridge and each VID on its uplink port(s)."""
    uplinks = [p for p, i in view.ports.items() if i.is_uplink_kind or p == ctx.profile.get("bridge_uplink")]
    steps = [f"ip link set {bridge} type bridge vlan_filtering 1"] if filtering else []
    if uplinks:
        steps += [f"bridge vlan add dev {u} vid {v}" for u in uplinks for v in vids]
        return "; ".join(steps) + ", and in the persistent configuration"
    return "; ".join(steps + [f"enslave the LAN uplink to {bridge} and add VLAN ids {vids} on it"])


class BridgeVlans(PerBridge):
    meta = _meta(
        "host.bridge.vlans", "The bridge carries the profile's VLANs", Severity.MEDIUM,
        "ip link set BRIDGE type bridge vlan_filtering 1; bridge vlan add dev UPLINK vid VID (each VLAN), or use one "
        "bridge per VLAN on UPLINK.VID sub-interfaces",
        "Only when profile.vlans is set, for the profile's bridge: VLAN filtering on and every VID on the uplink, or "
        "an uplink that is a VLAN sub-interface of a listed VID (/proc/net/vlan).",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        if not ctx.profile.get("vlans"):
            yield self.skip("profile.vlans is empty: no VLAN requirement", resource=ctx.profile.get("bridge"))
            return
        yield from super().run(ctx)

    def judge(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        br = view.iface
        assert br is not None
        wanted = set(ctx.profile.get("vlans"))
        if br.name != ctx.profile.get("bridge"):
            yield self.skip(f"profile.vlans applies to {ctx.profile.get('bridge')}, not {br.name}", resource=br.name)
            return
        sub = {p: vlan_id(ctx, p) for p, i in view.ports.items() if i.kind == "vlan"}
        sub_vids = {v for v in sub.values() if v is not None}
        filtering = br.bridge.get("vlan_filtering")
        if sub_vids and (not filtering):
            missing = sorted(wanted - sub_vids)
            text = ", ".join(f"{p} (VID {v})" for p, v in sub.items())
            if not missing:
                yield self.passed(f"{br.name} is a per-VLAN bridge on {text}", resource=br.name,
                                  observed=sorted(sub_vids), expected=sorted(wanted))
            else:
                parent = next(iter(sub)).rsplit(".", 1)[0]
                adds = "; ".join(f"ip link add link {parent} name {parent}.{v} type vlan id {v}" for v in missing)
                yield self.fail(f"{br.name} bridges {text}; VLAN(s) {missing} are not carried", resource=br.name,
                                observed=sorted(sub_vids), expected=sorted(wanted),
                                remediation=f"{adds}; give each its own bridge (or enable VLAN filtering on "
                                            f"{br.name}), and in the persistent configuration")
            return
        if not filtering:
            state = "vlan_filtering=0" if filtering == 0 else "no vlan_filtering support in this kernel"
            yield self.warn(f"{br.name} has {state}: it forwards tagged frames without VLAN membership, so VLANs "
                            f"{sorted(wanted)} work only if each guest tags its own traffic, and nothing keeps the "
                            "VLANs apart on this host", resource=br.name, observed={"vlan_filtering": filtering},
                            expected={"vlan_filtering": 1, "vids": sorted(wanted)},
                            remediation=_vlan_fix(br.name, view, ctx, sorted(wanted), filtering=True))
            return
        table = _bridge_vlans(ctx)
        uplinks = [p for p, i in view.ports.items() if i.is_uplink_kind or p == ctx.profile.get("bridge_uplink")]
        carried = set().union(*(table.get(p, set()) for p in uplinks)) if uplinks else set()
        missing = sorted(wanted - carried)
        observed = {p: sorted(table.get(p, set())) for p in uplinks}
        if missing:
            yield self.fail(f"{br.name} filters VLANs but its uplink(s) {', '.join(uplinks) or '(none)'} lack VID(s) "
                            f"{missing}: frames of those VLANs are dropped", resource=br.name, observed=observed,
                            expected=sorted(wanted), remediation=_vlan_fix(br.name, view, ctx, missing, filtering=False))
        else:
            yield self.passed(f"{br.name} filters VLANs and {', '.join(uplinks)} carries {sorted(wanted)}",
                              resource=br.name, observed=observed, expected=sorted(wanted))


CHECKS = (BridgePresent, BridgeLinkUp, BridgeUplink, BridgeStp, BridgeAddress, BridgeMtu, BridgeVlans)
