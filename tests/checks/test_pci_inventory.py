"""PCI inventory fact (sysfs and udev paths), the scenario trees' kernel layout, and the parsers the
passthrough checks stand on: pci.ids, modprobe.d merging, the kernel command line, profile keys."""

import filecmp
import importlib.util
import os
from pathlib import Path

import pytest

from autoglm_doctor.check import Context
from autoglm_doctor.config import ConfigError, Profile, parse_config_text
from autoglm_doctor.facts.cmdline import parse_cmdline
from autoglm_doctor.facts.modprobe import ModprobeConfig, ids_cover, modprobe_config, parse_into, parse_vfio_ids
from autoglm_doctor.facts.pci import inventory_from_sysfs, inventory_from_udev, parse_pci_ids, pci_inventory
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import SCENARIOS, Case


def empty_pci_bus(tmp_path: Path) -> Path:
    root = tmp_path / "empty-bus"
    (root / "sys/bus/pci/devices").mkdir(parents=True)
    (root / ".autoglm-doctor").mkdir()
    (root / ".autoglm-doctor/manifest.json").write_text(
        '{"format": "autoglm-doctor-snapshot", "version": 1, "kind": "handmade"}')
    return root


CASES = [
    Case("gpu-intel-a100", "host.pci.inventory", {"pci": "pass"}),
    Case("gpu-bad-input", "host.pci.inventory",
         {"pci": "pass", "0000:00:1f.3": "error", "0000:00:1f.4": "error", "0000:07:00.0": "error"}),
    Case(empty_pci_bus, "host.pci.inventory", {"pci": "warn"}),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


@pytest.fixture
def a100():
    target = SnapshotTarget(str(SCENARIOS / "gpu-intel-a100"))
    yield target
    target.close()


def test_sysfs_inventory_reads_every_attribute(a100):
    inv = inventory_from_sysfs(a100)
    assert inv.source == "sysfs" and inv.names_source == "pci.ids /usr/share/misc/pci.ids" and not inv.broken
    gpu = inv.get("0000:17:00.0")
    assert (gpu.vendor, gpu.device, gpu.class_code) == (0x10DE, 0x20F1, 0x030200)
    assert (gpu.subsystem_vendor, gpu.subsystem_device) == (0x10DE, 0x145F)
    assert gpu.driver == "vfio-pci" and gpu.driver_override is None
    assert gpu.iommu_group == "41" and gpu.numa_node == 0
    assert gpu.boot_vga is None and gpu.has_reset and gpu.reset_methods == ("flr", "bus")
    assert gpu.devpath == "/sys/devices/pci0000:16/0000:16:02.0/0000:17:00.0" and gpu.upstream == "0000:16:02.0"
    assert (gpu.vendor_name, gpu.device_name) == ("NVIDIA Corporation", "GA100 [A100 PCIe 40GB]")
    assert gpu.is_gpu and not gpu.is_bridge
    bmc = inv.get("0000:03:00.0")
    assert bmc.boot_vga is True and not bmc.has_reset and not bmc.is_gpu  # ASPEED is not a GPU vendor
    assert inv.get("0000:16:02.0").device_name is None  # pci.ids has no name for 8086:347a: none invented


def test_subsystem_names_follow_udev_hwdb_convention():
    text = "10ec  Realtek\n\t8168  RTL8111\n\t\t1043 8677  PRIME B450M-A Motherboard\nC 00  Unclassified\n"
    names = parse_pci_ids(text, {(0x10EC, 0x8168, 0x1043, 0x8677), (0x10EC, 0x8168, 0x1458, 0xE000)})
    assert names[(0x10EC, 0x8168, 0x1043, 0x8677)] == ("Realtek", "RTL8111 (PRIME B450M-A Motherboard)")
    assert names[(0x10EC, 0x8168, 0x1458, 0xE000)] == ("Realtek", "RTL8111")


class FakeUdev:
    """What pyudev reports for the scenario's devices: uevent properties (PCI_CLASS without leading
    zeros, upper-case ids, as the kernel's uevent writes them) and hwdb names by modalias."""

    def __init__(self, target, names):
        self.target, self.names = target, names

    def devices(self, subsystem):
        out = []
        for addr in self.target.listdir("/sys/bus/pci/devices"):
            base = f"/sys/bus/pci/devices/{addr}"
            if self.target.listdir(base) is None:
                continue
            read = lambda n, base=base: (self.target.read_text(f"{base}/{n}") or "").strip()  # noqa: E731
            hexs = lambda n, read=read: read(n)[2:].upper()  # noqa: E731
            link = self.target.readlink(base)
            driver = self.target.readlink(f"{base}/driver")
            props = {"PCI_ID": f"{hexs('vendor')}:{hexs('device')}", "PCI_CLASS": format(int(read("class"), 16), "X")
                     if read("class").startswith("0x") and read("class")[2:].isalnum() else read("class"),
                     "PCI_SUBSYS_ID": f"{hexs('subsystem_vendor')}:{hexs('subsystem_device')}",
                     "DEVPATH": os.path.normpath(os.path.join("/sys/bus/pci/devices", link))[4:],
                     "MODALIAS": read("modalias"), "PCI_SLOT_NAME": addr, "SUBSYSTEM": "pci"}
            out.append({"sys_name": addr, "sys_path": "/sys" + props["DEVPATH"],
                        "driver": os.path.basename(driver) if driver else None, "properties": props})
        return out

    def hwdb(self, modalias):
        return self.names.get(modalias[:22], {})


def test_udev_and_sysfs_paths_give_the_same_inventory(a100):
    sysfs = inventory_from_sysfs(a100)
    names = {}
    for d in sysfs.devices.values():
        key = f"pci:v{d.vendor:08X}d{d.device:08X}"
        names[key] = {k: v for k, v in (("ID_VENDOR_FROM_DATABASE", d.vendor_name),
                                        ("ID_MODEL_FROM_DATABASE", d.device_name)) if v}
    udev = inventory_from_udev(a100, FakeUdev(a100, names))
    assert udev.source == "udev" and udev.names_source == "udev hwdb"
    assert udev.devices == sysfs.devices


def test_udev_garbage_is_a_broken_device_not_a_crash(a100):
    class Garbage(FakeUdev):
        def devices(self, subsystem):
            out = super().devices(subsystem)
            out[0]["properties"]["PCI_ID"] = "zz:top"
            return out

    inv = inventory_from_udev(a100, Garbage(a100, {}))
    assert "PCI_ID" in inv.broken["0000:00:00.0"] and len(inv.devices) == 9


def test_snapshot_without_udev_data_falls_back_to_sysfs(a100):
    assert Context(a100, Profile({})).fact(pci_inventory).source == "sysfs"


@pytest.mark.parametrize("path, text", [
    ("/sys/bus/pci/devices/0000:17:00.0", "../../../devices/pci0000:16/0000:16:02.0/0000:17:00.0"),
    ("/sys/devices/pci0000:16/0000:16:02.0/0000:17:00.0/driver", "../../../../bus/pci/drivers/vfio-pci"),
    ("/sys/devices/pci0000:16/0000:16:02.0/0000:17:00.0/iommu_group", "../../../../kernel/iommu_groups/41"),
    ("/sys/devices/pci0000:00/0000:00:00.0/driver", None),
    ("/sys/devices/pci0000:16/0000:16:02.0/driver", "../../../bus/pci/drivers/pcieport"),
    ("/sys/kernel/iommu_groups/41/devices/0000:17:00.0", "../../../../devices/pci0000:16/0000:16:02.0/0000:17:00.0"),
    ("/sys/bus/pci/drivers/vfio-pci/0000:17:00.0", "../../../../devices/pci0000:16/0000:16:02.0/0000:17:00.0"),
    ("/sys/bus/pci/drivers/vfio-pci/module", "../../../../module/vfio_pci"),
    ("/sys/class/iommu/dmar0", "../../devices/virtual/iommu/dmar0"),
])
def test_scenario_links_are_laid_out_like_the_kernel(a100, path, text):
    assert a100.readlink(path) == text


def test_committed_scenarios_match_the_builder(tmp_path):
    spec = importlib.util.spec_from_file_location("build_gpu_scenarios", SCENARIOS / "build_gpu_scenarios.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    for built in builder.build_all(str(tmp_path)):
        name = os.path.basename(built)
        _same_tree(Path(built), SCENARIOS / name)


def _same_tree(a: Path, b: Path) -> None:
    listing = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir() or p.is_symlink())  # noqa: E731
    assert listing(a) == listing(b), f"{b.name}: rerun tests/scenarios/build_gpu_scenarios.py"
    for rel in listing(a):
        pa, pb = a / rel, b / rel
        if pa.is_symlink():
            assert os.readlink(pa) == os.readlink(pb), rel
        else:
            assert filecmp.cmp(pa, pb, shallow=False), f"{b.name}/{rel} differs from the builder's output"


# -- modprobe.d merging ---------------------------------------------------------------------------
def test_modprobe_merge_etc_wins_and_files_are_read_in_lexical_order():
    target = SnapshotTarget(str(SCENARIOS / "gpu-no-nouveau-order"))
    try:
        cfg = Context(target, Profile({})).fact(modprobe_config)
    finally:
        target.close()
    assert cfg.files == ["/usr/lib/modprobe.d/aliases.conf", "/etc/modprobe.d/blacklist-nouveau.conf",
                         "/usr/lib/modprobe.d/fbdev-blacklist.conf", "/usr/lib/modprobe.d/systemd.conf",
                         "/etc/modprobe.d/vfio.conf"]
    assert cfg.blocked("nouveau") is None  # /usr/lib's blacklist is masked by the /etc file of the same name
    assert cfg.param("vfio-pci", "ids") == ("10de:2204,10de:1aef", "/etc/modprobe.d/vfio.conf:1")


def test_modprobe_lines():
    cfg = ModprobeConfig()
    parse_into(cfg, "/etc/modprobe.d/a.conf", "# comment\noptions vfio_pci ids=10de:1111\n"
               "options vfio-pci disable_vga=1 \\\n ids=10de:2222\nsoftdep nvidia pre: vfio-pci post: nvidia_drm\n"
               "install nouveau /bin/false\nblacklist snd-hda-intel\n")
    assert cfg.param("vfio_pci", "ids") == ("10de:2222", "/etc/modprobe.d/a.conf:3")  # the last setting wins
    assert cfg.param("vfio_pci", "disable_vga")[0] == "1"
    assert cfg.loads_before("nvidia", "vfio_pci").startswith("softdep nvidia pre: vfio_pci")
    assert cfg.loads_before("nvidia", "nvidia_drm") is None  # a post: dependency does not order before
    assert "install nouveau /bin/false" in cfg.blocked("nouveau")
    assert cfg.blocked("snd_hda_intel").startswith("blacklist snd_hda_intel")


def test_vfio_ids_matching():
    ids = parse_vfio_ids("10de:2204,10de:1aef:10de:1454,garbage,1002")
    assert ids_cover(ids, 0x10DE, 0x2204, 0x1043, 0x87B3)
    assert ids_cover(ids, 0x10DE, 0x1AEF, 0x10DE, 0x1454)
    assert not ids_cover(ids, 0x10DE, 0x1AEF, 0x1043, 0x87B3)  # subvendor given and different
    assert not ids_cover(ids, 0x1002, 0x73BF, 0, 0)


def test_kernel_cmdline_splitting():
    c = parse_cmdline('BOOT_IMAGE=/vmlinuz ro intel-iommu=on "acpi_osi=Windows 2015" vfio-pci.ids=10de:2204 '
                      'modprobe.blacklist=nouveau,nvidia -- init_arg intel_iommu=off')
    assert c.last("intel_iommu") == "on"  # dashes and underscores are equal; after "--" belongs to init
    assert c.last("acpi_osi") == "Windows 2015"
    assert c.list_values("modprobe.blacklist") == ["nouveau", "nvidia"]
    assert c.last("vfio_pci.ids") == "10de:2204"


def test_profile_keys_validate_and_normalise():
    profile, _ = parse_config_text('[profile]\ngpus = ["01:00.0", "0000:0B:00.0"]\nvm_numa_node = 1\n', "t.toml")
    assert profile == {"gpus": ["0000:01:00.0", "0000:0b:00.0"], "vm_numa_node": 1}
    with pytest.raises(ConfigError, match="not a PCI address"):
        parse_config_text('[profile]\ngpus = ["nvidia0"]\n', "t.toml")
    with pytest.raises(ConfigError, match="NUMA node"):
        parse_config_text("[profile]\nvm_numa_node = -1\n", "t.toml")
