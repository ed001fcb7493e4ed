"""Plans for network findings: bridge up, STP off, br_netfilter persisted, bridged traffic accepted,
IPv4 forwarding for libvirt NAT networks.
Plans only: typed Changes, applied (journaled, verified, rolled back) by the fix engine, never here."""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.firewall import BR_NF_KEYS, br_netfilter, ipv4_rulesets
from autoglm_doctor.facts.netconfig import net_config
from autoglm_doctor.facts.sysctl_plan import persist_sysctl
from autoglm_doctor.facts.vmnet import bridge_views
from autoglm_doctor.model import Finding, FixMeta, Severity, Status
from autoglm_doctor.facts.bootloader import find_tool
from autoglm_doctor.targets.base import TargetError
from autoglm_doctor.plan import Change, Fix, IpLink, Plan, RunCommand, WriteFile, sysctl

BR_NF_CONF = "/etc/sysctl.d/90-autoglm-doctor-bridge-nf.conf"
IP_FORWARD_CONF = "/etc/sysctl.d/90-autoglm-doctor-ip-forward.conf"
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
        settle = 0.0
        for name in _bridges(findings):
            view = views.get(name)
            if view is None or view.iface is None:
                notes.append(f"{name} does not exist: nothing to bring up")
            elif view.iface.admin_up:
                notes.append(f"{name} is already up; it lacks carrier because no port forwards: fix the uplink")
            else:
                changes.append(IpLink(name, up=True))
                notes.append(_persist_note(ctx, name, "the bridge brought up at boot ('auto', autoconnect)"))
                if view.iface.bridge.get("stp_state"):
                    # USER_HZ: forward_delay 1500 is 15 s; ports listen, then learn, one delay each
                    wait = 2 * view.iface.bridge.get("forward_delay", 1500) / 100 + 2
                    settle = max(settle, wait)
                    notes.append(f"{name} has STP on: its ports listen and learn for {wait - 2:g} s before they "
                                 f"forward, so the verification waits up to {wait:g} s")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes),
                    settle_s=settle)


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
            changes.append(IpLink(name, bridge=(("stp_state", "0"),)))
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


def iptables_binary(ctx: Context, labels: list[str]) -> tuple[str, str]:
    """(the iptables binary whose tables hold DOCKER-USER, why). Docker programs whichever backend
    the ``iptables`` alternative points at; a rule added with the other backend lands in tables
    Docker's chains never jump to. ``labels`` are the rule views DOCKER-USER was found in."""
    if any(label.startswith("iptables-legacy") for label in labels):
        name, why = "iptables-legacy", "DOCKER-USER is in the legacy (xtables) tables"
    else:
        try:
            res = ctx.target.run(("iptables", "--version"))
            version = res.stdout.strip() if res.ok else ""
        except TargetError:  # a snapshot that never recorded it
            version = ""
        if "nf_tables" in version:
            name, why = "iptables-nft", f"iptables is the nf_tables variant ({version})"
        elif "legacy" in version:
            name, why = "iptables-legacy", f"iptables is the legacy variant ({version})"
        else:
            name, why = "iptables", f"iptables --version says {version or 'nothing'}"
    path = find_tool(ctx.target, name) or find_tool(ctx.target, "iptables") or f"/usr/sbin/{name}"
    return path, why


def _systemd_running(ctx: Context) -> bool:
    """sd_booted(): systemd is PID 1 when /run/systemd/system exists (not in a chroot or container)."""
    try:
        return ctx.target.stat("/run/systemd/system") is not None
    except TargetError:
        return True  # could not tell (a snapshot): plan the reload a systemd host needs


