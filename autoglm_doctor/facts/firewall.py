"""br_netfilter switches, the sysctl files that set them at boot, and the host's filter rulesets.

- /proc/sys/net/bridge/bridge-nf-call-{iptables,ip6tables,arptables} exist only while br_netfilter is
  active (a module, or built in with CONFIG_BRIDGE_NETFILTER=y); 1 = bridged frames traverse the
  IPv4/IPv6/ARP filter hooks. A bridge's own bridge/nf_call_iptables=1 forces the same for that bridge.
- Rulesets are read with ``iptables-save -t filter`` / ``ip6tables-save -t filter`` (plus the legacy
  variant when iptables says legacy tables are present: both sets of hooks run) and ``nft -j list ruleset``
  for native nftables tables (a bridge-family forward chain filters bridged frames even without
  br_netfilter). All through ``target.run``, so snapshots replay them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autoglm_doctor.facts.fwrules import Chain, parse_iptables_save, parse_nft_json, walk, Verdict
from autoglm_doctor.targets.base import TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

BR_NF_DIR = "/proc/sys/net/bridge"
BR_NF_KEYS = ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables")
SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


@dataclass(frozen=True)
class BrNetfilter:
    active: bool  # /proc/sys/net/bridge exists
    values: dict[str, int]  # bridge-nf-call-* -> 0/1


def br_netfilter(ctx: Context) -> BrNetfilter:
    t = ctx.target
    if t.listdir(BR_NF_DIR) is None:
        return BrNetfilter(False, {})
    values = {}
    for key in BR_NF_KEYS:
        text = t.read_text(f"{BR_NF_DIR}/{key}")
        if text is not None:
            if text.strip() not in ("0", "1"):
                from autoglm_doctor.facts.kernel import GarbageValue

                raise GarbageValue(f"{BR_NF_DIR}/{key}: {text.strip()[:20]!r} is not 0 or 1")
            values[key] = int(text.strip())
    return BrNetfilter(True, values)


# -- sysctl configuration files ------------------------------------------------------------------------
@dataclass(frozen=True)
class SysctlSetting:
    key: str  # dotted form
    value: str
    file: str
    line: int


def _normalise_key(key: str) -> str:
    key = key.strip().lstrip("-")
    if "/" in key and "." not in key.split("/")[0]:
        return key.replace("/", ".")
    return key


def sysctl_files(ctx: Context) -> list[str]:
    """Files systemd-sysctl applies, in order: names sorted, /etc shadows /run shadows /usr/lib."""
    t = ctx.target
    chosen: dict[str, str] = {}
    for directory in SYSCTL_DIRS:
        for name in t.listdir(directory) or []:
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = f"{directory}/{name}"
    files = [chosen[name] for name in sorted(chosen)]
    via_link = any((t.readlink(f) or "").rstrip("/").endswith("sysctl.conf") for f in files)
    if not via_link and t.stat("/etc/sysctl.conf") is not None:
        files.append("/etc/sysctl.conf")
    return files


def sysctl_config(ctx: Context) -> dict[str, SysctlSetting]:
    """The effective configured value of every key (last assignment wins)."""
    out: dict[str, SysctlSetting] = {}
    for path in ctx.fact(sysctl_files):
        text = ctx.target.read_text(path)
        for lineno, raw in enumerate((text or "").splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            key, _, value = line.partition("=")
            key = _normalise_key(key)
            out[key] = SysctlSetting(key, value.strip(), path, lineno)
    return out


# -- filter rulesets -----------------------------------------------------------------------------------
@dataclass
class FilterView:
    label: str  # where it came from: "iptables-save", "iptables-legacy-save", "nft table inet fw"
    chains: dict[str, Chain]
    entries: list[str]  # base chains at the forward hook
    bridge_family: bool = False  # nft bridge table: filters bridged frames without br_netfilter

    def verdicts(self, in_if: str, out_if: str) -> list[Verdict]:
        return [walk(self.chains, entry, in_if, out_if) for entry in self.entries]


@dataclass
class Rulesets:
    views: dict[str, list[FilterView]] = field(default_factory=dict)  # ipv4/ipv6 -> views
    missing_tools: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _save(ctx: Context, argv: tuple[str, ...]) -> tuple[str | None, str]:
    result = ctx.target.run(argv)
    if result.not_found:
        return None, ""
    if not result.ok:
        hint = " (run the doctor as root)" if "ermission denied" in result.stderr else ""
        raise TargetError(f"'{' '.join(argv)}' failed (exit {result.returncode}): {result.stderr.strip()[:200]}{hint}")
    return result.stdout, result.stderr


def _xtables_views(ctx: Context, tool: str, rs: Rulesets) -> list[FilterView]:
    views: list[Any] = []
    out, err = _save(ctx, (f"{tool}-save", "-t", "filter"))
    if out is None:
        rs.missing_tools.append(f"{tool}-save")
        return views
    chains = parse_iptables_save(out, where=f"{tool}-save")
    if chains and "FORWARD" in chains:
        views.append(FilterView(f"{tool}-save", chains, ["FORWARD"]))
    if "legacy tables present" in err:
        legacy, _ = _save(ctx, (f"{tool}-legacy-save", "-t", "filter"))
        chains = parse_iptables_save(legacy or "", where=f"{tool}-legacy-save")
        if chains and "FORWARD" in chains:
            views.append(FilterView(f"{tool}-legacy-save", chains, ["FORWARD"]))
    return views


def rulesets(ctx: Context, family: str) -> Rulesets:
    """Filter views that see bridged ``family`` (ipv4 or ipv6) traffic at the forward hook."""
    rs = Rulesets()
    views = _xtables_views(ctx, "iptables" if family == "ipv4" else "ip6tables", rs)
    out, _ = _save(ctx, ("nft", "-j", "list", "ruleset"))
    if out is None:
        rs.missing_tools.append("nft")
    else:
        wanted = {"ipv4": ("ip", "inet", "bridge"), "ipv6": ("ip6", "inet", "bridge")}[family]
        for table in parse_nft_json(out):
            if table.iptables_nft or table.family not in wanted or not table.forward_chains:
                continue
            views.append(FilterView(f"nft table {table.family} {table.name}", table.chains,
                                    list(table.forward_chains), bridge_family=table.family == "bridge"))
    rs.views[family] = views
    return rs


def ipv4_rulesets(ctx: Context) -> Rulesets:
    return rulesets(ctx, "ipv4")


def ipv6_rulesets(ctx: Context) -> Rulesets:
    return rulesets(ctx, "ipv6")


def ip_forward(ctx: Context) -> int | None:
    text = ctx.target.read_text(IP_FORWARD)
    if text is None:
        return None
    if text.strip() not in ("0", "1"):
        from autoglm_doctor.facts.kernel import GarbageValue

        raise GarbageValue(f"{IP_FORWARD}: {text.strip()[:20]!r} is not 0 or 1")
    return int(text.strip())
