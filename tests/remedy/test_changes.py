"""Typed changes against real temp trees: capture, apply, verify, revert byte for byte."""

import os
import time

import pytest

from autoglm_doctor.changes import acl
from autoglm_doctor.changes.base import ChangeFailed, change_from_dict
from autoglm_doctor.plan import (EnsureKernelArgs, EnsureLine, GrantAcl, RemoveFile, RunCommand, SetMode, SetOwner,
                                 SetXattr, WriteFile)
from autoglm_doctor.targets.base import ReadOnlyTarget
from autoglm_doctor.targets.local import LocalTarget
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import scenario_path
from tests.remedy.treestate import tree_state


def cycle(root, change):
    """Apply then revert through a sysroot target; returns the state after apply."""
    target = LocalTarget(str(root))
    mut = target.mutator()
    before_tree = tree_state(str(root))
    before = change.capture(target)
    assert not change.satisfied(target, before)
    change.apply(mut, target, before)
    assert change.verify(target, before)
    applied = tree_state(str(root))
    assert change.satisfied(target, change.capture(target))
    roundtrip = change_from_dict(change.to_dict())
    assert roundtrip == change
    roundtrip.revert(mut, target, before)
    assert tree_state(str(root)) == before_tree
    return applied


def test_write_file_keeps_mode_owner_acl_and_xattrs_and_reverts(tmp_path):
    path = tmp_path / "etc" / "default" / "grub"
    path.parent.mkdir(parents=True)
    path.write_text('GRUB_CMDLINE_LINUX="quiet"\n')
    os.chown(path, 1234, 5678)
    os.chmod(path, 0o640)
    os.setxattr(path, "user.origin", b"distro")
    entries = acl.with_entry(acl.from_mode(0o640), acl.USER, 4321, 4)
    os.setxattr(path, acl.ACCESS, acl.encode(entries))
    applied = cycle(tmp_path, WriteFile("/etc/default/grub", 'GRUB_CMDLINE_LINUX="quiet intel_iommu=on"\n'))
    kind, mode, uid, gid, _body, xattrs = applied["etc/default/grub"]
    assert (mode, uid, gid) == (0o640, 1234, 5678)
    assert dict(xattrs)["user.origin"] == b"distro"
    assert acl.effective(acl.decode(dict(xattrs)[acl.ACCESS]), acl.USER, 4321) == 4


def test_new_file_in_missing_dirs_is_removed_with_them(tmp_path):
    (tmp_path / "etc").mkdir()
    applied = cycle(tmp_path, WriteFile("/etc/modprobe.d/x/autoglm.conf", "options vfio-pci ids=10de:1eb8\n", 0o600))
    assert applied["etc/modprobe.d/x/autoglm.conf"][1] == 0o600
    assert not (tmp_path / "etc" / "modprobe.d").exists()


def test_ensure_line_replaces_the_key_and_drops_later_overrides():
    change = EnsureLine("/etc/sysctl.d/x.conf", "net.ipv4.ip_forward = 1", r"^\s*net\.ipv4\.ip_forward\s*=")
    text = "# keep\nnet.ipv4.ip_forward=0\nvm.swappiness = 10\nnet.ipv4.ip_forward = 0\n"
    assert change.render(text) == "# keep\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\n"
    assert change.render(None) == "net.ipv4.ip_forward = 1\n"


def test_kernel_args_edit_grub_default_and_kernel_cmdline():
    grub = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\nGRUB_CMDLINE_LINUX="intel_iommu=off pcie_acs_override=downstream"\n'
    change = EnsureKernelArgs("/etc/default/grub", ("intel_iommu=on", "iommu=pt"), remove=("pcie_acs_override",))
    assert change.render(grub) == ('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n'
                                   'GRUB_CMDLINE_LINUX="intel_iommu=on iommu=pt"\n')
    assert change.reboot and change.risk == "needs reboot"
    plain = EnsureKernelArgs("/etc/kernel/cmdline", ("amd_iommu=on",), variable="")
    assert plain.render("root=UUID=1 ro quiet\n") == "root=UUID=1 ro quiet amd_iommu=on\n"


def test_recursive_owner_and_mode_touch_exactly_the_tree_and_never_follow_links(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("host secret")
    vol = tmp_path / "srv" / "vol"
    (vol / "sub").mkdir(parents=True)
    (vol / "sub" / "a").write_text("a")
    (vol / "link").symlink_to(outside)
    os.chmod(vol / "sub" / "a", 0o4755)
    applied = cycle(tmp_path, SetOwner("/srv/vol", "1000", "1000", recursive=True))
    assert applied["srv/vol/sub/a"][2:4] == (1000, 1000)
    assert applied["outside"][2:4] == (0, 0)
    target = LocalTarget(str(tmp_path))
    change = SetMode("/srv/vol", 0o750, recursive=True)
    before = change.capture(target)
    info = change.apply(target.mutator(), target, before)
    assert info["touched"] == ["/srv/vol", "/srv/vol/sub", "/srv/vol/sub/a"]


def test_grant_acl_recursive_with_default_entries(tmp_path):
    vol = tmp_path / "cfg"
    vol.mkdir()
    (vol / "settings.json").write_text("{}")
    os.chmod(vol / "settings.json", 0o600)
    os.chmod(vol, 0o750)
    applied = cycle(tmp_path, GrantAcl("/cfg", uid=1000, perms="rX"))
    file_acl = acl.decode(dict(applied["cfg/settings.json"][5])[acl.ACCESS])
    assert acl.effective(file_acl, acl.USER, 1000) == 4  # rX on a non-executable file: r only
    dir_default = acl.decode(dict(applied["cfg"][5])[acl.DEFAULT])
    assert acl.effective(dir_default, acl.USER, 1000) == 5


def test_xattr_set_and_remove(tmp_path):
    (tmp_path / "f").write_text("x")
    cycle(tmp_path, SetXattr("/f", "user.k", b"v"))
    os.setxattr(tmp_path / "f", "user.k", b"old")
    cycle(tmp_path, SetXattr("/f", "user.k", None))


def test_remove_file_reverts_with_its_metadata(tmp_path):
    (tmp_path / "f").write_text("x")
    os.chmod(tmp_path / "f", 0o600)
    os.setxattr(tmp_path / "f", "user.k", b"v")
    cycle(tmp_path, RemoveFile("/f"))


def test_sysroot_records_commands_and_never_runs_them(tmp_path):
    marker = f"/tmp/remedy-should-not-exist-{os.getpid()}"
    target = LocalTarget(str(tmp_path))
    mut = target.mutator()
    change = RunCommand(("touch", marker), undo=("rm", "-f", marker))
    info = change.apply(mut, target, change.capture(target))
    assert info["recorded"] is True
    assert not os.path.exists(marker)
    assert mut.recorded == [{"argv": ["touch", marker], "sysroot": str(tmp_path)}]


def test_hanging_command_is_killed_at_its_timeout():
    target = LocalTarget("/")
    change = RunCommand(("sleep", "30"), timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ChangeFailed, match="timed out after 0.5s"):
        change.apply(target.mutator(), target, {})
    assert time.monotonic() - t0 < 5


def test_snapshot_has_no_mutator():
    with pytest.raises(ReadOnlyTarget):
        SnapshotTarget(str(scenario_path("host-old-amd"))).mutator()
