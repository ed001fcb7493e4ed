"""GPU passthrough checks on this very machine: a Firecracker KVM guest with virtio PCI devices only, no
IOMMU, no GPU. The checks must say so plainly, and the PCI inventory from pyudev (udev hwdb names) must be
the inventory read from sysfs through the Target (pci.ids names)."""

import json
import shutil
import subprocess

import pytest

from autoglm_doctor.facts.pci import inventory_from_sysfs, inventory_from_udev
from autoglm_doctor.targets.base import AdapterUnavailable
from autoglm_doctor.targets.local import LocalTarget
from tests.helpers import doctor, require

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def local():
    target = LocalTarget()
    yield target
    target.close()


def test_udev_inventory_equals_sysfs_inventory(local):
    try:
        udev = local.adapter("udev")
    except AdapterUnavailable as exc:
        require(False, f"pyudev/libudev: {exc}")
    from_udev = inventory_from_udev(local, udev)
    from_sysfs = inventory_from_sysfs(local)
    require(bool(from_sysfs.devices), "a PCI bus in /sys/bus/pci/devices")
    assert from_udev.source == "udev" and from_sysfs.source == "sysfs"
    assert not from_udev.broken and not from_sysfs.broken
    assert from_udev.devices == from_sysfs.devices  # ids, class, driver, links, names: all of it
    named = [d for d in from_udev.devices.values() if d.vendor_name]
    assert named, "the hwdb (or pci.ids) named no device at all"
    lspci = shutil.which("lspci")
    if lspci:  # same addresses as pciutils sees
        out = subprocess.run([lspci, "-D", "-n"], capture_output=True, text=True, timeout=30).stdout
        assert sorted(line.split()[0] for line in out.splitlines()) == sorted(from_sysfs.devices)


@pytest.fixture(scope="module")
def report():
    out = doctor("check", "--only", "host.iommu.*", "--only", "host.pci.*", "--only", "host.vfio.*",
                 "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    return {(f["check_id"], f["resource"]): f for f in json.loads(out.stdout)["findings"]}


def test_no_iommu_is_said_plainly(report):
    active = report[("host.iommu.active", "iommu")]
    assert active["status"] == "fail"
    assert "no IOMMU groups: the kernel has no active IOMMU" in active["message"]
    assert "itself a virtual machine" in active["message"]  # Firecracker exposes no vIOMMU
    assert "amd_iommu=on" not in active["remediation"]
    firmware = [f for (cid, _r), f in report.items() if cid == "host.iommu.firmware"]
    assert [f["status"] for f in firmware] == ["fail"]


def test_no_gpu_is_said_plainly_and_dependents_skip(report):
    gpus = report[("host.pci.gpus", "gpus")]
    assert gpus["status"] == "fail" and "no passthrough GPU found" in gpus["message"]
    assert "1af4:1041 Ethernet controller" in gpus["message"]  # what it saw instead: virtio devices
    inventory = report[("host.pci.inventory", "pci")]
    assert inventory["status"] == "pass" and "from udev" in inventory["message"]
    for cid in ("host.iommu.group_isolation", "host.vfio.binding", "host.vfio.persistence", "host.vfio.modules"):
        (finding,) = [f for (c, _r), f in report.items() if c == cid]
        assert finding["status"] == "skip" and "requirement not met" in finding["message"], cid


def test_profile_without_passthrough_skips_the_iommu(tmp_path):
    cfg = tmp_path / "doctor.toml"
    cfg.write_text("[profile]\ngpus = []\n")
    out = doctor("check", "--config", str(cfg), "--only", "host.iommu.*", "--only", "host.pci.gpus",
                 "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    statuses = {f["check_id"]: f["status"] for f in json.loads(out.stdout)["findings"]}
    assert statuses == {"host.iommu.firmware": "skip", "host.iommu.active": "skip",
                        "host.iommu.group_isolation": "skip", "host.pci.gpus": "skip"}


def test_collect_then_replay_gives_the_same_findings(tmp_path):
    only = ["--only", "host.iommu.*", "--only", "host.pci.*", "--only", "host.vfio.*"]
    snap = tmp_path / "gpu.tar.gz"
    out = doctor("collect", *only, "-o", str(snap))
    assert out.returncode == 0, out.stderr
    live = doctor("check", *only, "--format", "json")
    replay = doctor("check", *only, "--target", f"snapshot:{snap}", "--format", "json")
    key = lambda f: (f["check_id"], f["resource"], f["status"], f["message"])  # noqa: E731
    assert sorted(map(key, json.loads(live.stdout)["findings"])) == sorted(map(key, json.loads(replay.stdout)["findings"]))