def _accept_unit(bridges: list[str], binary: str = "/usr/sbin/iptables") -> str:
    lines = ["# Written by autoglm-doctor (fix.net.bridge_forward): Docker sets the FORWARD policy to DROP;",
             "# accept frames bridged between guests and the LAN on these bridges before Docker's rules.",
             "[Unit]", "Description=Accept bridged VM traffic in DOCKER-USER", "After=docker.service",
             "BindsTo=docker.service", "", "[Service]", "Type=oneshot", "RemainAfterExit=yes"]
    for br in bridges:
        rule = f"DOCKER-USER -i {br} -o {br} -j ACCEPT"
        lines += [f"ExecStartPre=-{binary} -D {rule}", f"ExecStart={binary} -I {rule}",
                  f"ExecStop=-{binary} -D {rule}"]
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
        docker_views = [v.label for v in views if "DOCKER-USER" in v.chains]
        docker = bool(docker_views)
        changes: list[Change] = []
        notes: list[str] = []
        if docker and bridges:
            binary, why = iptables_binary(ctx, docker_views)
            notes.append(f"uses {binary}: {why}")
            for br in bridges:
                rule = ("DOCKER-USER", "-i", br, "-o", br, "-j", "ACCEPT")
                changes.append(RunCommand((binary, "-I", *rule), undo=(binary, "-D", *rule),
                                          done_if=(binary, "-C", *rule)))
            unit = ACCEPT_UNIT.rsplit("/", 1)[1]
            changes.append(WriteFile(ACCEPT_UNIT, _accept_unit(bridges, binary)))
            if _systemd_running(ctx):
                changes.append(RunCommand(("systemctl", "daemon-reload")))
            else:
                notes.append("systemd is not running here (no /run/systemd/system): the unit is enabled for the next "
                             "boot without a daemon-reload")
            # enable works offline too; the symlink it makes is journalled so a rollback removes it exactly
            changes.append(RunCommand(("systemctl", "enable", unit), undo=("systemctl", "disable", unit),
                                      outputs=(f"/etc/systemd/system/docker.service.wants/{unit}",)))
            notes.append("Docker's own isolation for docker0 and user networks is unchanged: only frames that enter "
                         "and leave the same VM bridge are accepted")
            if "ipv6" in families:
                notes.append("IPv6: add the same rule with ip6tables if ip6tables' FORWARD also drops (Docker only "
                             "sets it with ip6tables enabled)")
        else:
            keys = {"ipv4": "bridge-nf-call-iptables", "ipv6": "bridge-nf-call-ip6tables"}
            values = {keys[f]: 0 for f in sorted(families) if f in keys}
            for key in values:
                changes.append(sysctl(f"net.bridge.{key}", 0))
            changes.append(WriteFile(BR_NF_CONF, _sysctl_file(values, "bridged VM frames bypass the host firewall")))
            notes.append("bridged guests are then filtered by no host iptables rule at all; filter inside the guests "
                         "or with nft bridge-family rules if you need it")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


def _forwarding_off(f: Finding) -> bool:
    """A finding that ip_forward = 1 resolves (not a NAT network that is inactive, isolated or at
    odds with a bridged profile: those are the operator's network design)."""
    if f.status is not Status.FAIL:
        return False
    if f.resource == "net.ipv4.ip_forward":
        return True
    return isinstance(f.observed, dict) and "ip_forward" in f.observed and f.observed.get("ip_forward") != 1


class EnableIpForward(Fix):
    meta = FixMeta(id="fix.net.ip_forward", title="Turn on IPv4 forwarding for guests on libvirt NAT networks",
                   fixes=("host.firewall.ip_forward",), risk=Severity.MEDIUM,
                   description=f"net.ipv4.ip_forward = 1 now and in {IP_FORWARD_CONF} (or on the line of the "
                               "/etc sysctl file that sets it last). The host then routes between all its "
                               "interfaces: the FORWARD chain decides what it forwards.")

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        mine = [f for f in findings if _forwarding_off(f)]
        notes = [f"not changed ({f.resource}): {f.message}" for f in findings if f not in mine]
        if not mine:
            return Plan(self.meta.id, self.meta.title, (), (), notes=tuple(notes))
        changes: list[Change] = [sysctl("net.ipv4.ip_forward", 1)]
        persist, persist_notes = persist_sysctl(ctx, "net.ipv4.ip_forward", 1, IP_FORWARD_CONF,
                                                "guests on libvirt NAT networks are routed by the host")
        changes += persist
        notes += persist_notes
        notes.append("with forwarding on, the host routes between all its interfaces: what it forwards is decided "
                     "by the FORWARD chain (Docker sets its policy to DROP; libvirt adds rules for its own networks)")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(mine), notes=tuple(notes))


FIXES = (BridgeUp, BridgeStpOff, BrNetfilterPersist, BridgedForwardAccept, EnableIpForward)
