"""The per-fix matrix: for every registered fix, the place where it can be made applicable and
applied — a writable sysroot copy of a scenario tree (``--target local:/SYSROOT``: files checked byte
for byte, commands recorded, never run), or real state (a bridge in a network namespace) — and what
applying it must produce there.

Each ``Env`` runs the real CLI against its place and reads that place's whole observable state
(``state()``: a tree's content, mode, owner and xattrs; a netns's addresses, routes and bridge
options), so the test in test_matrix.py can hold every fix to the same contract.

On a sysroot a command the plan runs (modprobe, update-initramfs, restorecon) is only recorded. What
it would have done to the machine is declared per case (``effects``: the device node modprobe
creates, the label restorecon sets) and made by the test after the apply, so "after apply the
addressed checks pass" is asserted for the whole plan, not for the files alone; the effects are
removed again before the rollback is compared.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.remedy.sysroots import DEBIAN_GRUB
from tests.remedy.treestate import tree_state

JOURNAL = "var/lib/autoglm-doctor/journal"


def run_cli(argv: list[str], env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "AUTOGLM_DOCTOR_JOURNAL": "", **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env,
                          stdin=subprocess.DEVNULL)


class Env:
    """One place a fix is applied to (see the module docstring)."""

    only: tuple[str, ...] = ()

    def argv(self, command: str, *args: str) -> tuple[list[str], dict[str, str]]:
        """The command line that runs ``autoglm-doctor COMMAND ARGS`` against this place, and its environment."""
        raise NotImplementedError

    def cli(self, command: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        argv, base = self.argv(command, *args)
        return run_cli(argv, {**base, **(env or {})})

    def journal_root(self) -> Path:
        raise NotImplementedError

    def journal(self, run_id: str) -> dict[str, Any]:
        return json.loads((self.journal_root() / run_id / "journal.json").read_text())  # type: ignore[no-any-return]

    def fix(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return self.cli("fix", *[w for c in self.only for w in ("--only", c)], *args, env=env)

    def check(self, checks: tuple[str, ...]) -> dict[tuple[str, str], str]:
        res = self.cli("check", *[w for c in checks for w in ("--only", c)], "--format", "json")
        assert res.returncode in (0, 1), res.stdout + res.stderr
        return {(f["check_id"], f["resource"]): f["status"] for f in json.loads(res.stdout)["findings"]}

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def recorded(self, run_id: str) -> list[list[str]]:
        return [s["info"]["argv"] for s in self.journal(run_id)["steps"] if (s.get("info") or {}).get("recorded")]


class SysrootEnv(Env):
    """A writable copy of a scenario tree; the journal lives inside it (under /var), outside ``state()``."""

    def __init__(self, root: Path, only: tuple[str, ...], config: Path | None = None) -> None:
        self.root = root
        self.only = only
        self.config = ("--config", str(config)) if config else ()

    def argv(self, command: str, *args: str) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, "-m", "autoglm_doctor", command, "--target", f"local:{self.root}", *self.config,
                *args], {}

    def journal_root(self) -> Path:
        return self.root / JOURNAL

    def state(self) -> dict[str, Any]:
        return {k: v for k, v in tree_state(str(self.root)).items() if not k.startswith("var")}


# -- what a recorded command would have done on a real machine ------------------------------------------

Undo = Callable[[], None]


def char_device(path: str, major: int, minor: int, mode: int = 0o600) -> Callable[[Path], Undo]:
    def make(root: Path) -> Undo:
        node = root / path.lstrip("/")
        new_dirs = [d for d in node.parents if not d.exists()]
        node.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(node, stat.S_IFCHR | mode, os.makedev(major, minor))

        def undo() -> None:
            node.unlink()
            for d in new_dirs:  # innermost first
                d.rmdir()
        return undo
    return make


def module_dirs(*names: str) -> Callable[[Path], Undo]:
    def make(root: Path) -> Undo:
        made = [root / "sys" / "module" / name for name in names]
        for d in made:
            d.mkdir(parents=True)
        return lambda: [d.rmdir() for d in made] and None
    return make


def selinux_label(path: str, label: str) -> Callable[[Path], Undo]:
    def make(root: Path) -> Undo:
        p = root / path.lstrip("/")
        os.setxattr(p, "security.selinux", label.encode() + b"\0", follow_symlinks=False)
        return lambda: os.removexattr(p, "security.selinux", follow_symlinks=False)
    return make


@dataclass
class Case:
    """A fix in the matrix: where it applies and what applying it must produce.

    ``files``: every path (relative to the tree) the apply changes, with its exact new content (None:
    a directory or a node whose content is not text). ``recorded``: the argv a sysroot records, in
    order. ``after``: the status each addressed check has after the apply (pass, or pending_reboot
    for a change that takes effect at the next boot)."""

    fix_id: str
    env: str  # the name of a fixture in test_matrix.py that returns an Env
    scenario: str = ""
    family: str | None = None
    only: tuple[str, ...] = ()
    files: dict[str, str | None] = field(default_factory=dict)
    recorded: list[list[str]] = field(default_factory=list)
    after: dict[str, str] = field(default_factory=dict)
    effects: tuple[Callable[[Path], Undo], ...] = ()
    prepare: Callable[[Any], None] | None = None  # the sysroot's root, or the live fixture
    # real traffic or access through the fixed thing (ping across the bridge, cat inside the container):
    # False before the apply, True after it, False again after the rollback
    reach: Callable[[Any], bool] | None = None
    profile: str = ""  # the [profile] table's body, when the fix needs one

    def __str__(self) -> str:
        return self.fix_id


VFIO_MODULES = "# Written by autoglm-doctor (fix.vfio.modules)\nvfio\nvfio_iommu_type1\nvfio_pci\n"


def _selinux_image_unlabelled(root: Path) -> None:
    """ctr-broken's VM image as restorecon leaves it to fix: no label at all."""
    image = root / "var/lib/libvirt/images/autoglm-vm.qcow2"
    try:
        os.removexattr(image, "security.selinux", follow_symlinks=False)
    except OSError:
        pass


