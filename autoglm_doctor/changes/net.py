"""``ip``-level network changes: an address on a device, a route, a link attribute (master, up or
down, a bridge option).

Each reads its before-state with ``ip -j`` through the Target and computes its own undo from it, so
the rollback is the inverse of what was really there, not of what the plan assumed. Removing the
last address of a subnet from a device makes the kernel delete every route through it, the default
route included (that is how following "ip addr del" literally cuts a host off): an address change
therefore journals the device's routes and its undo puts them back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from autoglm_doctor.targets.base import Mutator, Target
from autoglm_doctor.changes.base import Change, ChangeFailed, register
from autoglm_doctor.changes.commands import run_or_fail

TIMEOUT = 20.0


def ip_json(target: Target, *args: str) -> list[dict[str, Any]]:
    res = target.run(("ip", "-j", *args), timeout=TIMEOUT)
    if not res.ok:
        raise ChangeFailed(f"ip {' '.join(args)}: {res.stderr.strip() or res.returncode}")
    try:
        data = json.loads(res.stdout or "[]")
    except ValueError as exc:
        raise ChangeFailed(f"ip {' '.join(args)}: unreadable JSON ({exc})") from None
    return data if isinstance(data, list) else []


def addresses(target: Target, dev: str) -> list[dict[str, Any]]:
    out = []
    for link in ip_json(target, "addr", "show", "dev", dev):
        for a in link.get("addr_info", []):
            if a.get("family") in ("inet", "inet6") and a.get("scope") != "link":
                out.append({"cidr": f"{a['local']}/{a['prefixlen']}", "broadcast": a.get("broadcast")})
    return out


def route_argv(r: dict[str, Any]) -> list[str]:
    """An ``ip -j route`` entry back to the words ``ip route add`` takes."""
    argv = [r.get("dst", "default")]
    for key, word in (("gateway", "via"), ("dev", "dev"), ("protocol", "proto"), ("scope", "scope"),
                      ("prefsrc", "src"), ("metric", "metric")):
        if r.get(key) not in (None, "") and not (key == "scope" and r[key] == "global"):
            argv += [word, str(r[key])]
    return argv


def routes(target: Target, dev: str) -> list[dict[str, Any]]:
    return [dict(r, dev=dev) for r in ip_json(target, "route", "show", "dev", dev)]


@register
@dataclass(frozen=True)
class IpAddress(Change):
    dev: str
    cidr: str
    present: bool = True
    kind: ClassVar[str] = "ip_address"
    risk: ClassVar[str] = "may cut remote access"

    def describe(self) -> str:
        return f"ip addr {'add' if self.present else 'del'} {self.cidr} dev {self.dev}"

    def capture(self, target: Target) -> dict[str, Any]:
        return {"addresses": addresses(target, self.dev), "routes": routes(target, self.dev)}

    def _has(self, addrs: list[dict[str, Any]]) -> bool:
        return any(a["cidr"] == self.cidr for a in addrs)

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return self._has(before["addresses"]) == self.present

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        return run_or_fail(mut, ("ip", "addr", "add" if self.present else "del", self.cidr, "dev", self.dev), TIMEOUT)

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return self._has(addresses(target, self.dev)) == self.present

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        had = self._has(before["addresses"])
        now = self._has(addresses(target, self.dev))
        if had and not now:
            brd = next((a.get("broadcast") for a in before["addresses"] if a["cidr"] == self.cidr), None)
            run_or_fail(mut, ("ip", "addr", "add", self.cidr, *(("brd", brd) if brd else ()), "dev", self.dev),
                        TIMEOUT)
        elif now and not had:
            run_or_fail(mut, ("ip", "addr", "del", self.cidr, "dev", self.dev), TIMEOUT)
        current = {tuple(route_argv(r)) for r in routes(target, self.dev)}
        for r in before["routes"]:
            argv = tuple(route_argv(r))
            if argv not in current and r.get("protocol") != "kernel":
                run_or_fail(mut, ("ip", "route", "add", *argv), TIMEOUT)


@register
@dataclass(frozen=True)
class IpRoute(Change):
    """A route present or absent: ``spec`` are the words after ``ip route add`` (dst first)."""

    spec: tuple[str, ...]
    present: bool = True
    kind: ClassVar[str] = "ip_route"
    risk: ClassVar[str] = "may cut remote access"

    def describe(self) -> str:
        return f"ip route {'add' if self.present else 'del'} {' '.join(self.spec)}"

    def _find(self, target: Target) -> bool:
        return bool(ip_json(target, "route", "show", "exact", *self._selector()))

    def _selector(self) -> list[str]:
        words = list(self.spec)
        out = [words[0]]
        for key in ("via", "dev", "metric", "table"):
            if key in words[1:]:
                i = words.index(key)
                out += [key, words[i + 1]]
        return out

    def capture(self, target: Target) -> dict[str, Any]:
        return {"present": self._find(target)}

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return bool(before["present"] == self.present)

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        return run_or_fail(mut, ("ip", "route", "add" if self.present else "del", *self.spec), TIMEOUT)

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return self._find(target) == self.present

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        if self._find(target) != before["present"]:
            run_or_fail(mut, ("ip", "route", "add" if before["present"] else "del", *self.spec), TIMEOUT)


def link_state(target: Target, dev: str) -> dict[str, Any]:
    links = ip_json(target, "-d", "link", "show", "dev", dev)
    if not links:
        raise ChangeFailed(f"no network device {dev}")
    link = links[0]
    info = (link.get("linkinfo") or {}).get("info_data") or {}
    return {"master": link.get("master"), "up": "UP" in (link.get("flags") or []),
            "bridge": {k: v for k, v in info.items() if isinstance(v, (int, str))}}


@register
@dataclass(frozen=True)
class IpLink(Change):
    """``ip link set dev DEV`` one of: ``master BR``, ``nomaster``, ``up``, ``down`` or a bridge
    option (``bridge=(("stp_state", "0"),)``)."""

    dev: str
    master: str | None = None
    nomaster: bool = False
    up: bool | None = None
    bridge: tuple[tuple[str, str], ...] = ()
    kind: ClassVar[str] = "ip_link"
    risk: ClassVar[str] = "disruptive"

    def _words(self) -> list[str]:
        words: list[str] = []
        if self.master:
            words += ["master", self.master]
        if self.nomaster:
            words += ["nomaster"]
        if self.up is not None:
            words += ["up" if self.up else "down"]
        if self.bridge:
            words += ["type", "bridge"] + [w for kv in self.bridge for w in kv]
        return words

    def describe(self) -> str:
        return f"ip link set dev {self.dev} {' '.join(self._words())}"

    def preview(self, target: Target) -> str:
        try:
            st = link_state(target, self.dev)
        except Exception:  # noqa: BLE001 - a preview must not fail a dry run
            return self.describe()
        olds = [f"{k}: {st['bridge'].get(k)} -> {v}" for k, v in self.bridge]
        if self.up is not None:
            olds.append(f"state: {'up' if st['up'] else 'down'} -> {'up' if self.up else 'down'}")
        if self.master or self.nomaster:
            olds.append(f"master: {st['master'] or '-'} -> {self.master or '-'}")
        return self.describe() + "".join(f"\n{self.dev} {o}" for o in olds)

    def capture(self, target: Target) -> dict[str, Any]:
        return link_state(target, self.dev)

    def _as_planned(self, st: dict[str, Any]) -> bool:
        if self.master and st["master"] != self.master:
            return False
        if self.nomaster and st["master"]:
            return False
        if self.up is not None and st["up"] != self.up:
            return False
        return all(str(st["bridge"].get(k)) == v for k, v in self.bridge)

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return self._as_planned(before)

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        return run_or_fail(mut, ("ip", "link", "set", "dev", self.dev, *self._words()), TIMEOUT)

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return self._as_planned(link_state(target, self.dev))

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        words: list[str] = []
        if self.master or self.nomaster:
            words += ["master", before["master"]] if before["master"] else ["nomaster"]
        if self.up is not None:
            words += ["up" if before["up"] else "down"]
        if self.bridge:
            words += ["type", "bridge"] + [w for k, _v in self.bridge for w in (k, str(before["bridge"].get(k)))]
        if words:
            run_or_fail(mut, ("ip", "link", "set", "dev", self.dev, *words), TIMEOUT)
