"""Where bridges are defined persistently: netplan, NetworkManager keyfiles, ifupdown, systemd-networkd.

Each parser returns ``BridgeDef``s with the *effective* STP setting — an unset value means the tool's
default, which differs: netplan and NetworkManager default to STP **on** (forward delay 15 s), ifupdown's
bridge-utils and systemd-networkd leave the kernel default (off). Files that cannot be read or parsed
become ``ConfigProblem``s (reported as findings), never exceptions.
"""

from __future__ import annotations

import configparser
import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autoglm_doctor.facts import yamldoc
from autoglm_doctor.targets.base import NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

NETPLAN_DIRS = ("/run/netplan", "/etc/netplan", "/lib/netplan", "/usr/lib/netplan")  # earlier shadows later
NM_DIRS = ("/etc/NetworkManager/system-connections",)
IFUPDOWN_MAIN = "/etc/network/interfaces"
NETWORKD_DIRS = ("/etc/systemd/network", "/run/systemd/network", "/usr/lib/systemd/network", "/lib/systemd/network")
TRUE = {"true", "yes", "on", "y", "1"}
FALSE = {"false", "no", "off", "n", "0"}


@dataclass(frozen=True)
class BridgeDef:
    name: str
    system: str  # netplan, NetworkManager, ifupdown, systemd-networkd
    source: str  # file (or files) defining it
    stp: bool  # effective, defaults applied
    stp_explicit: bool  # False: the tool's default decided
    forward_delay_s: float | None = None
    ports: tuple[str, ...] | None = None  # None: not stated / not knowable (regex, "all")
    at_boot: bool = True


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    kind: str  # invalid (the tool would reject it), unsupported (we cannot evaluate), unreadable
    message: str


@dataclass
class NetConfig:
    bridges: dict[str, list[BridgeDef]] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    looked_in: list[str] = field(default_factory=list)

    def add(self, d: BridgeDef) -> None:
        self.bridges.setdefault(d.name, []).append(d)


def _bool(value: Any) -> bool | None:
    text = str(value).strip().lower()
    return True if text in TRUE else False if text in FALSE else None


def _seconds(value: Any) -> float | None:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|sec)?\s*", str(value))
    if not m:
        return None
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def _read(ctx: Context, path: str, cfg: NetConfig) -> str | None:
    try:
        return ctx.target.read_text(path)
    except NotCaptured:
        raise
    except TargetError as exc:
        cfg.problems.append(ConfigProblem(path, "unreadable", f"cannot read {path}: {exc}"))
        return None


def _shadowed_files(ctx: Context, dirs: tuple[str, ...], suffixes: tuple[str, ...]) -> list[str]:
    """Files by name across dirs (first dir wins for a name), in name order."""
    chosen: dict[str, str] = {}
    for d in dirs:
        for name in ctx.target.listdir(d) or []:
            if name.endswith(suffixes) and name not in chosen:
                chosen[name] = f"{d}/{name}"
    return [chosen[n] for n in sorted(chosen)]


# -- netplan ------------------------------------------------------------------------------------------
def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def parse_netplan(ctx: Context, cfg: NetConfig) -> None:
    merged: dict[str, Any] = {}
    sources: dict[str, list[str]] = {}
    for path in _shadowed_files(ctx, NETPLAN_DIRS, (".yaml", ".yml")):
        cfg.looked_in.append(path)
        text = _read(ctx, path, cfg)
        if text is None:
            continue
        try:
            doc = yamldoc.loads(text)
        except yamldoc.YamlUnsupported as exc:
            cfg.problems.append(ConfigProblem(path, "unsupported", f"{path}: {exc} — the doctor cannot evaluate it"))
            continue
        except yamldoc.YamlError as exc:
            cfg.problems.append(ConfigProblem(path, "invalid", f"{path} is not valid YAML ({exc}): "
                                              "'netplan generate' rejects it, so none of its settings apply"))
            continue
        net = doc.get("network") if isinstance(doc, dict) else None
        if doc is not None and not isinstance(net, dict):
            cfg.problems.append(ConfigProblem(path, "invalid", f"{path} has no 'network:' mapping"))
            continue
        for name in ((net or {}).get("bridges") or {}) if isinstance((net or {}).get("bridges"), dict) else {}:
            sources.setdefault(str(name), []).append(path)
        _merge(merged, net or {})
    bridges: dict[Any, Any] = merged["bridges"] if isinstance(merged.get("bridges"), dict) else {}
    for name, body in bridges.items():
        body = body if isinstance(body, dict) else {}
        params: dict[str, Any] = body["parameters"] if isinstance(body.get("parameters"), dict) else {}
        stp = _bool(params.get("stp")) if "stp" in params else None
        ports = body.get("interfaces")
        cfg.add(BridgeDef(
            str(name), "netplan", ", ".join(sources.get(str(name), [])), True if stp is None else stp, stp is not None,
            _seconds(params["forward-delay"]) if "forward-delay" in params else None,
            tuple(str(p) for p in ports) if isinstance(ports, list) else () if ports is None else None,
        ))


