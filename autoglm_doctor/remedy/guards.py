"""A plan that moves addresses or routes off an interface can cut the session that runs it. When the
doctor runs over SSH (SSH_CONNECTION names the client), the route the kernel would use to reach that
client is looked up (``ip -j route get CLIENT``); if it leaves through an interface the plan changes,
applying is refused unless the operator says they have a console (--yes-i-have-console)."""

from __future__ import annotations
from autoglm_doctor.targets.base import Target

import json
import os
from typing import Any


def ssh_client() -> str | None:
    conn = os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_CLIENT") or ""
    parts = conn.split()
    return parts[0] if parts else None


def session_iface(target: Target) -> tuple[str, str] | None:
    """(client address, outgoing interface) of the SSH session running us, if any."""
    client = ssh_client()
    if not client or not target.can_run:
        return None
    res = target.run(("ip", "-j", "route", "get", client), timeout=10)
    try:
        routes = json.loads(res.stdout) if res.ok else []
    except ValueError:
        return None
    dev = routes[0].get("dev") if routes and isinstance(routes[0], dict) else None
    return (client, dev) if dev else None


def refusal(target: Target, plans: list[Any]) -> str | None:
    session = session_iface(target)
    if session is None:
        return None
    client, dev = session
    for plan in plans:
        if dev in plan.console_ifaces:
            return (f"{plan.fix_id} changes {dev}, the interface this SSH session from {client} goes through: "
                    "it may cut you off. Run it from a console (or IPMI/serial), or pass --yes-i-have-console")
    return None
