"""The bounded volume tree walk: what it denies, and what it says it did not walk."""

import os

from autoglm_doctor.facts.access import Account
from autoglm_doctor.facts.volumes import walk_access
from autoglm_doctor.targets.local import LocalTarget

APP = Account("app", 1000, 1000, frozenset({1000}))


def never(_st):
    return False


def test_denied_paths_inside_a_readable_top(tmp_path):
    (tmp_path / "ok.txt").write_text("x")
    (tmp_path / "secret.json").write_text("{}")
    os.chmod(tmp_path / "secret.json", 0o600)
    os.chmod(tmp_path / "ok.txt", 0o644)
    tree = walk_access(LocalTarget("/"), str(tmp_path), APP, never, write=False)
    assert tree.denied == (str(tmp_path / "secret.json"),) and tree.walked == 2 and tree.not_walked == ""


def test_the_walk_is_bounded_and_says_so(tmp_path):
    for i in range(5):
        (tmp_path / f"f{i}").write_text("x")
    deep = tmp_path
    for i in range(4):
        deep = deep / f"d{i}"
        deep.mkdir()
        os.chmod(deep, 0o755)
    target = LocalTarget("/")
    assert walk_access(target, str(tmp_path), APP, never, write=False, max_entries=3).not_walked.startswith(
        "stopped after 3 entries")
    assert walk_access(target, str(tmp_path), APP, never, write=False, max_depth=2).not_walked == (
        "1 directories deeper than 2 levels not walked")


def test_the_walk_keeps_a_sample_and_the_symlinks_for_the_container_to_try(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.txt").write_text("x")
    (tmp_path / "outside.json").symlink_to("/etc/hostname")
    for p in (tmp_path / "a.json", tmp_path / "d" / "b.txt"):
        os.chmod(p, 0o644)
    os.chmod(tmp_path / "d", 0o755)
    tree = walk_access(LocalTarget("/"), str(tmp_path), APP, never, write=False)
    assert tree.sample == (str(tmp_path / "a.json"), str(tmp_path / "d" / "b.txt"), str(tmp_path / "d"))
    assert tree.links == (str(tmp_path / "outside.json"),) and tree.walked == 3 and tree.denied == ()