# -- NetworkManager keyfiles --------------------------------------------------------------------------
def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",),
                                       comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def parse_networkmanager(ctx: Context, cfg: NetConfig) -> None:
    conns = []
    for path in _shadowed_files(ctx, NM_DIRS, (".nmconnection",)):
        cfg.looked_in.append(path)
        text = _read(ctx, path, cfg)
        if text is None:
            continue
        try:
            conns.append((path, _ini(text)))
        except configparser.Error as exc:
            cfg.problems.append(ConfigProblem(path, "invalid", f"{path} is not a valid keyfile: {exc}"))
    bridges = {}
    for path, ini in conns:
        if ini.get("connection", "type", fallback="") == "bridge":
            name = ini.get("connection", "interface-name", fallback="") or ini.get("bridge", "interface-name", fallback="")
            if name:
                bridges[name] = (path, ini)
    by_ref = {}
    for name, (_path, ini) in bridges.items():
        by_ref[name] = name
        by_ref[ini.get("connection", "uuid", fallback=name)] = name
        by_ref[ini.get("connection", "id", fallback=name)] = name
    ports: dict[str, list[str]] = {}
    for _path, ini in conns:
        master = ini.get("connection", "controller", fallback="") or ini.get("connection", "master", fallback="")
        kind = ini.get("connection", "port-type", fallback="") or ini.get("connection", "slave-type", fallback="")
        if master in by_ref and kind == "bridge":
            ports.setdefault(by_ref[master], []).append(ini.get("connection", "interface-name", fallback="?"))
    for name, (path, ini) in bridges.items():
        stp = _bool(ini.get("bridge", "stp", fallback="")) if ini.has_option("bridge", "stp") else None
        delay = ini.get("bridge", "forward-delay", fallback=None)
        auto = _bool(ini.get("connection", "autoconnect", fallback="true"))
        cfg.add(BridgeDef(name, "NetworkManager", path, True if stp is None else stp, stp is not None,
                          _seconds(delay) if delay is not None else (15.0 if stp is None or stp else None),
                          tuple(sorted(ports.get(name, []))), auto is not False))


# -- ifupdown -----------------------------------------------------------------------------------------
def _ifupdown_files(ctx: Context, path: str, cfg: NetConfig, seen: set[str]) -> list[tuple[str, str]]:
    if path in seen or len(seen) > 200:
        return []
    seen.add(path)
    text = _read(ctx, path, cfg)
    if text is None:
        return []
    cfg.looked_in.append(path)
    out = [(path, text)]
    base = path.rsplit("/", 1)[0]
    for line in text.splitlines():
        words = line.split()
        if len(words) != 2 or words[0] not in ("source", "source-directory"):
            continue
        pattern = words[1] if words[1].startswith("/") else f"{base}/{words[1]}"
        if words[0] == "source-directory":
            names = [n for n in ctx.target.listdir(pattern.rstrip("/")) or [] if re.fullmatch(r"[A-Za-z0-9_-]+", n)]
            targets = [f"{pattern.rstrip('/')}/{n}" for n in sorted(names)]
        else:
            directory, _, glob = pattern.rpartition("/")
            targets = [f"{directory}/{n}" for n in sorted(ctx.target.listdir(directory) or []) if fnmatch.fnmatch(n, glob)]
        for target in targets:
            out += _ifupdown_files(ctx, target, cfg, seen)
    return out


STANZAS = {"iface", "auto", "mapping", "source", "source-directory", "rename"}


def parse_ifupdown(ctx: Context, cfg: NetConfig) -> None:
    auto: set[str] = set()
    stanzas: list[tuple[str, str, dict[str, str]]] = []
    for path, text in _ifupdown_files(ctx, IFUPDOWN_MAIN, cfg, set()):
        current: dict[str, str] | None = None
        for raw in text.splitlines():
            words = raw.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] == "auto" or words[0].startswith("allow-"):
                auto.update(words[1:])
                current = None
            elif words[0] == "iface" and len(words) >= 2:
                current = {}
                stanzas.append((words[1], path, current))
            elif words[0] in STANZAS:
                current = None
            elif current is not None:
                current[words[0].replace("-", "_")] = " ".join(words[1:])
    for name, path, opts in stanzas:
        if "bridge_ports" not in opts:
            continue
        words = opts["bridge_ports"].split()
        ports: tuple[str, ...] | None = () if words == ["none"] else None if words[:1] in (["all"], ["regex"]) else tuple(words)
        stp = _bool(opts["bridge_stp"]) if "bridge_stp" in opts else None
        cfg.add(BridgeDef(name, "ifupdown", path, bool(stp), stp is not None,
                          _seconds(opts["bridge_fd"]) if "bridge_fd" in opts else None, ports, name in auto))


# -- systemd-networkd ---------------------------------------------------------------------------------
def parse_networkd(ctx: Context, cfg: NetConfig) -> None:
    netdevs: list[Any] = []
    networks: list[Any] = []
    for path in _shadowed_files(ctx, NETWORKD_DIRS, (".netdev", ".network")):
        cfg.looked_in.append(path)
        text = _read(ctx, path, cfg)
        if text is None:
            continue
        try:
            ini = _ini(text)
        except configparser.Error as exc:
            cfg.problems.append(ConfigProblem(path, "invalid", f"{path} is not a valid unit file: {exc}"))
            continue
        (netdevs if path.endswith(".netdev") else networks).append((path, ini))
    ports: dict[str, list[str]] = {}
    for _path, ini in networks:
        bridge = ini.get("Network", "Bridge", fallback="")
        if bridge:
            ports.setdefault(bridge, []).extend(ini.get("Match", "Name", fallback="?").split())
    for path, ini in netdevs:
        if ini.get("NetDev", "Kind", fallback="") != "bridge":
            continue
        name = ini.get("NetDev", "Name", fallback="")
        stp = _bool(ini.get("Bridge", "STP", fallback="")) if ini.has_option("Bridge", "STP") else None
        delay = ini.get("Bridge", "ForwardDelaySec", fallback=None)
        cfg.add(BridgeDef(name, "systemd-networkd", path, bool(stp), stp is not None,
                          _seconds(delay) if delay is not None else None, tuple(sorted(ports.get(name, [])))))


def net_config(ctx: Context) -> NetConfig:
    cfg = NetConfig()
    for parse in (parse_netplan, parse_networkmanager, parse_ifupdown, parse_networkd):
        parse(ctx, cfg)
    return cfg
