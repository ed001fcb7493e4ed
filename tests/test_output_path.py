"""``--output`` behaves like a shell redirection: regular files atomically, character devices and FIFOs
written through, directories refused, and no symlink or device node is ever replaced."""

import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from autoglm_doctor.errors import UsageError
from autoglm_doctor.output import write_report
from tests.helpers import ROOT, doctor

OLD = str(ROOT / "tests" / "scenarios" / "host-old-amd")


def report_to(path, *extra):
    return doctor("check", "--target", f"snapshot:{OLD}", "--only", "host.kvm.device", "--format", "json",
                  "--output", str(path), *extra)


def test_regular_file_is_replaced_atomically_keeping_its_mode(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old")
    os.chmod(out, 0o640)
    result = report_to(out)
    assert result.returncode in (0, 1), result.stderr
    assert json.loads(out.read_text())["findings"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["report.json"]  # no temp file left


def test_symlink_is_kept_and_its_target_updated(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = report_to(link)
    assert result.returncode in (0, 1), result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["findings"]


def test_dangling_symlink_is_refused(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "nowhere" / "x.json")
    result = report_to(link)
    assert result.returncode == 2 and "symbolic link to a missing file" in result.stderr
    assert link.is_symlink()


def test_directory_is_refused(tmp_path):
    result = report_to(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"autoglm-doctor: error: cannot write {tmp_path}: it is a directory: refused"


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_character_devices_are_written_through_never_replaced(device):
    before = os.lstat(device)
    result = report_to(device)
    after = os.lstat(device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    if device == "/dev/full":
        assert result.returncode == 2
        assert result.stderr.strip() == "autoglm-doctor: error: cannot write /dev/full: No space left on device"
    else:
        assert result.returncode in (0, 1), result.stderr


@pytest.mark.parametrize("name", ["-", "/dev/stdout"])
def test_stdout_names_write_to_stdout(name):
    before = os.lstat("/dev/stdout")
    result = report_to(name)
    assert result.returncode in (0, 1), result.stderr
    assert json.loads(result.stdout)["findings"]
    assert os.lstat("/dev/stdout").st_mode == before.st_mode and os.path.islink("/dev/stdout")


def test_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = {}

    def reader():
        with open(fifo, "rb") as fh:
            got["data"] = fh.read()

    thread = threading.Thread(target=reader)
    thread.start()
    result = report_to(fifo)
    thread.join(30)
    assert result.returncode in (0, 1), result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(got["data"])["findings"]


def test_socket_is_refused(tmp_path):
    import socket

    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    try:
        with pytest.raises(UsageError, match="it is a socket: refused"):
            write_report("{}", str(path))
    finally:
        sock.close()


def test_unwritable_directory_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="cannot write .*/missing/report.json: No such file or directory"):
        write_report("{}", str(tmp_path / "missing" / "report.json"))


def test_new_file_respects_the_umask(tmp_path):
    code = ("import os, sys; os.umask(0o077); from autoglm_doctor.output import write_report;"
            f"write_report('x', {str(tmp_path / 'r.json')!r})")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o600
