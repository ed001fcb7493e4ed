"""A small model of filter chains, built from ``iptables-save`` text or ``nft -j list ruleset`` JSON, and a
walk that answers one question: what happens to a NEW bridged packet entering and leaving bridge B?

With br_netfilter, a frame forwarded between two ports of a bridge reaches the IPv4/IPv6 FORWARD hook with
both the input and output interface set to the bridge itself (the ports are visible only to
``-m physdev``). A rule is *unconditional for that packet* when its only matches are on those interfaces,
``-m physdev --physdev-is-bridged``, a conntrack state set that covers NEW, ESTABLISHED and RELATED, or a
comment. Any other match (protocol, address, port, ...) makes it *conditional*: it decides only for some
traffic, so the walk notes it and continues as the packet would when it does not match.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from autoglm_doctor.facts.kernel import GarbageValue

VERDICTS = {"ACCEPT", "DROP", "REJECT"}
ALL_STATES = {"NEW", "ESTABLISHED", "RELATED"}


@dataclass
class Rule:
    text: str
    chain: str
    in_if: tuple[str, bool] | None = None  # (name or prefix pattern, negated)
    out_if: tuple[str, bool] | None = None
    conditions: list[str] = field(default_factory=list)  # matches that restrict the rule to some traffic
    target: str = ""  # ACCEPT/DROP/REJECT/RETURN/QUEUE, a chain name, or a non-terminating target
    goto: bool = False


@dataclass
class Chain:
    name: str
    policy: str | None  # ACCEPT/DROP for base chains, None for user chains
    rules: list[Rule] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    outcome: str  # accept, drop, reject, queue, unknown
    decided_by: str  # the rule or policy that decided
    path: tuple[str, ...] = ()  # chains walked, entry first
    conditional: tuple[str, ...] = ()  # rules that decide for some of the traffic only

    @property
    def passes(self) -> bool:
        return self.outcome == "accept"


def _iface_matches(spec: tuple[str, bool] | None, name: str) -> bool:
    if spec is None:
        return True
    pattern, negated = spec
    if pattern.endswith(("+", "*")):
        hit = name.startswith(pattern[:-1])
    else:
        hit = name == pattern
    return hit != negated


def walk(chains: dict[str, Chain], entry: str, in_if: str, out_if: str) -> Verdict:
    """Follow a NEW packet (in_if -> out_if) from base chain ``entry`` to its verdict."""
    notes: list[str] = []
    path: list[str] = []

    def visit(name: str, depth: int) -> tuple[str, str] | None:
        chain = chains.get(name)
        if chain is None:
            return ("unknown", f"jump to chain {name}, which is not in the ruleset")
        if depth > 50:
            return ("unknown", f"chain nesting deeper than 50 at {name}")
        path.append(name)
        for rule in chain.rules:
            if not (_iface_matches(rule.in_if, in_if) and _iface_matches(rule.out_if, out_if)):
                continue
            target = rule.target
            if rule.conditions:
                if target in VERDICTS or target in chains:
                    notes.append(f"{rule.text}  (only traffic matching {' '.join(rule.conditions)})")
                continue
            if target in VERDICTS:
                return (target.lower(), rule.text)
            if target in ("QUEUE", "NFQUEUE"):
                return ("queue", rule.text)
            if target == "RETURN":
                return None
            if target in chains:
                result = visit(target, depth + 1)
                if result is not None:
                    return result
                if rule.goto:
                    return None
        return None

    result = visit(entry, 0)
    if result is None:
        policy = (chains[entry].policy or "ACCEPT") if entry in chains else "ACCEPT"
        result = (policy.lower(), f"policy {policy} of chain {entry}")
    return Verdict(result[0], result[1], tuple(path), tuple(notes))


# -- iptables-save -------------------------------------------------------------------------------------
_VALUE_OPTS = {"-p", "--protocol", "-s", "--source", "-d", "--destination", "--dport", "--sport",
               "--dports", "--sports", "--state", "--ctstate", "--comment", "--physdev-in", "--physdev-out",
               "--match-set", "--dst-type", "--src-type", "--mark", "--uid-owner", "-f"}


def _rule_from_tokens(chain: str, tokens: list[str], text: str) -> Rule:
    rule = Rule(text=text, chain=chain)
    i, negate, module = 0, False, ""
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok == "!":
            negate = True
            i += 1
            continue
        if tok in ("-i", "--in-interface"):
            rule.in_if = (nxt, negate)
            i += 2
        elif tok in ("-o", "--out-interface"):
            rule.out_if = (nxt, negate)
            i += 2
        elif tok in ("-j", "--jump", "-g", "--goto"):
            rule.target, rule.goto = nxt, tok in ("-g", "--goto")
            break  # what follows are the target's own options
        elif tok in ("-m", "--match"):
            module = nxt
            i += 2
        elif tok in ("--ctstate", "--state"):
            states = set(nxt.upper().split(","))
            if negate or not ALL_STATES <= states:
                rule.conditions.append(f"{'! ' if negate else ''}{tok} {nxt}")
            i += 2
        elif tok == "--comment":
            i += 2
        elif tok == "--physdev-is-bridged":
            if negate:
                rule.conditions.append("! --physdev-is-bridged")
            i += 1
        elif tok.startswith("-"):
            has_value = tok in _VALUE_OPTS or (nxt and not nxt.startswith("-") and nxt != "!")
            rule.conditions.append(f"{'! ' if negate else ''}{tok}{' ' + nxt if has_value else ''}")
            i += 2 if has_value else 1
        else:
            rule.conditions.append(tok)  # a stray value: stay conservative
            i += 1
        negate = False
    del module
    return rule


def parse_iptables_save(text: str, table: str = "filter", where: str = "iptables-save") -> dict[str, Chain] | None:
    """Chains of ``table`` from iptables-save output; None when the table is not in it."""
    chains: dict[str, Chain] = {}
    current = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = line[1:].strip()
            continue
        if current != table:
            continue
        if line == "COMMIT":
            current = None
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            if len(parts) < 2:
                raise GarbageValue(f"{where}: line {lineno}: malformed chain line {line[:80]!r}")
            chains[parts[0]] = Chain(parts[0], None if parts[1] == "-" else parts[1].upper())
            continue
        if line.startswith("-A "):
            try:
                tokens = shlex.split(line)
            except ValueError as exc:
                raise GarbageValue(f"{where}: line {lineno}: {exc}") from exc
            if len(tokens) < 2 or tokens[1] not in chains:
                raise GarbageValue(f"{where}: line {lineno}: rule for an undeclared chain: {line[:80]!r}")
            chains[tokens[1]].rules.append(_rule_from_tokens(tokens[1], tokens[2:], line))
            continue
        raise GarbageValue(f"{where}: line {lineno}: not iptables-save syntax: {line[:80]!r}")
    return chains or None


# -- nft -j list ruleset ------------------------------------------------------------------------------
IPTABLES_NFT_TABLES = {"filter", "nat", "mangle", "raw", "security"}
IPTABLES_BASE = {"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}


@dataclass
class NftTable:
    family: str
    name: str
    chains: dict[str, Chain] = field(default_factory=dict)
    forward_chains: list[str] = field(default_factory=list)  # base chains at the forward hook
    iptables_nft: bool = False  # managed by iptables-nft (read through iptables-save instead)


def _nft_iface(expr: dict[str, Any], rule: Rule) -> bool:
    match = expr.get("match")
    if not isinstance(match, dict):
        return False
    left, right, op = match.get("left"), match.get("right"), match.get("op", "==")
    key = left.get("meta", {}).get("key") if isinstance(left, dict) and isinstance(left.get("meta"), dict) else None
    if key not in ("iifname", "oifname") or not isinstance(right, str) or op not in ("==", "!="):
        return False
    spec = (right, op == "!=")
    if key == "iifname":
        rule.in_if = spec
    else:
        rule.out_if = spec
    return True


def _nft_rule(chain: str, exprs: list[Any], family: str) -> Rule:
    rule = Rule(text="", chain=chain)
    for expr in exprs:
        if not isinstance(expr, dict) or not expr:
            continue
        (key, value), = list(expr.items())[:1]
        if key in ("counter", "comment", "log"):
            continue
        if key in ("accept", "drop", "reject", "return", "queue"):
            rule.target = key.upper()
        elif key in ("jump", "goto") and isinstance(value, dict):
            rule.target, rule.goto = str(value.get("target", "")), key == "goto"
        elif key == "match" and family != "bridge" and _nft_iface(expr, rule):
            continue
        else:
            rule.conditions.append(json.dumps(expr, sort_keys=True)[:120])
    return rule


def parse_nft_json(text: str, where: str = "nft -j list ruleset") -> list[NftTable]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise GarbageValue(f"{where}: not JSON ({exc})") from exc
    items = data.get("nftables") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise GarbageValue(f"{where}: no 'nftables' list")
    tables: dict[tuple[str, str], NftTable] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        if "chain" in item and isinstance(item["chain"], dict):
            c = item["chain"]
            table = tables.setdefault((c.get("family", ""), c.get("table", "")), NftTable(c.get("family", ""), c.get("table", "")))
            policy = str(c["policy"]).upper() if c.get("hook") else None
            table.chains[c.get("name", "")] = Chain(c.get("name", ""), policy)
            if c.get("hook") == "forward" and c.get("type", "filter") == "filter":
                table.forward_chains.append(c.get("name", ""))
        elif "rule" in item and isinstance(item["rule"], dict):
            r = item["rule"]
            found = tables.get((r.get("family", ""), r.get("table", "")))
            if found is None or r.get("chain") not in found.chains:
                continue
            rule = _nft_rule(r["chain"], r.get("expr") or [], found.family)
            rule.text = f"{found.family} {found.name} {r['chain']} handle {r.get('handle', '?')}"
            found.chains[r["chain"]].rules.append(rule)
    for table in tables.values():
        table.iptables_nft = (
            table.family in ("ip", "ip6") and table.name in IPTABLES_NFT_TABLES
            and any(name in IPTABLES_BASE for name in table.chains)
        )
    return list(tables.values())
