"""Loading checks and fixes from entry points, validating them, selecting them by id or glob.

An entry point names a module (its ``CHECKS`` / ``FIXES`` tuple is used) or a single class.
Built-ins are the entry points whose module lives under ``autoglm_doctor.``; on an id clash the
built-in wins and the clash is reported as a warning.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
from typing import Any, Iterable

from autoglm_doctor.model import ID_PATTERN

CHECK_GROUP = "autoglm_doctor.checks"
FIX_GROUP = "autoglm_doctor.fixes"
BUILTIN_PREFIX = "autoglm_doctor."
# Used only when the package metadata is missing (running from an uninstalled source tree).
BUILTIN_FALLBACK = {
    CHECK_GROUP: (
        "autoglm_doctor.checks.host_kernel",
        "autoglm_doctor.checks.host_kvm",
        "autoglm_doctor.checks.host_cgroup",
        "autoglm_doctor.checks.host_resources",
        "autoglm_doctor.checks.host_libvirt",
        "autoglm_doctor.checks.host_iommu",
        "autoglm_doctor.checks.host_vfio",
        "autoglm_doctor.checks.host_bridge",
        "autoglm_doctor.checks.host_firewall",
        "autoglm_doctor.checks.container_docker",
        "autoglm_doctor.checks.container_deploy",
        "autoglm_doctor.checks.container_volumes",
        "autoglm_doctor.checks.container_selinux",
        "autoglm_doctor.checks.logs_traces",
    ),
    FIX_GROUP: (
        "autoglm_doctor.fixes.host_basics",
        "autoglm_doctor.fixes.host_vfio",
        "autoglm_doctor.fixes.host_network",
        "autoglm_doctor.fixes.container",
    ),
}


@dataclass
class Registry:
    checks: dict[str, type] = field(default_factory=dict)
    fixes: dict[str, type] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # id -> entry point "name = value"
    problems: list[str] = field(default_factory=list)  # load failures: reported as error findings
    warnings: list[str] = field(default_factory=list)  # id clashes won by a built-in
    known_ids: set[str] = field(default_factory=set)  # ids of modules not imported by a selective load
    unloaded_profile_keys: set[str] = field(default_factory=set)  # declared by modules a selective load skipped

    def select(self, only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[type]:
        """Checks matching ``only`` (all when empty) plus what they require, minus ``skip``: a skipped
        check stays out even when another requires it (the runner then skips the dependent)."""
        only, skip = list(only), list(skip)

        def skipped(cid: str) -> bool:
            return any(fnmatch.fnmatchcase(cid, p) for p in skip)

        chosen = {cid for cid in self.checks
                  if (not only or any(fnmatch.fnmatchcase(cid, p) for p in only)) and not skipped(cid)}
        pending = list(chosen)
        while pending:
            for req in self.checks[pending.pop()].meta.requires:
                if req in self.checks and req not in chosen and not skipped(req):
                    chosen.add(req)
                    pending.append(req)
        return [self.checks[cid] for cid in sorted(chosen)]

    def skipped(self, skip: Iterable[str]) -> set[str]:
        """Ids of registered checks that ``skip`` patterns leave out."""
        skip = list(skip)
        return {cid for cid in self.checks if any(fnmatch.fnmatchcase(cid, p) for p in skip)}

    def unmatched(self, patterns: Iterable[str]) -> list[str]:
        ids = set(self.checks) | self.known_ids
        return [p for p in patterns if not any(fnmatch.fnmatchcase(cid, p) for cid in ids)]


def _entry_points(group: str) -> list[tuple[str, str]]:
    from importlib import metadata  # scans every installed distribution: only when the index cannot answer

    try:
        eps = metadata.entry_points(group=group)
    except TypeError:  # Python < 3.10 API shape
        eps = metadata.entry_points().get(group, [])  # type: ignore[attr-defined]
    found = [(ep.name, ep.value) for ep in eps]
    if not any(value.startswith(BUILTIN_PREFIX) for _name, value in found):
        found += [(mod.rsplit(".", 1)[-1], mod) for mod in BUILTIN_FALLBACK[group]]
    # built-ins first, so that they win every clash; then a stable order
    return sorted(set(found), key=lambda nv: (not nv[1].startswith(BUILTIN_PREFIX), nv[1], nv[0]))


def _load_value(value: str) -> list[type]:
    module_name, _, attr = value.partition(":")
    module = importlib.import_module(module_name.strip())
    if attr:
        obj: Any = module
        for part in attr.strip().split("."):
            obj = getattr(obj, part)
        return list(obj) if isinstance(obj, (list, tuple)) else [obj]
    items = getattr(module, "CHECKS", getattr(module, "FIXES", None))
    if items is None:
        raise ImportError(f"module {module_name} defines neither CHECKS nor FIXES")
    return list(items)


def _add(reg: Registry, table: dict[str, type], cls: type, origin: str, kind: str) -> None:
    meta = getattr(cls, "meta", None)
    cid = getattr(meta, "id", None)
    if not isinstance(cid, str) or not ID_PATTERN.match(cid):
        reg.problems.append(f"{origin}: {kind} {getattr(cls, '__name__', cls)!r} has no valid id ({cid!r})")
        return
    if cid in table:
        builtin = reg.origins[cid].split("=", 1)[1].strip().startswith(BUILTIN_PREFIX)
        reg.warnings.append(
            f"{kind} id {cid!r} from {origin} clashes with {reg.origins[cid]}; "
            f"{'the built-in' if builtin else 'the first loaded'} is kept"
        )
        return
    table[cid] = cls
    reg.origins[cid] = origin


def _matches(cid: str, only: Iterable[str], skip: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(cid, p) for p in only) and not any(fnmatch.fnmatchcase(cid, p) for p in skip)


def _needed_modules(index: dict[str, Any], only: list[str], skip: list[str]) -> set[str] | None:
    """Modules holding the selected ids and everything they require, from a valid index; None when the
    index cannot answer (then everything is imported)."""
    owner = {cid: module for module, entry in index.items() for cid in entry["ids"]}
    requires = {cid: reqs for entry in index.values() for cid, reqs in entry["requires"].items()}
    wanted = [cid for cid in owner if _matches(cid, only, skip)]
    seen: set[str] = set()
    while wanted:
        cid = wanted.pop()
        if cid in seen:
            continue
        seen.add(cid)
        wanted.extend(r for r in requires.get(cid, []) if r in owner)
    return {owner[cid] for cid in seen}


def load_registry(only: Iterable[str] = (), skip: Iterable[str] = (), *, fixes: bool = True) -> Registry:
    """Load every check (and fix) plugin. With ``only`` patterns, a valid on-disk index (registry_cache)
    lets unselected check modules stay unimported; their ids are still known for pattern validation."""
    from autoglm_doctor import registry_cache

    only, skip = list(only), list(skip)
    cache = registry_cache.load() if only else None
    reg = Registry()
    groups = [(CHECK_GROUP, reg.checks, "check")] + ([(FIX_GROUP, reg.fixes, "fix")] if fixes else [])
    entry_points = {g: [tuple(x) for x in cache["entry_points"][g]] for g in (CHECK_GROUP, FIX_GROUP)} if cache else \
        {g: _entry_points(g) for g in (CHECK_GROUP, FIX_GROUP)}
    old_index: dict[str, Any] = cache["modules"] if cache else {}
    index: dict[str, Any] = {}
    valid = {v: e for v, e in old_index.items() if e.get("stamp") and e["stamp"] == registry_cache.module_stamp(v)}
    needed = _needed_modules(valid, only, skip) if only and len(valid) == len(entry_points[CHECK_GROUP]) else None
    for group, table, kind in groups:
        for name, value in entry_points[group]:
            origin = f"{name} = {value}"
            if group == CHECK_GROUP and needed is not None and value not in needed:
                reg.known_ids.update(valid[value]["ids"])
                index[value] = valid[value]
                continue
            try:
                classes = _load_value(value)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the tool
                reg.problems.append(f"plugin {origin!r} failed to load: {type(exc).__name__}: {exc}")
                continue
            for cls in classes:
                _add(reg, table, cls, origin, kind)
            if group == CHECK_GROUP and ":" not in value:
                index[value] = {
                    "stamp": registry_cache.module_stamp(value),
                    "ids": [c.meta.id for c in classes if hasattr(c, "meta")],
                    "requires": {c.meta.id: list(c.meta.requires) for c in classes if hasattr(c, "meta")},
                }
    from autoglm_doctor.config import PROFILE_KEYS

    if needed is None:
        profile_keys = sorted(PROFILE_KEYS)
    else:
        profile_keys = cache.get("profile_keys", [])
        reg.unloaded_profile_keys = set(profile_keys) - set(PROFILE_KEYS)
    if index != old_index or cache is None or cache.get("profile_keys") != profile_keys:
        registry_cache.save({g: [list(x) for x in entry_points[g]] for g in entry_points}, index, profile_keys)
    return reg
