"""Host firewall vs bridged and NATed guests: br_netfilter, the FORWARD path of bridged frames (Docker's
FORWARD DROP), ip_forward for libvirt NAT networks. See docs/network.md."""

from __future__ import annotations

from typing import Iterable, Iterator

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.firewall import (
    BR_NF_DIR,
    BR_NF_KEYS,
    FilterView,
    br_netfilter,
    ip_forward,
    ipv4_rulesets,
    ipv6_rulesets,
    sysctl_config,
)
from autoglm_doctor.facts.fwrules import Verdict
from autoglm_doctor.facts.vmnet import BridgeView, vm_networking
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import PerBridge
from autoglm_doctor.targets.base import NotCaptured, TargetError

FAMILIES = {
    "ipv4": ("bridge-nf-call-iptables", "nf_call_iptables", "iptables", ipv4_rulesets),
    "ipv6": ("bridge-nf-call-ip6tables", "nf_call_ip6tables", "ip6tables", ipv6_rulesets),
}


def _meta(cid: str, title: str, severity: Severity, remediation: str, description: str,
          fix: str | None = None) -> CheckMeta:
    return CheckMeta(id=cid, title=title, severity=severity, scope=(Scope.HOST,), remediation=remediation,
                     docs=docs_link(cid), description=description, fix=fix)


