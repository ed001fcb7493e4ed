"""Local, snapshot and recording targets: absent vs unreadable vs not captured, links, safety."""

import json
import os
import subprocess
import sys
import tarfile

import pytest

from autoglm_doctor.targets import open_target
from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured, ReadOnlyTarget, TargetError
from autoglm_doctor.targets.local import LocalTarget
from autoglm_doctor.targets.recorder import RecordingTarget
from autoglm_doctor.targets.snapshot import SnapshotError, SnapshotTarget


def test_local_absent_is_none_and_directory_read_is_an_error(tmp_path):
    t = LocalTarget()
    assert t.read_text(str(tmp_path / "nope")) is None
    assert t.listdir(str(tmp_path / "nope")) is None
    assert t.stat(str(tmp_path / "nope")) is None
    assert t.readlink(str(tmp_path / "nope")) is None
    with pytest.raises(TargetError, match="is a directory"):
        t.read_bytes(str(tmp_path))


def test_local_io_error_is_target_error():
    with pytest.raises(TargetError):
        LocalTarget().read_bytes("/proc/self/mem")


def test_local_permission_denied_for_unprivileged_user(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("x")
    secret.chmod(0o600)
    tmp_path.chmod(0o755)
    code = ("from autoglm_doctor.targets.local import LocalTarget\n"
            "from autoglm_doctor.targets.base import TargetError\n"
            f"try:\n  LocalTarget().read_text({str(secret)!r})\nexcept TargetError as e:\n  print('ERR', e)\n")
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
                         capture_output=True, text=True, cwd="/")
    assert out.stdout.strip() == f"ERR {secret}: Permission denied", out.stderr


def test_local_run_argv_results(tmp_path):
    t = LocalTarget()
    r = t.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.returncode, r.stdout, r.stderr, r.ok) == (3, "out\n", "err\n", False)
    nf = t.run(["definitely-not-a-command-adt"])
    assert nf.not_found and nf.returncode == 127
    slow = t.run(["sleep", "5"], timeout=0.2)
    assert slow.timed_out and not slow.ok


