"""GPU passthrough checks on this very machine, whatever it is: a GPU host or a CI guest without IOMMU
or GPU. Each verdict is compared with what independent sources say (lspci -D, /sys/kernel/iommu_groups
and boot_vga read by the test itself); the PCI inventory from pyudev (udev hwdb names) must be the
inventory read from sysfs through the Target (pci.ids names)."""

import json
import os
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
    assert sorted(a for a, _c, _i in lspci()) == sorted(from_sysfs.devices)  # same addresses as pciutils


@pytest.fixture(scope="module")
def report():
    out = doctor("check", "--only", "host.iommu.*", "--only", "host.pci.*", "--only", "host.vfio.*",
                 "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    return {(f["check_id"], f["resource"]): f for f in json.loads(out.stdout)["findings"]}


def iommu_groups() -> list[str]:
    """The kernel's IOMMU groups, read here (not through the doctor)."""
    try:
        return os.listdir("/sys/kernel/iommu_groups")
    except FileNotFoundError:
        return []


def in_a_vm() -> bool:
    with open("/proc/cpuinfo") as fh:
        return any(line.startswith("flags") and " hypervisor" in line for line in fh)


def lspci() -> list[tuple[str, str, str]]:
    """(address, class, vendor:device) of every PCI device as pciutils reads them."""
    tool = shutil.which("lspci")
    require(tool is not None, "lspci (pciutils)")
    out = subprocess.run([tool, "-D", "-n"], capture_output=True, text=True, timeout=30, check=True).stdout
    return [(w[0], w[1].rstrip(":"), w[2]) for w in (line.split() for line in out.splitlines()) if len(w) >= 3]


def passthrough_candidates() -> list[str]:
    """NVIDIA/AMD display controllers that are not the boot VGA: the doctor's default selection."""
    out = []
    for address, cls, ids in lspci():
        if cls.startswith("03") and ids.split(":")[0] in ("10de", "1002"):
            try:
                with open(f"/sys/bus/pci/devices/{address}/boot_vga") as fh:
                    boot = fh.read().strip() == "1"
            except FileNotFoundError:
                boot = False
            if not boot:
                out.append(address)
    return sorted(out)


def test_iommu_verdict_agrees_with_the_kernel(report):
    active = report[("host.iommu.active", "iommu")]
    if iommu_groups():
        assert active["status"] == "pass", active["message"]
        return
    assert active["status"] == "fail"
    assert "no IOMMU groups: the kernel has no active IOMMU" in active["message"]
    assert "amd_iommu=on" not in active["remediation"]
    if in_a_vm() and not any(os.path.exists(f"/sys/firmware/acpi/tables/{t}") for t in ("DMAR", "IVRS")):
        assert "itself a virtual machine" in active["message"]


def test_gpu_verdict_agrees_with_lspci(report):
    gpus = {r: f for (cid, r), f in report.items() if cid == "host.pci.gpus"}
    wanted = passthrough_candidates()
    inventory = report[("host.pci.inventory", "pci")]
    assert inventory["status"] == "pass"
    if wanted:
        assert sorted(gpus) == wanted and all(f["status"] == "pass" for f in gpus.values())
        return
    [none] = gpus.values()
    assert none["status"] == "fail" and "no passthrough GPU found" in none["message"]
    assert any(ids in none["message"] for _a, _c, ids in lspci())  # what it saw instead, by vendor:device
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
