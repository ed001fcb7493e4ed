"""Plan for an address left on an enslaved port (host.bridge.address): move it to the bridge with the
real address, port and bridge, carrying the port's routes (the default gateway included) over.

Order matters: the address is added to the bridge first, then removed from the port (the kernel
deletes every route through the port at that moment, the default route too: that is what following
"ip addr del" literally did), then the routes are re-added through the bridge. Undo runs in reverse
and the address change journals the port's routes, so a rollback puts them all back. Flagged "may
cut remote access": the engine refuses it over an SSH session routed through the port unless
--yes-i-have-console."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.changes.net import route_argv
from autoglm_doctor.facts.net import addresses
from autoglm_doctor.facts.vmnet import bridge_views
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, IpAddress, IpRoute, Plan
from autoglm_doctor.targets.base import TargetError

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target


def port_routes(target: Target, port: str) -> list[dict[str, Any]]:
    """The routes through ``port`` that are not the kernel's own subnet route (that one follows the
    address to the bridge by itself)."""
    res = target.run(("ip", "-j", "route", "show", "dev", port))
    if not res.ok:
        raise TargetError(f"ip route show dev {port}: {res.stderr.strip() or res.returncode}")
    try:
        routes = json.loads(res.stdout or "[]")
    except ValueError as exc:
        raise TargetError(f"ip -j route show dev {port}: unreadable ({exc})") from None
    return [r for r in routes if isinstance(r, dict) and r.get("protocol") != "kernel"]


class BridgeAddressMove(Fix):
    meta = FixMeta(
        id="fix.net.bridge_address",
        title="Move the host address from the enslaved port to the bridge, routes included",
        fixes=("host.bridge.address",),
        risk=Severity.HIGH,
        description="ip addr add ADDR dev BRIDGE; ip addr del ADDR dev PORT; ip route add ... dev BRIDGE for "
                    "every route that went through the port (default gateway included). May cut remote access: "
                    "refused over an SSH session through the port unless --yes-i-have-console. The persistent "
                    "configuration must move the address too.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        views = ctx.fact(bridge_views)
        addrs = ctx.fact(addresses)
        changes: list[Change] = []
        notes: list[str] = []
        ports: list[str] = []
        for f in findings:
            view = views.get(f.resource)
            if view is None or view.iface is None:
                notes.append(f"{f.resource}: no such bridge now")
                continue
            bridge = view.iface.name
            for port in view.iface.ports:
                mine = [a for a in addrs.get(port, []) if a.scope == "global"]
                if not mine:
                    continue
                ports.append(port)
                routes = port_routes(ctx.target, port)
                for a in mine:
                    changes.append(IpAddress(bridge, str(a), present=True))
                for a in mine:
                    changes.append(IpAddress(port, str(a), present=False))
                for r in routes:
                    spec = route_argv(dict(r, dev=bridge))
                    changes.append(IpRoute(tuple(spec), present=True))
                notes.append(f"{port} -> {bridge}: {', '.join(str(a) for a in mine)}"
                             + (f"; routes carried over: {'; '.join(' '.join(route_argv(dict(r, dev=bridge))) for r in routes)}"
                                if routes else ""))
        if changes:
            notes.append("make it persistent: the address and gateway belong to the bridge in netplan / "
                         "NetworkManager / ifupdown / networkd (see host.bridge.persistent)")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes),
                    console_ifaces=tuple(ports))


FIXES = (BridgeAddressMove,)
