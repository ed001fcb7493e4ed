"""The domain parser over libvirt's own test corpus: tests/qemuxml2argvdata (qemuxmlconfdata from libvirt 10)
of Debian's libvirt source package, fetched with apt-get source by .ci/libvirt-corpus.sh and cached (never
committed). Every file parses or is refused with a ValueError, nothing crashes; a sample of 24 files, each
checked by hand against the file's text, gives exactly the hostdevs, interfaces, firmware, NUMA tuning,
hugepages and 64-bit hole the XML says."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from autoglm_doctor.facts.domain import cpuset, parse_domain, record_from
from tests.helpers import require

pytestmark = pytest.mark.live

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "libvirt-corpus.sh"
GIB, MIB = 1 << 30, 1 << 20
MAC = "00:11:22:33:44:55"


@pytest.fixture(scope="module")
def corpus() -> Path:
    cache = os.environ.get("AUTOGLM_CI_CACHE", "/var/cache/autoglm-ci")
    ready = sorted(Path(cache).glob("libvirt-tests-*/.complete")) if Path(cache).is_dir() else []
    if not ready:  # not cached yet: fetch now (root, network), as .ci/services.sh does
        require(os.geteuid() == 0, "root, to fetch libvirt's source package (or run .ci/services.sh)")
        out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=900)
        require(out.returncode == 0, f"libvirt test corpus from apt-get source ({out.stderr.strip()[-300:]})")
        return Path(out.stdout.strip().splitlines()[-1])
    return ready[-1].parent


def hostdevs(dom):
    return [(h.address, h.managed) for h in dom.hostdevs]


def ifaces(dom):
    return [(i.type, i.source, i.mac) for i in dom.interfaces]


# file -> what the XML says, read by hand (see the module docstring)
SAMPLE = {
    "hostdev-pci-address.xml": lambda d: hostdevs(d) == [("0000:06:12.5", True)] and d.machine == "pc",
    "hostdev-vfio.xml": lambda d: hostdevs(d) == [("0000:06:12.1", True)],
    "hostdev-vfio-multidomain.xml": lambda d: hostdevs(d) == [("0021:de:1f.1", True)],  # decimal bus/slot
    "hostdev-pci-multifunction.xml": lambda d: hostdevs(d) == [
        ("0005:90:01.0", True), ("0001:01:00.1", True), ("0001:01:00.0", True), ("0005:90:01.2", True),
        ("0005:90:01.3", True), ("0000:06:12.1", True), ("0000:06:12.2", True)] and d.vcpus == 4,
    "hostdev-mdev-display.xml": lambda d: hostdevs(d) == [],  # a mediated device, not a PCI hostdev
    "net-hostdev.xml": lambda d: hostdevs(d) == [] and ifaces(d) == [("hostdev", "", MAC)],
    "net-midonet.xml": lambda d: ifaces(d) == [("bridge", "midonet", MAC)],
    "net-virtio-network-portgroup.xml": lambda d: [(t, s) for t, s, _m in ifaces(d)] == [
        ("network", "rednet"), ("network", "blue"), ("network", "blue")],
    "net-openvswitch.xml": lambda d: [(t, s) for t, s, _m in ifaces(d)] == [("network", "ovs-net")],
    "net-virtio-teaming-network.xml": lambda d: [(t, s) for t, s, _m in ifaces(d)] == [
        ("network", "mybridge"), ("network", "myhostdevpool")],
    "net-user.xml": lambda d: ifaces(d) == [("user", "", MAC)],
    "net-eth.xml": lambda d: ifaces(d) == [("ethernet", "", MAC)],
    "hugepages-default.xml": lambda d: d.hugepages and d.hugepage_sizes == () and d.memory_bytes == 219136 * 1024,
    "hugepages-numa-nodeset.xml": lambda d: d.hugepage_sizes == (2 * MIB, GIB) and d.memory_bytes == 4 * GIB,
    "hugepages-default-1G-nodeset-2M.xml": lambda d: d.hugepage_sizes == (GIB, 2 * MIB),
    "numatune-memory.xml": lambda d: (d.numatune_mode, d.numatune_nodeset) == ("strict", "0-5,^4")
    and cpuset(d.numatune_nodeset) == {0, 1, 2, 3, 5} and d.vcpu_cpuset == "0-1" and not d.hugepages,
    "firmware-manual-efi-secure.xml": lambda d: d.uefi and d.secure_boot is True and d.q35
    and d.loader == "/usr/share/OVMF/OVMF_CODE.secboot.fd",
    "firmware-auto-efi-secboot.xml": lambda d: d.firmware == "efi" and d.uefi and d.secure_boot is True,
    "firmware-auto-efi-no-secboot.xml": lambda d: d.uefi and d.secure_boot is False,
    "firmware-auto-efi-enrolled-keys.xml": lambda d: d.uefi and d.enrolled_keys is True and d.secure_boot is None,
    "firmware-manual-bios.xml": lambda d: not d.uefi and d.loader == "/usr/share/seabios/bios.bin",
    "pcihole64-gib.xml": lambda d: d.pcihole64_bytes == GIB and not d.q35,
    "pcihole64-q35.xml": lambda d: d.pcihole64_bytes == GIB and d.q35,
    "cpu-host-passthrough.xml": lambda d: d.cpu_mode == "host-passthrough" and d.vcpus == 6,
}


def test_every_file_parses_or_is_refused_cleanly(corpus):
    files = sorted(corpus.glob("*.xml"))
    assert len(files) > 500, f"{corpus} holds only {len(files)} files"
    parsed, refused, with_pci = 0, [], 0
    for path in files:
        text = path.read_text(errors="replace")
        try:
            dom = parse_domain(text, path.name)
        except ValueError as exc:  # anything else is a crash and fails the test
            refused.append(f"{path.name}: {exc}")
            continue
        parsed += 1
        with_pci += bool(dom.hostdevs)
        rec = record_from({"name": path.stem, "xml": text, "state": 5})
        assert rec.domain == dom and not rec.problem
    assert parsed >= 0.95 * len(files), refused[:10]
    assert with_pci >= 10


@pytest.mark.parametrize("name", sorted(SAMPLE))
def test_hand_verified_sample(corpus, name):
    assert len(SAMPLE) >= 20
    dom = parse_domain((corpus / name).read_text(), name)
    assert SAMPLE[name](dom), dom