SYSROOT_CASES = [
    Case("fix.iommu.enable", "sysroot_env", "gpu-iommu-kernel-off", "debian", ("host.iommu.*",),
         files={"etc/default/grub": DEBIAN_GRUB.replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="intel_iommu=on"')},
         recorded=[["update-grub"]], after={"host.iommu.active": "pending_reboot"}),
    Case("fix.vfio.modules", "sysroot_env", "gpu-nouveau", "debian", ("host.vfio.modules",),
         files={"etc/modules-load.d": None, "etc/modules-load.d/autoglm-doctor-vfio.conf": VFIO_MODULES},
         recorded=[["modprobe", "vfio"], ["modprobe", "vfio_iommu_type1"], ["modprobe", "vfio_pci"]],
         after={"host.vfio.modules": "pass"}, effects=(module_dirs("vfio", "vfio_iommu_type1", "vfio_pci"),)),
    Case("fix.vfio.bind", "sysroot_env", "gpu-nouveau", "debian", ("host.vfio.*",),
         files={"etc/modprobe.d/autoglm-doctor-vfio.conf":
                "# Written by autoglm-doctor (fix.vfio.bind): vfio-pci claims the passthrough devices at boot,\n"
                "# before the host drivers that would otherwise take them.\n"
                "options vfio-pci ids=10de:2204,10de:1aef\nsoftdep nouveau pre: vfio-pci\n"
                "softdep snd_hda_intel pre: vfio-pci\n"},
         recorded=[["update-initramfs", "-u", "-k", "all"],
                   ["virsh", "nodedev-detach", "pci_0000_01_00_0", "--driver", "vfio"],
                   ["virsh", "nodedev-detach", "pci_0000_01_00_1", "--driver", "vfio"]],
         after={"host.vfio.binding": "pending_reboot", "host.vfio.persistence": "pass"}),
    Case("fix.kvm.vhost_net", "sysroot_env", "ctr-broken", "debian", ("host.kvm.vhost_net",),
         files={"etc/modules-load.d": None,
                "etc/modules-load.d/autoglm-doctor-vhost-net.conf": "# Written by autoglm-doctor (fix.kvm.vhost_net)\n"
                                                                    "vhost_net\n"},
         recorded=[["modprobe", "vhost_net"]], after={"host.kvm.vhost_net": "pass"},
         effects=(char_device("/dev/vhost-net", 10, 238),)),
    Case("fix.container.selinux_labels", "sysroot_env", "ctr-broken", "debian", ("container.selinux.vm_images",),
         recorded=[["restorecon", "-v", "/var/lib/libvirt/images/autoglm-vm.qcow2"]],
         after={"container.selinux.vm_images": "pass"}, prepare=_selinux_image_unlabelled,
         effects=(selinux_label("/var/lib/libvirt/images/autoglm-vm.qcow2", "system_u:object_r:virt_image_t:s0"),)),
]


def _kvm_node_root_only(root: Path) -> None:
    """/dev/kvm as a kernel without the udev rule leaves it: crw------- root:root."""
    (root / "dev").mkdir(exist_ok=True)
    os.mknod(root / "dev/kvm", stat.S_IFCHR | 0o600, os.makedev(10, 232))


SYSROOT_CASES.append(
    Case("fix.kvm.device_access", "sysroot_env", "host-old-amd", "debian", ("host.kvm.device",),
         files={"etc/udev": None, "etc/udev/rules.d": None,
                "etc/udev/rules.d/65-autoglm-doctor-kvm.rules":
                "# Written by autoglm-doctor (fix.kvm.device_access): QEMU's user reaches /dev/kvm through group kvm.\n"
                'KERNEL=="kvm", GROUP="kvm", MODE="0660", OPTIONS+="static_node=kvm"\n',
                "dev/kvm": None},
         after={"host.kvm.device": "pass"}, prepare=_kvm_node_root_only))


def _selinux_enforcing_configured_permissive(root: Path) -> None:
    (root / "sys/fs/selinux/enforce").write_text("1")
    config = root / "etc/selinux/config"
    config.write_text("# written by the installer\nSELINUX=permissive\nSELINUXTYPE=targeted\n")
    os.chmod(config, 0o640)
    os.setxattr(config, "user.mark", b"keep")


def _one_gig_pool(root: Path) -> None:
    pool = root / "sys/kernel/mm/hugepages/hugepages-1048576kB"
    pool.mkdir(exist_ok=True)
    for name in ("nr_hugepages", "free_hugepages", "resv_hugepages"):
        (pool / name).write_text("0\n")


SYSROOT_CASES += [
    Case("fix.kvm.tun", "sysroot_env", "host-old-amd", None, ("host.kvm.tun",),
         files={"etc/modules-load.d": None,
                "etc/modules-load.d/autoglm-doctor-tun.conf": "# Written by autoglm-doctor (fix.kvm.tun)\ntun\n"},
         recorded=[["modprobe", "tun"]], after={"host.kvm.tun": "pass"}, effects=(char_device("/dev/net/tun", 10, 200),)),
    Case("fix.selinux.config_mode", "sysroot_env", "ctr-broken", None, ("container.selinux.mode",),
         files={"etc/selinux/config": "# written by the installer\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"},
         after={"container.selinux.mode": "pass"}, prepare=_selinux_enforcing_configured_permissive),
    Case("fix.net.ip_forward", "sysroot_env", "net-runtime-only", None, ("host.firewall.ip_forward",),
         files={"proc/sys/net/ipv4/ip_forward": "1\n", "etc/sysctl.d": None,
                "etc/sysctl.d/90-autoglm-doctor-ip-forward.conf":
                "# Written by autoglm-doctor: guests on libvirt NAT networks are routed by the host\n"
                "net.ipv4.ip_forward = 1\n"},
         after={"host.firewall.ip_forward": "pass"}, profile='network_mode = "nat"\n'),
    Case("fix.hugepages.reserve", "sysroot_env", "gpu-nouveau", "debian", ("host.resources.hugepages",),
         files={"etc/default/grub": DEBIAN_GRUB.replace(
             'GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="default_hugepagesz=1G hugepagesz=1G hugepages=80"')},
         recorded=[["update-grub"]], after={"host.resources.hugepages": "pending_reboot"},
         profile='hugepage_size = "1G"\nvm_memory_gb = 80\n', prepare=_one_gig_pool),
]


# -- real state ----------------------------------------------------------------------------------------

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "autoglm-doctor"


class LiveEnv(Env):
    """The installed CLI on this machine (optionally inside a network namespace), with a profile and
    a journal directory of the test's own; ``state()`` is what the fixture says the fix may change."""

    def __init__(self, only: tuple[str, ...], config: Path, journal: Path, state: Callable[[], Any],
                 prefix: tuple[str, ...] = (), env: dict[str, str] | None = None, fixture: Any = None) -> None:
        self.only = only
        self.fixture = fixture
        self.config = config
        self.journal_dir = journal
        self._state = state
        self.prefix = prefix
        self.env = env or {}

    def argv(self, command: str, *args: str) -> tuple[list[str], dict[str, str]]:
        extra = ("--journal-dir", str(self.journal_dir)) if command == "fix" else ()
        return [*self.prefix, str(EXE), command, "--config", str(self.config), *extra, *args], self.env

    def journal_root(self) -> Path:
        return self.journal_dir

    def state(self) -> Any:
        return self._state()


def _bridge_down(lab: dict[str, Any]) -> None:
    """The bridge administratively down. STP off first: with STP on, the port listens and learns for
    2 x forward_delay after the bridge comes up, and the verification right after the apply would
    (rightly) still see no carrier."""
    lab["h"]("ip", "link", "set", "dev", lab["bridge"], "type", "bridge", "stp_state", "0")
    lab["h"]("ip", "link", "set", lab["bridge"], "down")


def _ping(lab: dict[str, Any]) -> bool:
    from tests.live.test_fix_network_live import ping

    return ping(lab) and ping(lab, "10.88.0.1")  # the peer, and a network reached through the default route


def _cat_inside(c: dict[str, Any]) -> bool:
    from tests.live.test_fix_volumes_live import inside

    return inside(c) and inside(c, "/app/config/sub/prompts.txt")


NETNS_CASES = [
    Case("fix.net.bridge_address", "netns_env", only=("host.bridge.address",), after={"host.bridge.address": "pass"},
         reach=_ping),
    Case("fix.net.bridge_stp_off", "netns_env", only=("host.bridge.stp",), after={"host.bridge.stp": "pass"}),
    Case("fix.net.bridge_up", "netns_env", only=("host.bridge.link_up",), after={"host.bridge.link_up": "pass"},
         prepare=_bridge_down),
]

DOCKER_CASES = [
    Case("fix.container.volume_access", "volume_env", only=("container.volumes.access",),
         after={"container.volumes.access": "pass"}, reach=_cat_inside),
]
LIBVIRT_CASES = [
    Case("fix.vm.domain_xml", "domain_env", only=("vm.*",),
         after={"vm.cpu.mode": "pass", "vm.agent.channel": "pass"}),
    Case("fix.vm.autostart", "domain_env", only=("vm.domain.autostart",), after={"vm.domain.autostart": "pass"}),
]


def _bridge_nf(value: int) -> Callable[[dict[str, Any]], None]:
    def prepare(fw: dict[str, Any]) -> None:
        fw["h"]("sysctl", "-qw", f"net.bridge.bridge-nf-call-iptables={value}")
    return prepare


def _ping_across(fw: dict[str, Any]) -> bool:
    """A frame from one port of the bridge to another (guest to guest), through FORWARD when
    bridge-nf-call-iptables is 1."""
    return any(subprocess.run(["ip", "netns", "exec", fw["a"], "busybox", "ping", "-c", "1", "-W", "1", "10.66.0.2"],
                              capture_output=True).returncode == 0 for _ in range(3))


FIREWALL_CASES = [
    Case("fix.net.br_netfilter_persist", "firewall_env", only=("host.firewall.br_netfilter",),
         after={"host.firewall.br_netfilter": "pass"}, prepare=_bridge_nf(0)),
    Case("fix.net.bridge_forward", "firewall_env", only=("host.firewall.bridge_forward",),
         after={"host.firewall.bridge_forward": "pass"}, prepare=_bridge_nf(1), reach=_ping_across),
]


def _adb_connected(ph: dict[str, Any]) -> None:
    ph["server"].connect(ph["phone"], "device")


ADB_CASES = [
    Case("fix.adb.reconnect", "adb_env", only=("device.adb.devices",), after={"device.adb.devices": "pass"}),
    Case("fix.adb.keyboard", "adb_env", only=("device.adb.keyboard",), after={"device.adb.keyboard": "pass"},
         prepare=_adb_connected),
]
