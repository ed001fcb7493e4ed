"""Plans for network findings: bridge up, STP off, br_netfilter persisted, bridged traffic accepted.
Plans only: typed Changes, applied (journaled, verified, rolled back) by the fix engine, never here."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.firewall import BR_NF_KEYS, br_netfilter, ipv4_rulesets
from autoglm_doctor.facts.netconfig import net_config
from autoglm_doctor.facts.vmnet import bridge_views
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, Plan, RunCommand, WriteFile

BR_NF_CONF = "/etc/sysctl.d/90-autoglm-doctor-bridge-nf.conf"
ACCEPT_UNIT = "/etc/systemd/system/autoglm-doctor-bridge-accept.service"


def _bridges(findings: Sequence[Finding]) -> list[str]:
    out = []
    for f in findings:
        name = (f.resource or "").split(":", 1)[0]
        if name and name not in out:
            out.append(name)
    return out


def _persist_note(ctx: Context, bridge: str, what: str) -> str:
    defs = ctx.fact(net_config).bridges.get(bridge, [])
    if not defs:
        return f"{bridge} has no persistent definition (host.bridge.persistent): define it with {what}"
    return "; ".join(f"also set {what} in {d.source} ({d.system})" for d in defs)


class BridgeUp(Fix):
    meta = FixMeta(id="fix.net.bridge_up", title="Bring the bridge up", fixes=("host.bridge.link_up",),
                   risk=Severity.LOW, description="ip link set BRIDGE up for a bridge that is administratively down.")

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        views = ctx.fact(bridge_views)
        changes: list[Change] = []
        notes = []
        for name in _bridges(findings):
            view = views.get(name)
            if view is None or view.iface is None:
                notes.append(f"{name} does not exist: nothing to bring up")
            elif view.iface.admin_up:
                notes.append(f"{name} is already up; it lacks carrier because no port forwards: fix the uplink")
            else:
                changes.append(RunCommand(("ip", "link", "set", "dev", name, "up"),
                                          undo=("ip", "link", "set", "dev", name, "down")))
                notes.append(_persist_note(ctx, name, "the bridge brought up at boot ('auto', autoconnect)"))
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


class BridgeStpOff(Fix):
    meta = FixMeta(id="fix.net.bridge_stp_off", title="Turn STP off on the bridge", fixes=("host.bridge.stp",),
                   risk=Severity.MEDIUM,
                   description="stp_state 0 now; the persistent configuration must say STP off as well. Keep STP on "
                               "if the bridge has two uplinks into the same LAN (loops).")

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        views = ctx.fact(bridge_views)
        changes: list[Change] = []
        notes = ["only safe with a single uplink: STP is what prevents loops between two uplinks in one LAN"]
        for name in _bridges(findings):
            view = views.get(name)
            if view is None or view.iface is None or not view.iface.is_bridge:
                notes.append(f"{name} is not a bridge: skipped")
                continue
            stp = view.iface.bridge.get("stp_state", 0)
            if stp == 0:
                notes.append(f"{name}: STP is already off")
                continue
            changes.append(RunCommand(("ip", "link", "set", "dev", name, "type", "bridge", "stp_state", "0"),
                                      undo=("ip", "link", "set", "dev", name, "type", "bridge", "stp_state", str(stp))))
            notes.append(_persist_note(ctx, name, "STP off (netplan 'parameters: {stp: false}', nmcli "
                                                  "bridge.stp no, ifupdown 'bridge_stp off', networkd STP=no)"))
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


def _sysctl_file(values: dict[str, int], why: str) -> str:
    lines = [f"# Written by autoglm-doctor: {why}",
             "# Applied at boot by systemd-sysctl, and again when br_netfilter loads (udev rule 99-systemd.rules)."]
    lines += [f"net.bridge.{key} = {value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


class BrNetfilterPersist(Fix):
    meta = FixMeta(id="fix.net.br_netfilter_persist", title="Persist the running bridge-nf-call-* values",
                   fixes=("host.firewall.br_netfilter",), risk=Severity.LOW,
                   description="Writes the current runtime values to /etc/sysctl.d so a reboot keeps them.")

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        state = ctx.fact(br_netfilter)
        if not state.active:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings), notes=("br_netfilter is not active",))
        content = _sysctl_file({k: state.values[k] for k in BR_NF_KEYS if k in state.values},
                               "keep the bridge-nf-call-* values that run now")
        notes = ("a file sorting after 90-autoglm-doctor-bridge-nf.conf that sets the same keys still wins: "
                 "remove those lines",)
        return Plan(self.meta.id, self.meta.title, (WriteFile(BR_NF_CONF, content),), tuple(findings), notes=notes)


def _accept_unit(bridges: list[str]) -> str:
    lines = ["# Written by autoglm-doctor (fix.net.bridge_forward): Docker sets the FORWARD policy to DROP;",
             "# accept frames bridged between guests and the LAN on these bridges before Docker's rules.",
             "[Unit]", "Description=Accept bridged VM traffic in DOCKER-USER", "After=docker.service",
             "BindsTo=docker.service", "", "[Service]", "Type=oneshot", "RemainAfterExit=yes"]
    for br in bridges:
        rule = f"DOCKER-USER -i {br} -o {br} -j ACCEPT"
        lines += [f"ExecStartPre=-/usr/sbin/iptables -D {rule}", f"ExecStart=/usr/sbin/iptables -I {rule}",
                  f"ExecStop=-/usr/sbin/iptables -D {rule}"]
    lines += ["", "[Install]", "WantedBy=docker.service"]
    return "\n".join(lines) + "\n"


class BridgedForwardAccept(Fix):
    meta = FixMeta(id="fix.net.bridge_forward", title="Let bridged VM traffic through the host firewall",
                   fixes=("host.firewall.bridge_forward",), risk=Severity.MEDIUM,
                   description="With Docker: an ACCEPT for the bridge in DOCKER-USER now, and a systemd unit that "
                               "re-adds it after every Docker start. Without Docker: bridge-nf-call-iptables=0 "
                               "(bridged frames bypass iptables, as libvirt recommends), now and in /etc/sysctl.d.")

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        bridges = _bridges(findings)
        families = {(f.resource or "").partition(":")[2] for f in findings} or {"ipv4"}
        views = ctx.fact(ipv4_rulesets).views.get("ipv4", [])
        docker = any("DOCKER-USER" in v.chains for v in views)
        changes: list[Change] = []
        notes: list[str] = []
        if docker and bridges:
            for br in bridges:
                rule = ("DOCKER-USER", "-i", br, "-o", br, "-j", "ACCEPT")
                changes.append(RunCommand(("iptables", "-I", *rule), undo=("iptables", "-D", *rule)))
            changes += [WriteFile(ACCEPT_UNIT, _accept_unit(bridges)),
                        RunCommand(("systemctl", "daemon-reload")),
                        RunCommand(("systemctl", "enable", ACCEPT_UNIT.rsplit("/", 1)[1]),
                                   undo=("systemctl", "disable", ACCEPT_UNIT.rsplit("/", 1)[1]))]
            notes.append("Docker's own isolation for docker0 and user networks is unchanged: only frames that enter "
                         "and leave the same VM bridge are accepted")
            if "ipv6" in families:
                notes.append("IPv6: add the same rule with ip6tables if ip6tables' FORWARD also drops (Docker only "
                             "sets it with ip6tables enabled)")
        else:
            keys = {"ipv4": "bridge-nf-call-iptables", "ipv6": "bridge-nf-call-ip6tables"}
            values = {keys[f]: 0 for f in sorted(families) if f in keys}
            for key in values:
                changes.append(RunCommand(("sysctl", "-w", f"net.bridge.{key}=0"),
                                          undo=("sysctl", "-w", f"net.bridge.{key}=1")))
            changes.append(WriteFile(BR_NF_CONF, _sysctl_file(values, "bridged VM frames bypass the host firewall")))
            notes.append("bridged guests are then filtered by no host iptables rule at all; filter inside the guests "
                         "or with nft bridge-family rules if you need it")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


FIXES = (BridgeUp, BridgeStpOff, BrNetfilterPersist, BridgedForwardAccept)
