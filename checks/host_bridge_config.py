"""Is the bridge defined persistently, and does its definition match what runs now?"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Iterator

from autoglm_doctor.check import Context, docs_link
from autoglm_doctor.facts.netconfig import BridgeDef, net_config
from autoglm_doctor.facts.vmnet import BridgeView
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import PerBridge

WHERE = "netplan (/etc/netplan), NetworkManager (/etc/NetworkManager/system-connections), ifupdown " \
        "(/etc/network/interfaces[.d]) and systemd-networkd (/etc/systemd/network)"


def _differences(d: BridgeDef, view: BridgeView) -> list[str]:
    br = view.iface
    if br is None or not br.is_bridge:
        return [f"{d.source} defines {d.name} but it does not exist now (not applied since the last change?)"]
    out = []
    runtime_stp = br.bridge.get("stp_state", 0) != 0
    if d.stp != runtime_stp:
        said = "on" if d.stp else "off"
        why = "" if d.stp_explicit else f" ({d.system}'s default when stp is not set)"
        out.append(f"the file says STP {said}{why}, the running bridge has STP {'on' if runtime_stp else 'off'}: "
                   f"the next reboot or reload turns it {said}")
    if d.ports is not None:
        runtime = [p for p, i in view.ports.items() if i.kind != "tap"]
        missing = [pat for pat in d.ports if not any(fnmatch.fnmatchcase(p, pat) for p in runtime)]
        extra = [p for p in runtime if not any(fnmatch.fnmatchcase(p, pat) for pat in d.ports)]
        if missing:
            out.append(f"the file enslaves {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not a "
                       "port now")
        if extra:
            out.append(f"{', '.join(extra)} {'is a port' if len(extra) == 1 else 'are ports'} now but not in the file: "
                       "lost at reboot")
    if not d.at_boot:
        out.append(f"{d.source} does not bring {d.name} up at boot (no 'auto'/autoconnect)")
    return out


class BridgePersistent(PerBridge):
    meta = CheckMeta(
        id="host.bridge.persistent",
        title="The bridge is defined persistently, as it runs now",
        severity=Severity.MEDIUM,
        scope=(Scope.HOST,),
        remediation="define the bridge in the system's network configuration (netplan, NetworkManager, ifupdown or "
                    "systemd-networkd) with STP off and the uplink as its port, matching the runtime state",
        docs=docs_link("host.bridge.persistent"),
        description="Looks for the bridge in " + WHERE + ". Warns when it exists only at runtime (gone after a "
                    "reboot) or when the file says something else (STP, ports, not started at boot). Unreadable or "
                    "unparsable files are reported one by one.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        cfg = ctx.fact(net_config)
        for problem in cfg.problems:
            if problem.kind == "invalid":
                yield self.fail(problem.message, resource=problem.path, observed="invalid", expected="valid file",
                                remediation="fix the syntax ('netplan generate' / 'nmcli connection reload' show the "
                                            "tool's own error)")
            elif problem.kind == "unsupported":
                yield self.skip(problem.message, resource=problem.path)
            else:
                yield self.error(problem.message + " (run the doctor as root to read it)", resource=problem.path)
        yield from super().run(ctx)

    def absent(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        yield from self.judge(ctx, view)  # a bridge defined but not running now is this check's to judge

    def judge(self, ctx: Context, view: BridgeView) -> Iterator[Finding]:
        cfg = ctx.fact(net_config)
        name = view.name
        defs = cfg.bridges.get(name, [])
        if not defs:
            unreadable = [p.path for p in cfg.problems if p.kind != "invalid"]
            invalid = [p.path for p in cfg.problems if p.kind == "invalid"]
            if unreadable:
                bad = f"; {', '.join(invalid)} is invalid" if invalid else ""
                yield self.error(f"{name} was not found in the readable configuration, and "
                                 f"{', '.join(unreadable)} could not be evaluated{bad}", resource=name)
            elif invalid and view.iface is not None:
                yield self.warn(f"{name} is not defined by any valid configuration file; {', '.join(invalid)} "
                                f"is invalid and applies nothing at boot, so {name} exists only at runtime",
                                resource=name, observed="runtime only", expected="a persistent definition")
            elif view.iface is None:
                yield self.skip(f"{name} neither exists nor is defined anywhere (see host.bridge.present)",
                                resource=name)
            else:
                yield self.warn(f"{name} exists only at runtime: no definition in {WHERE}; it disappears at the "
                                "next reboot and guests on it lose the network", resource=name,
                                observed="runtime only", expected="a persistent definition")
            return
        sources = "; ".join(f"{d.source} ({d.system})" for d in defs)
        problems = [f"{d.source}: {text}" for d in defs for text in _differences(d, view)]
        if len({d.system for d in defs}) > 1:
            problems.append(f"defined by more than one tool ({sources}): they fight over {name} at boot")
        if problems:
            yield self.warn(f"{name}: " + "; ".join(problems), resource=name, observed=sources,
                            expected="one definition matching the runtime state")
        else:
            d = defs[0]
            ports = ", ".join(d.ports) if d.ports else "no ports" if d.ports == () else "ports by pattern"
            yield self.passed(f"{name} is defined in {sources}: STP {'on' if d.stp else 'off'}, {ports} — as it "
                              "runs now", resource=name, observed=sources, expected="persistent definition")


CHECKS = (BridgePersistent,)
