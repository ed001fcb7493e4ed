"""The effective modprobe configuration on this host comes from kmod itself and agrees with the file
merge the doctor does for targets that cannot run commands."""

import pytest

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.facts.modprobe import _from_files, modprobe_config
from autoglm_doctor.targets.local import LocalTarget

pytestmark = pytest.mark.live


def test_showconfig_and_the_file_merge_agree_on_this_host():
    target = LocalTarget()
    ctx = Context(target, Profile({}))
    shown = ctx.target.run(["modprobe", "--showconfig"])
    assert shown.ok, shown.stderr
    kmod = modprobe_config(ctx)
    files = _from_files(Context(target, Profile({})))
    assert set(kmod.blacklist) == set(files.blacklist)
    assert {m: [t for t, _ in v] for m, v in kmod.options.items() if m in files.options} == \
        {m: [t for t, _ in v] for m, v in files.options.items()}
    # where the file merge found an entry, its file:line is kept
    assert all(where != "modprobe --showconfig" for where in kmod.blacklist.values()) or not files.blacklist
    sysroot = modprobe_config(Context(LocalTarget("/", name="local:/", live=False), Profile({})))
    assert set(sysroot.blacklist) == set(files.blacklist)  # no command on a sysroot: the file merge
