"""Every entry point loads; ids are unique and well-formed; references resolve; no cycles; metadata is
complete; every check has a passing and a failing scenario case somewhere in tests/checks."""

import importlib
import pkgutil
from importlib import metadata

import pytest

import tests.checks
from autoglm_doctor.model import ID_PATTERN, CheckMeta, FixMeta, Scope, Severity
from autoglm_doctor.registry import CHECK_GROUP, FIX_GROUP, load_registry


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_every_entry_point_loads(registry):
    assert registry.problems == []
    assert registry.warnings == []
    names = {ep.value for ep in metadata.entry_points(group=CHECK_GROUP)}
    assert "autoglm_doctor.checks.host_kernel" in names


def test_built_in_entry_points_are_all_registered(registry):
    for group, table, attr in ((CHECK_GROUP, registry.checks, "CHECKS"), (FIX_GROUP, registry.fixes, "FIXES")):
        for ep in metadata.entry_points(group=group):
            if ep.value.startswith("autoglm_doctor."):
                classes = getattr(importlib.import_module(ep.value), attr)
                assert classes, ep.value
                for cls in classes:
                    assert table[cls.meta.id] is cls, f"{ep.value}: {cls.meta.id} is not the registered class"


def test_ids_well_formed_and_metadata_complete(registry):
    assert registry.checks, "no checks registered"
    for cid, cls in registry.checks.items():
        meta = cls.meta
        assert isinstance(meta, CheckMeta)
        assert ID_PATTERN.match(cid), cid
        assert meta.title.strip(), cid
        assert meta.remediation.strip(), f"{cid}: empty remediation"
        assert meta.docs.strip(), f"{cid}: empty docs"
        assert isinstance(meta.severity, Severity)
        assert meta.scope and all(isinstance(s, Scope) for s in meta.scope)
    for fid, cls in registry.fixes.items():
        assert isinstance(cls.meta, FixMeta)
        assert ID_PATTERN.match(fid) and fid.startswith("fix."), fid
        assert cls.meta.fixes


def test_ids_unique_across_checks_and_fixes(registry):
    assert not set(registry.checks) & set(registry.fixes)


def test_references_resolve(registry):
    for cid, cls in registry.checks.items():
        for req in cls.meta.requires:
            assert req in registry.checks, f"{cid} requires unknown {req}"
        if cls.meta.fix:
            assert cls.meta.fix in registry.fixes, f"{cid} names unknown fix {cls.meta.fix}"
            assert cid in registry.fixes[cls.meta.fix].meta.fixes, f"{cls.meta.fix} does not list {cid}"
    for fid, cls in registry.fixes.items():
        for cid in cls.meta.fixes:
            assert cid in registry.checks, f"{fid} fixes unknown {cid}"


def test_no_requirement_cycles(registry):
    state: dict[str, int] = {}

    def visit(cid, path):
        if state.get(cid) == 1:
            raise AssertionError("cycle: " + " -> ".join(path + [cid]))
        if state.get(cid) == 2:
            return
        state[cid] = 1
        for req in registry.checks[cid].meta.requires:
            visit(req, path + [cid])
        state[cid] = 2

    for cid in registry.checks:
        visit(cid, [])


def _all_cases():
    cases = []
    for mod in pkgutil.iter_modules(tests.checks.__path__):
        module = importlib.import_module(f"tests.checks.{mod.name}")
        cases.extend(getattr(module, "CASES", []))
    return cases


def test_every_check_has_a_pass_and_a_fail_scenario(registry):
    seen: dict[str, set[str]] = {}
    for case in _all_cases():
        seen.setdefault(case.check_id, set()).update(case.statuses)
    missing = []
    for cid in sorted(registry.checks):
        statuses = seen.get(cid, set())
        if "pass" not in statuses or not statuses & {"fail", "warn"}:
            missing.append(f"{cid} (has {sorted(statuses) or 'no cases'})")
    assert not missing, "checks without a pass and a fail/warn case: " + ", ".join(missing)


def test_case_tables_name_registered_checks(registry):
    unknown = {c.check_id for c in _all_cases()} - set(registry.checks)
    assert not unknown
