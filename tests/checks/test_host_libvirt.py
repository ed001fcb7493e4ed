"""host.libvirt.daemon: scenarios (api answers) and the live daemon, with and without the libvirt extra."""

import json
import os

import pytest

from tests.helpers import Case, doctor, require

CASES = [
    Case("libvirt-kvm", "host.libvirt.daemon", {"connection": "pass", "kvm": "pass"}),
    Case("libvirt-tcg-only", "host.libvirt.daemon", {"connection": "pass", "kvm": "fail"}),
    Case("libvirt-down", "host.libvirt.daemon", {"connection": "fail"}),
    Case("libvirt-not-installed", "host.libvirt.daemon", {"connection": "skip"}),
    Case("libvirt-garbage-caps", "host.libvirt.daemon", {"connection": "pass", "": "error"}),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def test_missing_extra_says_how_to_install_it():
    [f] = Case("libvirt-not-installed", "host.libvirt.daemon", {}).findings()
    assert "pip install 'autoglm-doctor[libvirt]'" in f.remediation


def findings(*args, env=None):
    out = doctor("check", "--only", "host.libvirt.daemon", "--format", "json", *args, env=env)
    assert "Traceback" not in out.stderr
    return out.returncode, {f["resource"]: f for f in json.loads(out.stdout)["findings"]}


@pytest.mark.live
def test_live_daemon_offers_kvm():
    require(os.path.exists("/var/run/libvirt/libvirt-sock"), "libvirtd running (bash .ci/services.sh)")
    rc, by_res = findings()
    assert by_res["connection"]["status"] == "pass", by_res
    assert by_res["connection"]["message"].startswith("libvirt ") and "qemu:///system" in by_res["connection"]["message"]
    assert by_res["kvm"]["status"] == "pass"
    assert rc == 0


@pytest.mark.live
def test_live_without_the_libvirt_extra_skips_with_the_hint(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "libvirt.py").write_text("raise ImportError('No module named libvirt (simulated: extra not installed)')\n")
    rc, by_res = findings(env={"PYTHONPATH": str(shim)})
    assert by_res["connection"]["status"] == "skip"
    assert by_res["connection"]["message"] == "libvirt-python is not installed"
    assert "autoglm-doctor[libvirt]" in by_res["connection"]["remediation"]
    assert rc == 1  # nothing was evaluated (the only check skipped): the gate cannot pass


@pytest.mark.live
def test_live_daemon_unreachable_is_a_failure():
    rc, by_res = findings(env={"LIBVIRT_DEFAULT_URI": "qemu+unix:///system?socket=/nonexistent/libvirt-sock"})
    assert by_res["connection"]["status"] == "fail"
    assert "cannot connect to libvirt" in by_res["connection"]["message"]
    assert rc == 1