def test_local_sysroot(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_text("inside\n")
    t = open_target(f"local:{tmp_path}")
    assert t.read_text("/etc/hostname") == "inside\n"
    assert t.name == f"local:{tmp_path}"
    assert (t.kind, t.can_run) == ("sysroot", False)
    with pytest.raises(AdapterUnavailable, match="not run on the sysroot"):
        t.run(["uname", "-r"])  # would answer for this machine, not the tree
    for kind in ("docker", "libvirt", "udev", "http"):
        with pytest.raises(AdapterUnavailable, match="has no live"):
            t.adapter(kind)


def handmade(tmp_path, kind="handmade"):
    root = tmp_path / "snap"
    (root / ".autoglm-doctor").mkdir(parents=True)
    (root / ".autoglm-doctor" / "manifest.json").write_text(
        json.dumps({"format": "autoglm-doctor-snapshot", "version": 1, "kind": kind}))
    return root


def test_snapshot_resolves_links_inside_the_snapshot(tmp_path):
    root = handmade(tmp_path)
    dev = root / "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0"
    dev.mkdir(parents=True)
    (dev / "vendor").write_text("0x10de\n")
    (root / "sys/bus/pci/devices").mkdir(parents=True)
    os.symlink("../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0", root / "sys/bus/pci/devices/0000:01:00.0")
    (root / "etc").mkdir()
    (root / "usr/share/zoneinfo").mkdir(parents=True)
    (root / "usr/share/zoneinfo/UTC").write_text("TZif-inside")
    os.symlink("/usr/share/zoneinfo/UTC", root / "etc/localtime")
    os.symlink("../../../../../../../../etc/passwd", root / "etc/escape")
    os.symlink("loop2", root / "etc/loop1")
    os.symlink("loop1", root / "etc/loop2")
    t = SnapshotTarget(str(root))
    assert t.read_text("/sys/bus/pci/devices/0000:01:00.0/vendor") == "0x10de\n"
    assert t.readlink("/sys/bus/pci/devices/0000:01:00.0") == "../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0"
    assert t.read_text("/etc/localtime") == "TZif-inside"  # absolute link stays inside
    assert t.read_text("/etc/escape") is None  # resolves to SNAP/etc/passwd, which is absent (never the host's)
    with pytest.raises(TargetError, match="too many levels"):
        t.read_text("/etc/loop1")
    assert t.listdir("/sys/bus/pci/devices") == ["0000:01:00.0"]
    assert t.listdir("/") == ["etc", "sys", "usr"]  # the side folder is not part of the tree


def test_handmade_vs_plain_tree_missing_semantics(tmp_path):
    root = handmade(tmp_path)
    (root / "dev").mkdir()
    t = SnapshotTarget(str(root))
    assert t.read_text("/dev/vhost-net") is None  # existing dir is complete: absent
    with pytest.raises(NotCaptured):
        t.read_text("/proc/cpuinfo")  # no /proc at all: not captured
    plain = tmp_path / "plain"
    (plain / "dev").mkdir(parents=True)
    with pytest.raises(SnapshotError, match="no .autoglm-doctor/manifest.json"):
        SnapshotTarget(str(plain))  # a tree without a manifest is not a snapshot
    (plain / ".autoglm-doctor").mkdir()
    (plain / ".autoglm-doctor" / "manifest.json").write_text(
        json.dumps({"format": "autoglm-doctor-snapshot", "version": 1, "kind": "recorded"}))
    with pytest.raises(NotCaptured):
        SnapshotTarget(str(plain)).read_text("/dev/vhost-net")


def test_snapshot_is_read_only(tmp_path):
    t = SnapshotTarget(str(handmade(tmp_path)))
    assert t.writable is False
    with pytest.raises(ReadOnlyTarget):
        t.write("/etc/x", "y")


@pytest.mark.parametrize("content, message", [
    (b"not a tarball at all", "not a readable snapshot archive"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "not a readable snapshot archive"),
])
def test_corrupt_archives_are_snapshot_errors(tmp_path, content, message):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(content)
    with pytest.raises(SnapshotError, match=message):
        SnapshotTarget(str(bad))


def test_truncated_archive(tmp_path):
    src = handmade(tmp_path)
    (src / "big").write_bytes(os.urandom(200_000))
    archive = tmp_path / "s.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=".")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotError):
        SnapshotTarget(str(archive))


def test_manifest_problems(tmp_path):
    root = handmade(tmp_path)
    manifest = root / ".autoglm-doctor" / "manifest.json"
    manifest.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(SnapshotError, match="not an autoglm-doctor snapshot"):
        SnapshotTarget(str(root))
    manifest.write_text(json.dumps({"format": "autoglm-doctor-snapshot", "version": 99}))
    with pytest.raises(SnapshotError, match="newer than this tool"):
        SnapshotTarget(str(root))
    manifest.write_text("{garbage")
    with pytest.raises(SnapshotError, match="unreadable snapshot metadata"):
        SnapshotTarget(str(root))
    with pytest.raises(SnapshotError, match="no such snapshot"):
        SnapshotTarget(str(tmp_path / "missing"))


def test_recorder_round_trip_keeps_links_absences_errors_commands(tmp_path):
    src = tmp_path / "src"
    dev = src / "sys/devices/pci0000:00/0000:00:02.0"
    dev.mkdir(parents=True)
    (dev / "class").write_text("0x030000\n")
    (src / "sys/bus/pci/devices").mkdir(parents=True)
    os.symlink("../../../devices/pci0000:00/0000:00:02.0", src / "sys/bus/pci/devices/0000:00:02.0")
    (src / "etc").mkdir()
    (src / "etc/dir-not-file").mkdir()
    rec = RecordingTarget(LocalTarget(str(src), live=True))
    assert rec.read_text("/sys/bus/pci/devices/0000:00:02.0/class") == "0x030000\n"
    assert rec.read_text("/etc/absent") is None
    with pytest.raises(TargetError):
        rec.read_text("/etc/dir-not-file")
    assert rec.listdir("/sys/bus/pci/devices") == ["0000:00:02.0"]
    st = rec.stat("/etc")
    out = rec.run(["sh", "-c", "echo recorded"])
    path = rec.save(str(tmp_path / "snap.tar.gz"))
    rec.close()
    snap = SnapshotTarget(path)
    assert snap.read_text("/sys/bus/pci/devices/0000:00:02.0/class") == "0x030000\n"
    assert snap.readlink("/sys/bus/pci/devices/0000:00:02.0") == "../../../devices/pci0000:00/0000:00:02.0"
    assert snap.read_text("/etc/absent") is None
    with pytest.raises(TargetError, match="is a directory"):
        snap.read_text("/etc/dir-not-file")
    assert snap.listdir("/sys/bus/pci/devices") == ["0000:00:02.0"]
    assert snap.stat("/etc") == st
    assert snap.run(["sh", "-c", "echo recorded"]) == out
    with pytest.raises(NotCaptured):
        snap.read_text("/etc/never-read")
    with pytest.raises(NotCaptured):
        snap.run(["sh", "-c", "echo other"])
    snap.close()


def test_read_many_on_local_and_snapshot(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "a").write_text("A")
    (tmp_path / "etc" / "dir").mkdir()
    local = LocalTarget(str(tmp_path))
    got = local.read_many(["/etc/a", "/etc/missing", "/etc/dir"])
    assert got["/etc/a"] == b"A" and got["/etc/missing"] is None and isinstance(got["/etc/dir"], TargetError)
    snap_root = handmade(tmp_path)
    (snap_root / "etc").mkdir()
    (snap_root / "etc" / "a").write_text("B")
    snap = SnapshotTarget(str(snap_root))
    got = snap.read_many(["/etc/a", "/etc/missing"])
    assert got == {"/etc/a": b"B", "/etc/missing": None}


def test_archive_members_read_in_parallel_get_their_own_bytes(tmp_path):
    """Checks read a snapshot from many threads at once; every member must come back with its own bytes
    (tar members share one spool file: a seek-then-read would hand a thread its neighbour's bytes)."""
    import io
    import tarfile
    from concurrent.futures import ThreadPoolExecutor

    from autoglm_doctor.targets.snaptree import ArchiveTree

    archive = tmp_path / "snap.tar.gz"
    contents = {f"sys/f{i:03d}": (f"{i:03d}:" * (1 + i % 7 * 300)).encode() for i in range(120)}
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with open(archive, "rb") as fh:
        tree = ArchiveTree(str(archive), fh)
    try:
        names = list(contents) * 25
        with ThreadPoolExecutor(16) as pool:
            got = list(pool.map(lambda n: (n, tree.read(n, 1 << 20)), names))
    finally:
        tree.close()
    wrong = [n for n, data in got if data != contents[n]]
    assert wrong == []
