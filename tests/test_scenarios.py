"""Scenario trees survive git: empty directories are declared in the side folder, and a copy without
them (what a fresh clone holds) gives exactly the same findings as the tree as built."""

import os
import shutil
import sys

import pytest

from autoglm_doctor.app import RunOptions, build_report
from autoglm_doctor.config import Config
from autoglm_doctor.registry import load_registry
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import SCENARIOS

sys.path.insert(0, str(SCENARIOS))
from declare_empty_dirs import scenario_roots, undeclared_empty_dirs  # noqa: E402

ROOTS = scenario_roots()


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: p.name)
def test_every_empty_directory_is_declared(root):
    assert undeclared_empty_dirs(root) == []


def strip_empty_dirs(root):
    for current, _subdirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        if not os.path.islink(current) and not os.listdir(current):
            os.rmdir(current)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: p.name)
def test_a_fresh_clone_reads_like_the_built_tree(root, tmp_path, registry):
    clone = tmp_path / root.name
    shutil.copytree(root, clone, symlinks=True)
    strip_empty_dirs(clone)

    def findings(path):
        target = SnapshotTarget(str(path))
        try:
            report = build_report(target, Config(), RunOptions(timeout=60), registry=registry)
        finally:
            target.close()
        return [(f.check_id, f.status, f.resource, f.message.replace(str(path), "SNAP")) for f in report.findings]

    assert findings(clone) == findings(root)
