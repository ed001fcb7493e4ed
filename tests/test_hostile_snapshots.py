"""Hostile snapshots: a snapshot is passed between people and read as root, so nothing in it may touch
the machine reading it, hang the run, exhaust memory, or turn into a pass. Each case is one line on
stderr and exit 2 (or a finding naming the path), and the host files around it are left as they were."""

import io
import json
import os
import re
import stat
import tarfile
import time

import pytest

from tests.helpers import ROOT, doctor

OLD = ROOT / "tests" / "scenarios" / "host-old-amd"
MANIFEST = {"format": "autoglm-doctor-snapshot", "version": 1, "kind": "handmade"}


def one_line_error(out, *needles):
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, (out.returncode, out.stdout[-500:], out.stderr)
    assert len(lines) == 1 and lines[0].startswith("autoglm-doctor: error: "), out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def fingerprint(path):
    st = os.lstat(path)
    return (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_size, open(path, "rb").read())


def add(tar, name, data=b"", **fields):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def archive(path, members, *, manifest=MANIFEST):
    with tarfile.open(path, "w:gz") as tar:
        if manifest is not None:
            add(tar, ".autoglm-doctor/manifest.json", json.dumps(manifest).encode())
        for name, data, fields in members:
            add(tar, name, data, **fields)
    return str(path)


def tree(root, files, *, manifest=MANIFEST):
    side = root / ".autoglm-doctor"
    side.mkdir(parents=True)
    if manifest is not None:
        (side / "manifest.json").write_text(json.dumps(manifest))
    for name, content in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def check(snapshot, *extra, timeout=60, env=None):
    return doctor("check", "--target", f"snapshot:{snapshot}", "--only", "host.cpu.*", "--format", "json",
                  *extra, timeout=timeout, env=env)


# -- archives never touch host files --------------------------------------------------------------
def test_hard_link_member_to_a_host_file_is_refused_and_the_file_is_untouched(tmp_path):
    sentinel = tmp_path / "host-secret"
    sentinel.write_text("host secret\n")
    os.chmod(sentinel, 0o600)
    before = fingerprint(sentinel)
    evil = archive(tmp_path / "evil.tar.gz", [
        ("proc", b"", {"type": tarfile.DIRTYPE, "mode": 0o755}),
        ("proc/cpuinfo", b"", {"type": tarfile.LNKTYPE, "linkname": str(sentinel), "mode": 0o777,
                               "uid": 4242, "gid": 4242}),
    ])
    out = check(evil)
    one_line_error(out, "proc/cpuinfo", "hard link", "refused")
    assert "host secret" not in out.stdout + out.stderr
    assert fingerprint(sentinel) == before


def test_hard_link_inside_the_archive_is_served(tmp_path):
    cpuinfo = (OLD / "proc" / "cpuinfo").read_bytes()
    snap = archive(tmp_path / "ok.tar.gz", [
        ("proc/cpuinfo.orig", cpuinfo, {}),
        ("proc/cpuinfo", b"", {"type": tarfile.LNKTYPE, "linkname": "proc/cpuinfo.orig"}),
    ])
    out = check(snap)
    assert out.returncode in (0, 1), out.stderr
    statuses = {f["status"] for f in json.loads(out.stdout)["findings"]}
    assert statuses & {"pass", "warn", "fail"}, out.stdout