class BrNetfilterSettings(Check):
    meta = _meta(
        "host.firewall.br_netfilter", "br_netfilter switches are what the boot configuration sets", Severity.LOW,
        "persist the value you want in /etc/sysctl.d (net.bridge.bridge-nf-call-iptables = 0 or 1)",
        "bridge-nf-call-{iptables,ip6tables,arptables} = 1 makes bridged guest frames traverse the host's "
        "iptables/ip6tables/arptables. Warns when the runtime value differs from what /etc/sysctl.d and friends "
        "will set at the next boot (or that the module default, 1, comes back).", fix="fix.net.br_netfilter_persist",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        state = ctx.fact(br_netfilter)
        if not state.active:
            yield self.passed(f"br_netfilter is not active ({BR_NF_DIR} is absent): bridged frames bypass the host's "
                              "iptables, ip6tables and arptables", resource="br_netfilter", observed="inactive",
                              expected="inactive, or active with rules that accept bridged traffic")
            return
        config = ctx.fact(sysctl_config)
        for key in BR_NF_KEYS:
            if key not in state.values:
                continue
            value = state.values[key]
            table = key.rsplit("-", 1)[1]
            meaning = (f"bridged guest frames traverse the host's {table}" if value == 1
                       else f"bridged guest frames bypass the host's {table}")
            setting = config.get(f"net.bridge.{key}")
            observed = {"runtime": value, "configured": setting.value if setting else None}
            if setting is None:
                if value == 1:
                    yield self.passed(f"{key} = 1 (the module default; no sysctl file sets it): {meaning}",
                                      resource=key, observed=observed, expected="runtime = boot configuration")
                else:
                    yield self.warn(f"{key} = 0 now, but no sysctl file sets it: after a reboot br_netfilter comes back "
                                    f"with its default 1 and {table} filters bridged guest traffic again", resource=key,
                                    observed=observed, expected=f"net.bridge.{key} = 0 in /etc/sysctl.d")
            elif setting.value.strip() != str(value):
                yield self.warn(f"{key} = {value} now ({meaning}), but {setting.file}:{setting.line} sets "
                                f"{setting.value}: the next boot or 'sysctl --system' changes it", resource=key,
                                observed=observed, expected="runtime = boot configuration")
            else:
                yield self.passed(f"{key} = {value}, as {setting.file}:{setting.line} sets: {meaning}", resource=key,
                                  observed=observed, expected="runtime = boot configuration")


def _missing_rule(view: FilterView, bridge: str, tool: str) -> str:
    if "DOCKER-USER" in view.chains:
        return (f"Docker sets the FORWARD policy to DROP; the missing rule is an ACCEPT for {bridge} in DOCKER-USER: "
                f"{tool} -I DOCKER-USER -i {bridge} -o {bridge} -j ACCEPT (kept across Docker restarts; persist it with "
                "a unit that runs after docker.service)")
    if view.label.startswith("nft"):
        return f"add an accept rule for iifname \"{bridge}\" oifname \"{bridge}\" to that chain"
    return f"add {tool} -I FORWARD -i {bridge} -o {bridge} -j ACCEPT (or -m physdev --physdev-is-bridged -j ACCEPT)"


class BridgedForward(PerBridge):
    meta = _meta(
        "host.firewall.bridge_forward", "The host firewall passes bridged guest traffic", Severity.HIGH,
        "accept bridged traffic before the DROP (Docker: iptables -I DOCKER-USER -i BRIDGE -o BRIDGE -j ACCEPT), or "
        "stop bridged frames from traversing iptables (net.bridge.bridge-nf-call-iptables = 0)",
        "With br_netfilter, a frame bridged between two ports of BR meets the FORWARD chain with in = out = BR. "
        "Docker sets FORWARD's policy to DROP, which silently drops all bridged VM traffic. The check walks the real "
        "ruleset (iptables-save, ip6tables-save, the legacy variants, native nft forward chains) and names the rule "
        "or policy that decides.", fix="fix.net.bridge_forward",
    )

    def absent(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        for family in FAMILIES:
            yield self.skip(f"{view.name} is not a usable bridge (see host.bridge.present)",
                            resource=f"{view.name}:{family}")

    def judge(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        for family in FAMILIES:
            resource = f"{view.name}:{family}"
            try:
                yield from self._family(ctx, view, family, resource)
            except NotCaptured as exc:
                yield self.skip(f"not captured: {exc}", resource=resource)
            except TargetError as exc:
                yield self.error(f"could not read the ruleset: {exc}", resource=resource)

    def _family(self, ctx: Context, view: BridgeView, family: str, resource: str) -> Iterator[Finding]:
        sysctl_key, bridge_attr, tool, producer = FAMILIES[family]
        br = view.iface
        assert br is not None
        nf = ctx.fact(br_netfilter)
        via_sysctl = nf.values.get(sysctl_key) == 1
        via_bridge = br.bridge.get(bridge_attr) == 1
        rs = ctx.fact(producer)
        views = [v for v in rs.views.get(family, []) if via_sysctl or via_bridge or v.bridge_family]
        why = (f"{sysctl_key}=1" if via_sysctl else f"{br.name}'s bridge/{bridge_attr}=1" if via_bridge else "")
        if not views:
            if why:
                text = f"bridged {family} frames on {br.name} traverse {tool} ({why}); no filter rules at the forward hook"
                if {f"{tool}-save", "nft"} <= set(rs.missing_tools):
                    yield self.skip(f"{text}, but neither {tool}-save nor nft is installed to read them", resource=resource)
                    return
            else:
                text = (f"bridged {family} frames on {br.name} bypass {tool} "
                        f"({sysctl_key}={nf.values.get(sysctl_key, 'absent')}, bridge/{bridge_attr}=0)")
            yield self.passed(text, resource=resource, observed="not filtered", expected="accepted")
            return
        decided: list[tuple[FilterView, Verdict]] = []
        partial: list[str] = []
        for fv in views:
            for verdict in fv.verdicts(br.name, br.name):
                decided.append((fv, verdict))
                partial += verdict.conditional
        path_text = lambda v: " -> ".join(v.path)  # noqa: E731
        dropped = [(fv, v) for fv, v in decided if v.outcome in ("drop", "reject")]
        unclear = [(fv, v) for fv, v in decided if v.outcome not in ("drop", "reject", "accept")]
        note = f" ({len(partial)} rule(s) decide only part of the traffic: {'; '.join(partial[:3])})" if partial else ""
        through = why or "an nft bridge-family table"
        if dropped:
            fv, v = dropped[0]
            yield self.fail(f"bridged {family} traffic on {br.name} traverses {tool} ({through}) and is "
                            f"{'rejected' if v.outcome == 'reject' else 'dropped'} by {v.decided_by} "
                            f"[{fv.label}: {path_text(v)}]{note}", resource=resource,
                            observed={"verdict": v.outcome, "by": v.decided_by, "source": fv.label},
                            expected="accepted", remediation=_missing_rule(fv, br.name, tool) +
                            f"; or set net.bridge.{sysctl_key} = 0 so bridged frames bypass {tool}")
        elif unclear:
            fv, v = unclear[0]
            yield self.warn(f"bridged {family} traffic on {br.name} ends at {v.decided_by} [{fv.label}] ({v.outcome}): "
                            f"the doctor cannot tell whether it passes{note}", resource=resource,
                            observed={"verdict": v.outcome, "by": v.decided_by}, expected="accepted")
        else:
            by = "; ".join(f"{v.decided_by} [{fv.label}]" for fv, v in decided)
            yield self.passed(f"bridged {family} traffic on {br.name} traverses {tool} ({through}) and is accepted by "
                              f"{by}{note}", resource=resource, observed={"verdict": "accept", "by": by},
                              expected="accepted")


class IpForward(Check):
    meta = _meta(
        "host.firewall.ip_forward", "Guests on libvirt NAT networks can be forwarded (and match the profile)",
        Severity.HIGH, "sysctl -w net.ipv4.ip_forward=1 and persist it in /etc/sysctl.d; or attach the VM to the host "
        "bridge when profile.network_mode is 'bridged'",
        "A guest on a libvirt network in NAT/route/open mode needs net.ipv4.ip_forward = 1 (bridged guests do not: "
        "bridging is layer 2). A domain on a NAT network while profile.network_mode is 'bridged' is not reachable "
        "from the LAN.", fix="fix.net.ip_forward",
    )

    def _global(self, ctx: Context, why: str) -> Iterator[Finding]:
        value = ctx.fact(ip_forward)
        if value == 1:
            yield self.passed(f"net.ipv4.ip_forward = 1 ({why})", resource="net.ipv4.ip_forward", observed=1, expected=1)
        else:
            yield self.fail(f"net.ipv4.ip_forward = {value} ({why}): NATed guests cannot reach beyond the host",
                            resource="net.ipv4.ip_forward", observed=value, expected=1)

    def run(self, ctx: Context) -> Iterable[Finding]:
        mode = ctx.profile.get("network_mode")
        vm = ctx.fact(vm_networking)
        nat_ifaces = [i for i in vm.interfaces if i.type == "network"] if vm.available else []
        if not nat_ifaces:
            if mode == "nat":
                reason = vm.reason if not vm.available else "no guest uses a libvirt network yet"
                yield from self._global(ctx, f"profile.network_mode is 'nat'; {reason}")
            else:
                what = vm.reason if not vm.available else "no libvirt guest uses a libvirt network"
                yield self.skip(f"{what}; bridged guests do not need ip_forward", resource="net.ipv4.ip_forward")
            return
        forward = ctx.fact(ip_forward)
        for iface in nat_ifaces:
            net = vm.networks.get(iface.source)
            if net is None:
                yield self.warn(f"{iface.domain} uses libvirt network {iface.source!r}, which libvirt does not list: "
                                "the domain cannot start", resource=iface.label, observed="unknown network",
                                expected=f"network {iface.source} defined")
                continue
            if net.forward_mode in ("bridge", "passthrough", "private", "vepa", "hostdev"):
                yield self.passed(f"{iface.domain} uses network {net.name} (forward mode {net.forward_mode}"
                                  f"{', bridge ' + net.bridge if net.bridge else ''}): no routing by the host needed",
                                  resource=iface.label, observed=net.forward_mode, expected="bridged or forwarded")
                continue
            mode_text = net.forward_mode or "isolated"
            problems = []
            if net.forward_mode in ("nat", "route", "open") and forward != 1:
                yield self.fail(f"{iface.domain} uses network {net.name} ({mode_text}) but net.ipv4.ip_forward = "
                                f"{forward}: the guest reaches the host and nothing beyond", resource=iface.label,
                                observed={"forward_mode": mode_text, "ip_forward": forward},
                                expected={"ip_forward": 1})
                continue
            if mode == "bridged":
                problems.append(f"profile.network_mode is 'bridged' but the VM sits behind {net.name} ({mode_text}, "
                                f"bridge {net.bridge or '?'}): it is not reachable from the LAN except through port "
                                "forwards; attach it with <interface type='bridge'><source bridge='"
                                f"{ctx.profile.get('bridge')}'/>")
            if not net.active:
                problems.append(f"network {net.name} is not active (virsh net-start {net.name}; net-autostart)")
            if not net.forward_mode:
                problems.append(f"network {net.name} is isolated (no <forward>): no outside access")
            observed = {"forward_mode": mode_text, "ip_forward": forward, "active": net.active}
            if problems:
                yield self.warn(f"{iface.domain}: " + "; ".join(problems), resource=iface.label, observed=observed,
                                expected={"network_mode": mode})
            else:
                yield self.passed(f"{iface.domain} uses {net.name} ({mode_text}) and net.ipv4.ip_forward = 1",
                                  resource=iface.label, observed=observed, expected={"ip_forward": 1})


CHECKS = (BrNetfilterSettings, BridgedForward, IpForward)
