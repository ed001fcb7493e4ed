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
        "autoglm_doctor.checks.host_bridge_config",
        "autoglm_doctor.checks.host_firewall",
        "autoglm_doctor.checks.container_docker",
        "autoglm_doctor.checks.container_deploy",
        "autoglm_doctor.checks.container_volumes",
        "autoglm_doctor.checks.container_selinux",
        "autoglm_doctor.checks.logs_traces",
        "autoglm_doctor.checks.device_adb",
        "autoglm_doctor.checks.device_phone",
        "autoglm_doctor.checks.device_usb",
    ),
    FIX_GROUP: (
        "autoglm_doctor.fixes.host_basics",
        "autoglm_doctor.fixes.host_vfio",
        "autoglm_doctor.fixes.host_network",
        "autoglm_doctor.fixes.container",
        "autoglm_doctor.fixes.device_adb",
        "autoglm_doctor.fixes.device_usb",
    ),
}


@dataclass
class Registry:
    checks: dict[str, type[Any]] = field(default_factory=dict)
    fixes: dict[str, type[Any]] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # id -> entry point "name = value"
    problems: list[str] = field(default_factory=list)  # load failures: reported as error findings
    warnings: list[str] = field(default_factory=list)  # id clashes won by a built-in
    known_ids: set[str] = field(default_factory=set)  # built-in ids whose module a selective run left unimported

    def select(self, only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[type[Any]]:
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

    def all_ids(self) -> set[str]:
        return set(self.checks) | self.known_ids

    def skipped(self, skip: Iterable[str]) -> set[str]:
        """Ids of registered checks that ``skip`` patterns leave out."""
        skip = list(skip)
        return {cid for cid in self.all_ids() if any(fnmatch.fnmatchcase(cid, p) for p in skip)}

    def unmatched(self, patterns: Iterable[str]) -> list[str]:
        ids = self.all_ids()
        return [p for p in patterns if not any(fnmatch.fnmatchcase(cid, p) for cid in ids)]

    def suggestion(self, pattern: str) -> str:
        """' (did you mean host.kvm.tun?)' for a mistyped id, else ''."""
        import difflib

        close = difflib.get_close_matches(pattern, sorted(self.all_ids()), n=1, cutoff=0.6)
        return f" (did you mean {close[0]}?)" if close else ""


def _scan_entry_points(group: str) -> list[tuple[str, str]] | None:
    """Entry points of ``group`` read straight from every ``*.dist-info``/``*.egg-info`` directory on
    sys.path (the first distribution of a name wins, as in importlib.metadata). importlib.metadata
    answers the same but costs ~50 ms of imports (email, zipfile, csv) on every start; None when a
    path entry is an archive, which only importlib.metadata can read."""
    import os
    import sys

    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in sys.path:
        where = entry or "."
        if os.path.isfile(where):
            return None  # a zipped path entry
        try:
            names = sorted(os.listdir(where))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            dist = name.rsplit(".", 1)[0].split("-", 1)[0].lower().replace("_", "-").replace(".", "-")
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(where, name, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read(1 << 20)
            except OSError:
                continue
            section = None
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("[") and line.endswith("]"):
                    section = line[1:-1].strip()
                elif section == group and "=" in line and not line.startswith(("#", ";")):
                    key, _, value = line.partition("=")
                    found.append((key.strip(), value.strip()))
    return found


def _entry_points(group: str) -> list[tuple[str, str]]:
    found = _scan_entry_points(group)
    if found is None:
        from importlib import metadata

        found = [(ep.name, ep.value) for ep in metadata.entry_points(group=group)]
    if not any(value.startswith(BUILTIN_PREFIX) for _name, value in found):
        found += [(mod.rsplit(".", 1)[-1], mod) for mod in BUILTIN_FALLBACK[group]]
    # built-ins first, so that they win every clash; then a stable order
    return sorted(set(found), key=lambda nv: (not nv[1].startswith(BUILTIN_PREFIX), nv[1], nv[0]))


def _load_value(value: str) -> list[type[Any]]:
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


def _add(reg: Registry, table: dict[str, type[Any]], cls: type[Any], origin: str, kind: str) -> None:
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


def _needed(index: dict[str, Any], only: list[str], skip: list[str]) -> set[str]:
    """Built-in modules holding the checks ``only`` selects and everything they require (minus skip)."""
    owner = {cid: module for module, entry in index.items() for cid in entry["ids"]}
    requires = {cid: reqs for entry in index.values() for cid, reqs in entry["requires"].items()}

    def matches(cid: str, patterns: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(cid, p) for p in patterns)

    wanted = [cid for cid in owner if matches(cid, only) and not matches(cid, skip)]
    seen: set[str] = set()
    while wanted:
        cid = wanted.pop()
        if cid not in seen:
            seen.add(cid)
            wanted.extend(r for r in requires.get(cid, []) if r in owner and not matches(r, skip))
    return {owner[cid] for cid in seen}


def load_registry(only: Iterable[str] = (), skip: Iterable[str] = (), *, fixes: bool = True) -> Registry:
    """Load the check (and fix) plugins. With ``only`` patterns, built-in check modules that hold none
    of the selected checks or their requirements stay unimported (the shipped data/check_index.json,
    regenerated by scripts/gen_docs.py and checked by the tests, says which module holds which ids);
    their ids are still known for pattern validation. Third-party plugins are always imported. The
    profile schema does not depend on what is imported."""
    only, skip = list(only), list(skip)
    reg = Registry()
    index: dict[str, Any] = {}
    if only:
        from autoglm_doctor.datafiles import load_table

        try:
            index = load_table("check_index.json")
        except (OSError, ValueError):
            index = {}
    needed = _needed(index, only, skip) if index else None
    groups = [(CHECK_GROUP, reg.checks, "check")] + ([(FIX_GROUP, reg.fixes, "fix")] if fixes else [])
    for group, table, kind in groups:
        for name, value in _entry_points(group):
            origin = f"{name} = {value}"
            if group == CHECK_GROUP and needed is not None and value in index and value not in needed:
                reg.known_ids.update(index[value]["ids"])
                continue
            try:
                classes = _load_value(value)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the tool
                reg.problems.append(f"plugin {origin!r} failed to load: {type(exc).__name__}: {exc}")
                continue
            for cls in classes:
                _add(reg, table, cls, origin, kind)
    return reg