@pytest.mark.parametrize("name, fields, needle", [
    ("dev/zero", {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 5}, "device node"),
    ("dev/sda", {"type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0}, "device node"),
    ("proc/cpuinfo", {"type": tarfile.FIFOTYPE}, "FIFO"),
    ("../../etc/cron.d/evil", {}, "leaves the snapshot"),
    ("/etc/cron.d/evil", {}, "absolute name"),
    ("proc/cpuinfo", {"type": tarfile.SYMTYPE, "linkname": "../../../etc/shadow"}, "outside the snapshot"),
    ("proc/cpuinfo", {"type": tarfile.LNKTYPE, "linkname": "../outside"}, "leaves the snapshot"),
])
def test_special_and_escaping_members_are_refused(tmp_path, name, fields, needle):
    out = check(archive(tmp_path / "evil.tar.gz", [(name, b"x" if not fields else b"", fields)]))
    one_line_error(out, needle)
    assert not os.path.exists("/etc/cron.d/evil")


def test_absolute_symlink_member_resolves_inside_the_snapshot(tmp_path):
    cpuinfo = (OLD / "proc" / "cpuinfo").read_bytes()
    snap = archive(tmp_path / "ok.tar.gz", [
        ("data/cpuinfo", cpuinfo, {}),
        ("proc/cpuinfo", b"", {"type": tarfile.SYMTYPE, "linkname": "/data/cpuinfo"}),
    ])
    out = check(snap)
    assert out.returncode in (0, 1), out.stderr
    assert "pass" in {f["status"] for f in json.loads(out.stdout)["findings"]}


def test_decompression_bomb_is_refused_with_one_line(tmp_path):
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tar:
        add(tar, ".autoglm-doctor/manifest.json", json.dumps(MANIFEST).encode())
        info = tarfile.TarInfo("proc/zeros")
        info.size = 8 * 1024 * 1024
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert bomb.stat().st_size < 64 * 1024
    out = check(bomb, env={"AUTOGLM_DOCTOR_SNAPSHOT_MAX_BYTES": str(1024 * 1024)})
    one_line_error(out, "decompression bomb", "refused")


def test_member_count_is_capped(tmp_path):
    snap = archive(tmp_path / "many.tar.gz", [(f"etc/f{i}", b"", {}) for i in range(60)])
    out = check(snap, env={"AUTOGLM_DOCTOR_SNAPSHOT_MAX_MEMBERS": "50"})
    one_line_error(out, "more than 50 archive members")


def test_archives_leave_no_temporary_files(tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    wrapped = tmp_path / "wrapped.tar.gz"
    with tarfile.open(wrapped, "w:gz") as tar:
        tar.add(OLD, arcname="host-old-amd")
    out = check(wrapped, env={"TMPDIR": str(tmpdir)})
    assert out.returncode in (0, 1), out.stderr
    assert os.listdir(tmpdir) == []


# -- the side folder stays inside the snapshot -----------------------------------------------------
def test_side_file_symlink_out_of_the_snapshot_is_refused(tmp_path):
    host_file = tmp_path / "host-list.json"
    host_file.write_text(json.dumps(["/proc/cpuinfo"]))
    snap = tree(tmp_path / "snap", {"proc/cpuinfo": (OLD / "proc" / "cpuinfo").read_text()})
    os.symlink(host_file, snap / ".autoglm-doctor" / "absent.json")
    one_line_error(check(snap), "absent.json", "link", "refused")


def test_side_folder_symlink_out_of_the_snapshot_is_refused(tmp_path):
    host_dir = tmp_path / "elsewhere"
    (host_dir).mkdir()
    (host_dir / "manifest.json").write_text(json.dumps(MANIFEST))
    snap = tmp_path / "snap"
    snap.mkdir()
    os.symlink(host_dir, snap / ".autoglm-doctor")
    one_line_error(check(snap), ".autoglm-doctor is a link", "refused")


# -- special files: refused with the path named, never read ---------------------------------------
def test_fifo_inside_a_snapshot_tree_is_refused_not_read(tmp_path):
    snap = tree(tmp_path / "snap", {})
    (snap / "proc").mkdir()
    os.mkfifo(snap / "proc" / "cpuinfo")
    start = time.monotonic()
    out = check(snap, "--timeout", "20")
    assert time.monotonic() - start < 15
    messages = [f["message"] for f in json.loads(out.stdout)["findings"]]
    assert any("/proc/cpuinfo: is a FIFO" in m for m in messages), messages


@pytest.mark.parametrize("make, needle", [
    (lambda p: os.mkfifo(p), "is a FIFO"),
    (lambda p: "/dev/zero", "is a character device"),
    (lambda p: "/dev/null", "is a character device"),
])
def test_special_file_as_the_snapshot_path_is_refused(tmp_path, make, needle):
    path = tmp_path / "snap.tar.gz"
    made = make(path)
    out = check(made or path, timeout=20)
    one_line_error(out, needle, "refused")


# -- never a silent pass: what is not a snapshot is exit 2 -----------------------------------------
def test_not_snapshots_are_usage_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(check(empty), "no .autoglm-doctor/manifest.json")
    one_line_error(check("/proc"), "no .autoglm-doctor/manifest.json")
    one_line_error(check(tree(tmp_path / "m0", {}, manifest={})), "manifest.json", "format")
    one_line_error(check(tree(tmp_path / "m1", {}, manifest={**MANIFEST, "kind": "weird"})), "manifest.json", "kind")
    side_file = tmp_path / "sidefile"
    side_file.mkdir()
    (side_file / ".autoglm-doctor").write_text("{}")
    one_line_error(check(side_file), ".autoglm-doctor is a file")
    empty_archive = tmp_path / "empty.tar.gz"
    with tarfile.open(empty_archive, "w:gz"):
        pass
    one_line_error(check(empty_archive), "empty.tar.gz")
    two = tmp_path / "two.tar.gz"
    with tarfile.open(two, "w:gz") as tar:
        tar.add(OLD, arcname="a")
        tar.add(OLD, arcname="b")
    one_line_error(check(two), "2 top-level entries")


@pytest.mark.parametrize("name, content, needle", [
    ("manifest.json", {**MANIFEST, "now": float("nan")}, "now"),
    ("manifest.json", {**MANIFEST, "now": -5}, "now"),
    ("manifest.json", {**MANIFEST, "now": 1e300}, "now"),
    ("manifest.json", {**MANIFEST, "captured_at": "yesterday"}, "captured_at"),
    ("stat.json", {"/dev/kvm|follow": {"mode": "x", "uid": 0, "gid": 0}}, '["/dev/kvm|follow"].mode'),
    ("stat.json", {"/dev/kvm": {"mode": 1, "uid": 0, "gid": 0}}, "|follow"),
    ("commands.json", [{"argv": 5, "returncode": 0}], "[0].argv"),
    ("commands.json", {"argv": []}, "a list of commands"),
    ("absent.json", "/dev/kvm", "a list of paths"),
    ("dirs.json", {"/dev": [1]}, '["/dev"][0]'),
    ("disk.json", {"/": {"total": 1, "free": 5}}, "free"),
    ("xattr.json", {"/x": {"security.selinux": "%%%"}}, "base64"),
    ("api.json", {"docker.info([])": 5}, "docker.info"),
    ("api.json", {"docker.info([])": {"error": {"message": 5}}}, "message"),
    ("unreadable.json", {"/x": None}, '["/x"]'),
])
def test_side_file_schema_errors_name_the_file_and_field(tmp_path, name, content, needle):
    snap = tree(tmp_path / "snap", {"proc/cpuinfo": "x"})
    target = snap / ".autoglm-doctor" / name
    target.write_text(json.dumps(content))
    one_line_error(check(snap), name, needle)


def test_deeply_nested_side_file_is_unreadable_not_a_recursion_error(tmp_path):
    snap = tree(tmp_path / "snap", {"proc/cpuinfo": "x"})
    (snap / ".autoglm-doctor" / "api.json").write_text("[" * 100_000 + "]" * 100_000)
    one_line_error(check(snap), "api.json", "nested too deeply")


def test_host_partial_tree_with_manifest_still_replays():
    out = check(ROOT / "tests" / "scenarios" / "host-partial")
    assert out.returncode in (0, 1), out.stderr
    assert {f["status"] for f in json.loads(out.stdout)["findings"]} & {"pass", "warn", "fail"}


def test_private_mode_not_needed_nothing_extracted(tmp_path):
    """The archive is served from an anonymous file: no directory appears under TMPDIR at any time."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    with tarfile.open(tmp_path / "s.tar", "w") as tar:
        tar.add(OLD, arcname=".")
    out = check(tmp_path / "s.tar", env={"TMPDIR": str(tmpdir)})
    assert out.returncode in (0, 1), out.stderr
    assert not any(stat.S_ISDIR(os.lstat(tmpdir / e).st_mode) for e in os.listdir(tmpdir))


# -- nothing evaluated is not a pass -----------------------------------------------------------------
def test_a_run_where_every_check_skipped_fails_the_gate_with_the_reason(tmp_path):
    snap = tree(tmp_path / "snap", {}, manifest={**MANIFEST, "kind": "recorded"})
    out = doctor("check", "--target", f"snapshot:{snap}", "--only", "host.kvm.*", "--format", "json")
    assert out.returncode == 1, out.stderr
    assert {f["status"] for f in json.loads(out.stdout)["findings"]} == {"skip"}
    assert "nothing evaluated" in out.stderr
    console = doctor("check", "--target", f"snapshot:{snap}", "--only", "host.kvm.*", "--color", "never")
    assert console.returncode == 1 and "GATE FAILED (nothing evaluated" in console.stdout


@pytest.mark.parametrize("spec, needle", [
    ("local:/nonexistent-sysroot", "no such directory"),
    ("local:/etc/hostname", "not a directory"),
])
def test_missing_sysroot_is_a_usage_error(spec, needle):
    one_line_error(doctor("check", "--target", spec, "--only", "host.kvm.*"), needle)


# -- nonsense answers from Docker are unexpected answers, not passes ---------------------------------
@pytest.mark.parametrize("call, field, value, check_id, needle", [
    ("docker.version([])", "Version", None, "container.docker.daemon",
     "unexpected answer from docker version: Version is null"),
    ("docker.info([])", "CgroupDriver", 5, "container.docker.cgroup_driver",
     "api.json docker.info([]): CgroupDriver is 5 (expected text)"),
    ("docker.info([])", "DockerRootDir", ["/x"], "container.docker.root_space",
     'api.json docker.info([]): DockerRootDir is ["/x"] (expected text)'),
])
def test_docker_nonsense_answers_are_errors_naming_the_field(tmp_path, call, field, value, check_id, needle):
    import shutil

    snap = tmp_path / "ctr"
    shutil.copytree(ROOT / "tests" / "scenarios" / "ctr-healthy", snap, symlinks=True)
    api_file = snap / ".autoglm-doctor" / "api.json"
    api = json.loads(api_file.read_text())
    api[call]["result"][field] = value
    api_file.write_text(json.dumps(api))
    out = doctor("check", "--target", f"snapshot:{snap}", "--only", check_id, "--format", "json")
    finding = next(f for f in json.loads(out.stdout)["findings"] if f["check_id"] == check_id)
    assert finding["status"] == "error" and needle in finding["message"], finding
    assert out.returncode == 1


@pytest.mark.parametrize("scenario, call, mutate, check_id, needle", [
    ("libvirt-kvm", "libvirt.version([])", lambda r: {**r, "library": "nan"}, "host.libvirt.daemon",
     'api.json libvirt.version([]): library is "nan" (expected an integer)'),
    ("libvirt-kvm", "libvirt.capabilities([])", lambda r: 5, "host.libvirt.daemon",
     "api.json libvirt.capabilities([]): the answer is 5 (expected text)"),
    ("ctr-healthy", "docker.containers([true])", lambda r: [{**r[0], "Names": "agent"}], "container.deploy.present",
     'api.json docker.containers([true]): [0].Names is "agent" (expected a list)'),
])
def test_nonsense_replayed_answers_name_the_file_call_and_field(tmp_path, scenario, call, mutate, check_id, needle):
    import shutil

    snap = tmp_path / "snap"
    shutil.copytree(ROOT / "tests" / "scenarios" / scenario, snap, symlinks=True)
    api_file = snap / ".autoglm-doctor" / "api.json"
    api = json.loads(api_file.read_text())
    api[call]["result"] = mutate(api[call]["result"])
    api_file.write_text(json.dumps(api))
    out = doctor("check", "--target", f"snapshot:{snap}", "--only", check_id, "--format", "json")
    findings = [f for f in json.loads(out.stdout)["findings"] if f["check_id"] == check_id]
    assert any(f["status"] == "error" and needle in f["message"] for f in findings), findings
    assert "check crashed" not in out.stdout


@pytest.mark.parametrize("info, needle", [
    ({"CgroupDriver": 5}, "unexpected answer from docker info: CgroupDriver is 5 (expected one of cgroupfs, systemd, none)"),
    ({"CgroupDriver": "banana"}, "CgroupDriver is 'banana'"),
    ({"CgroupVersion": "3"}, "CgroupVersion is '3'"),
    ({"DriverStatus": [["a"]]}, "DriverStatus"),
    ([], "not an object"),
])
def test_live_docker_info_nonsense_is_garbage(info, needle):
    from autoglm_doctor.facts.docker import validate_info
    from autoglm_doctor.targets.base import GarbageValue

    with pytest.raises(GarbageValue, match=re.escape(needle)):
        validate_info(info)


@pytest.mark.parametrize("version, needle", [
    ({"Version": None, "ApiVersion": "1.43"}, "unexpected answer from docker version: Version is null"),
    ({"Version": "24.0.7", "ApiVersion": 5}, "ApiVersion is 5"),
    ({"Version": "latest", "ApiVersion": "1.43"}, "Version is 'latest'"),
])
def test_live_docker_version_nonsense_is_garbage(version, needle):
    from autoglm_doctor.facts.docker import validate_version
    from autoglm_doctor.targets.base import GarbageValue

    with pytest.raises(GarbageValue, match=re.escape(needle)):
        validate_version(version)
