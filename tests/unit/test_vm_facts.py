"""Domain facts below the checks: libvirt's scaled units, PCI addresses, BAR sizes from a sysfs resource file,
the 64-bit window arithmetic, and the QEMU log reader (last start only, known messages decoded, a log over
the read cap tailed through the Target)."""

import os

import pytest

from autoglm_doctor.facts.bars import Bar, mmio64_window, parse_resource, window_need
from autoglm_doctor.facts.domain import cpuset, parse_domain, scaled
from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.facts.qemu_log import READ_LIMIT, last_section, read_qemu_log
from autoglm_doctor.targets.local import LocalTarget

GIB = 1 << 30


def test_scaled_units_are_libvirts():
    assert scaled("16", "GiB") == 16 * GIB and scaled("16", "G") == 16 * GIB
    assert scaled("1", "GB") == 10**9 and scaled("1", "KB") == 1000
    assert scaled("2048", None) == 2048 * 1024  # KiB by default
    assert scaled("x", "KiB") is None and scaled("1", "furlong") is None


def test_cpuset():
    assert cpuset("0-3,^2,8") == {0, 1, 3, 8}
    with pytest.raises(ValueError):
        cpuset("0-a")


def test_a100_resource_file():
    text = ("0x000000009c000000 0x000000009cffffff 0x0000000000040200\n"
            "0x0000024000000000 0x0000024fffffffff 0x000000000014220c\n"
            "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
            "0x0000025000000000 0x0000025001ffffff 0x000000000014220c\n")
    bars = parse_resource(text, "resource")
    assert [(b.index, b.size, b.mem64) for b in bars] == [(0, 16 << 20, False), (1, 64 * GIB, True),
                                                         (3, 32 << 20, True)]
    assert window_need(bars) == 128 * GIB
    with pytest.raises(GarbageValue):
        parse_resource("0xzz 0x1 0x2\n", "resource")


def test_window_need_packs_power_of_two_bars():
    bars = [Bar(1, 16 * GIB, 0x14220C), Bar(3, 16 * GIB, 0x14220C)]
    assert window_need(bars) == 32 * GIB
    assert window_need([]) == 0


def test_window_sources():
    base = "<domain><name>d</name><os><type machine='{m}'>hvm</type>{fw}</os>{extra}<devices>{dev}</devices></domain>"
    q35_ovmf = base.format(m="q35", fw="<loader type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>", extra="",
                           dev="")
    assert mmio64_window(parse_domain(q35_ovmf)).size == 32 * GIB
    hole = base.format(m="pc", fw="", extra="", dev="<controller type='pci' model='pci-root'>"
                                                   "<pcihole64 unit='GiB'>64</pcihole64></controller>")
    assert mmio64_window(parse_domain(hole)).size == 64 * GIB
    assert mmio64_window(parse_domain(base.format(m="pc", fw="", extra="", dev=""))).size == 2 * GIB
    qemu = ("<domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>d</name><os firmware='efi'>"
            "<type machine='q35'>hvm</type></os><qemu:commandline><qemu:arg value='-fw_cfg'/>"
            "<qemu:arg value='opt/ovmf/X-PciMmio64Mb,string=262144'/></qemu:commandline></domain>")
    assert mmio64_window(parse_domain(qemu)).size == 256 * GIB


LOG = """2026-11-28 10:00:00.000+0000: starting up libvirt version: 9.0.0
old run: vfio 0000:01:00.0: group 1 is not viable
2026-11-28 10:00:01.000+0000: shutting down, reason=failed
2026-11-29 10:00:00.000+0000: starting up libvirt version: 9.0.0
qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: failed to setup container for group 1: Failed to set iommu for container: Operation not permitted
qemu-system-x86_64: vfio_region_write(0000:01:00.0:region1+0x0): Failed to mmap 0000:01:00.0 BAR 1. Performance may be slow
pci 0000:06:00.0: BAR 1: no space for [mem size 0x1000000000 64bit pref]
2026-11-29 10:00:01.000+0000: shutting down, reason=failed
"""


def test_only_the_last_start_is_decoded(tmp_path):
    (tmp_path / "var/log/libvirt/qemu").mkdir(parents=True)
    (tmp_path / "var/log/libvirt/qemu/gpu.log").write_text(LOG)
    log = read_qemu_log(LocalTarget(str(tmp_path)), "gpu")
    meanings = [d.meaning for d in log.decoded()]
    assert not any("not viable" in m for m in meanings)  # that was the run before
    assert any("Failed to set iommu" in d.line and "interrupt remapping" in d.meaning for d in log.decoded())
    assert any("0000:01:00.0 BAR 1" in m and "framebuffer" in m for m in meanings)
    assert any(m.startswith("BAR 1 found no space") for m in meanings)
    assert log.tail(1) == ["2026-11-29 10:00:01.000+0000: shutting down, reason=failed"]
    assert last_section("no header at all\n") == "no header at all\n"


def test_an_absent_log_and_a_huge_log(tmp_path):
    assert read_qemu_log(LocalTarget(str(tmp_path)), "none").text is None
    padding = ("2026-11-29 09:00:00.000+0000: qemu noise " + "x" * 60 + "\n") * (READ_LIMIT // 100 + 10)
    sysroot_log = tmp_path / "var/log/libvirt/qemu/big.log"
    sysroot_log.parent.mkdir(parents=True)
    sysroot_log.write_text(padding + LOG)
    log = read_qemu_log(LocalTarget(str(tmp_path)), "big")  # a sysroot cannot run tail on its own files
    assert log.text is None and "cannot tail" in log.error
    name = f"vmdomain-{os.getpid()}-big"
    path = f"/var/log/libvirt/qemu/{name}.log"
    if not os.access(os.path.dirname(path), os.W_OK):
        pytest.skip("needs a writable /var/log/libvirt/qemu (root)")
    try:
        with open(path, "w") as fh:
            fh.write(padding + LOG)
        log = read_qemu_log(LocalTarget("/"), name)  # the live host tails it through the Target
        assert log.error == "" and "Failed to set iommu for container" in log.text
        assert len(log.text) < READ_LIMIT
    finally:
        os.unlink(path)
