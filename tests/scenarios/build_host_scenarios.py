"""Builds the host-basics scenario snapshots (hand-made trees) under tests/scenarios/host-*/.

Modelled on real machines: a Ubuntu 22.04 HWE Intel server (cgroup v2), an old Debian 9 AMD box (cgroup v1),
a cloud VM without nested virtualization, a desktop with VT-x off in firmware. Run it to regenerate:
    python tests/scenarios/build_host_scenarios.py
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHAR = stat.S_IFCHR

FULL_CONFIG = """\
CONFIG_MODULES=y
CONFIG_KVM=m
CONFIG_KVM_INTEL=m
CONFIG_KVM_AMD=m
CONFIG_VFIO=m
CONFIG_VFIO_PCI=m
CONFIG_VFIO_IOMMU_TYPE1=m
CONFIG_INTEL_IOMMU=y
CONFIG_AMD_IOMMU=y
CONFIG_VHOST_NET=m
CONFIG_TUN=y
CONFIG_BRIDGE=m
CONFIG_BRIDGE_NETFILTER=m
CONFIG_VETH=m
CONFIG_NF_NAT=m
CONFIG_MEMCG=y
CONFIG_CGROUP_BPF=y
CONFIG_OVERLAY_FS=m
CONFIG_USER_NS=y
CONFIG_SECCOMP=y
CONFIG_HUGETLBFS=y
CONFIG_LOCALVERSION=""
"""

INTEL_FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc vmx smx est tm2 ssse3 fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm abm ept vpid"
AMD_FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl cpuid pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a npt nrip_save"
CLOUD_FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm"

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
libvirt-qemu:x:64055:108:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin
ops:x:1000:1000:ops:/home/ops:/bin/bash
"""
GROUP_KVM_MEMBER = """\
root:x:0:
kvm:x:108:libvirt-qemu
libvirt:x:109:ops
ops:x:1000:
"""
GROUP_NO_MEMBER = """\
root:x:0:
kvm:x:108:
libvirt:x:109:ops
ops:x:1000:
"""

CGROUPS_V2 = """\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t0\t120\t1
cpu\t0\t120\t1
cpuacct\t0\t120\t1
blkio\t0\t120\t1
memory\t0\t120\t1
devices\t0\t120\t1
freezer\t0\t120\t1
pids\t0\t120\t1
"""
CGROUPS_V1_MEMORY_OFF = """\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t2\t1\t1
cpu\t3\t60\t1
cpuacct\t3\t60\t1
blkio\t4\t60\t1
memory\t0\t1\t0
devices\t5\t60\t1
freezer\t6\t1\t1
pids\t7\t60\t1
"""
MOUNTS_V1 = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,nosuid,nodev,noexec,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/blkio cgroup rw,nosuid,nodev,noexec,relatime,blkio 0 0
cgroup /sys/fs/cgroup/devices cgroup rw,nosuid,nodev,noexec,relatime,devices 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,nosuid,nodev,noexec,relatime,freezer 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
"""


def cpuinfo(vendor: str, model: str, flags: str, count: int) -> str:
    blocks = []
    for i in range(count):
        blocks.append(
            f"processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: 6\nmodel\t\t: 85\n"
            f"model name\t: {model}\nflags\t\t: {flags}\n"
        )
    return "\n".join(blocks) + "\n"


def meminfo(total_kb: int, swap_total_kb: int = 0, swap_free_kb: int = 0) -> str:
    return (
        f"MemTotal:       {total_kb} kB\nMemFree:        {total_kb // 2} kB\nMemAvailable:   {total_kb // 2} kB\n"
        f"SwapTotal:      {swap_total_kb} kB\nSwapFree:       {swap_free_kb} kB\n"
        "HugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       2048 kB\n"
    )


class Tree:
    def __init__(self, name: str) -> None:
        self.root = HERE / name
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self.side: dict[str, dict] = {"stat.json": {}, "disk.json": {}}

    def write(self, path: str, content: str | bytes) -> None:
        p = self.root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)

    def mkdir(self, path: str) -> None:
        (self.root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)

    def char_device(self, path: str, major: int, minor: int, perms: int, uid: int = 0, gid: int = 0) -> None:
        self.mkdir(os.path.dirname(path))
        self.side["stat.json"][f"{path}|follow"] = {
            "mode": CHAR | perms, "uid": uid, "gid": gid, "size": 0, "rdev": [major, minor]}

    def disk(self, path: str, total_gib: float, free_gib: float) -> None:
        self.side["disk.json"][path] = {"total": int(total_gib * 1024**3), "free": int(free_gib * 1024**3)}

    def finish(self, kind: str = "handmade") -> None:
        side = self.root / ".autoglm-doctor"
        side.mkdir(exist_ok=True)
        (side / "manifest.json").write_text(json.dumps(
            {"format": "autoglm-doctor-snapshot", "version": 1, "kind": kind, "source": self.root.name},
            indent=1) + "\n")
        for name, data in self.side.items():
            if data:
                (side / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        from declare_empty_dirs import declare

        declare(self.root)  # git keeps no empty directories: the side folder vouches for them


def base(t: Tree, *, release: str, cpu: str, mem_kb: int, config: str | None, config_at_boot: bool = False,
         cgroup_v2: bool = True, group: str = GROUP_KVM_MEMBER) -> None:
    t.write("/proc/sys/kernel/osrelease", release + "\n")
    t.write("/proc/cpuinfo", cpu)
    t.write("/proc/meminfo", meminfo(mem_kb))
    if config is not None:
        if config_at_boot:
            t.write(f"/boot/config-{release}", config)
        else:
            t.write("/proc/config.gz", gzip.compress(config.encode(), mtime=0))
    t.mkdir("/boot")
    if cgroup_v2:
        t.write("/proc/cgroups", CGROUPS_V2)
        t.write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        t.write("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n")
    t.write("/etc/passwd", PASSWD)
    t.write("/etc/group", group)
    t.mkdir("/sys/kernel/mm/hugepages")
    t.mkdir("/sys/module/kvm")
    t.write("/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n")


def build() -> None:
    # 1. A healthy Ubuntu 22.04 HWE server: Xeon, 64 threads, 256 GB, cgroup v2, everything in place.
    t = Tree("host-healthy-intel")
    base(t, release="6.8.0-45-generic", cpu=cpuinfo("GenuineIntel", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", INTEL_FLAGS, 64),
         mem_kb=263_921_664, config=FULL_CONFIG)
    t.write("/sys/devices/system/cpu/online", "0-63\n")
    t.char_device("/dev/kvm", 10, 232, 0o660, gid=108)
    t.char_device("/dev/vhost-net", 10, 238, 0o600)
    t.char_device("/dev/net/tun", 10, 200, 0o666)
    t.disk("/var/lib/docker", 1800, 1200)
    t.disk("/var/lib/libvirt/images", 1800, 1200)
    t.finish()

    # 2. An old Debian 9 AMD box: 4.9 kernel, config only in /boot, cgroup v1 with memory disabled,
    #    /dev/kvm root-only, no vhost-net, no tun, 6 GB RAM, swapping, small disk.
    t = Tree("host-old-amd")
    old_config = FULL_CONFIG.replace("CONFIG_VFIO_PCI=m\n", "# CONFIG_VFIO_PCI is not set\n").replace(
        "CONFIG_VHOST_NET=m\n", "# CONFIG_VHOST_NET is not set\n")
    base(t, release="4.9.0-19-amd64", cpu=cpuinfo("AuthenticAMD", "AMD Opteron(tm) Processor 6376", AMD_FLAGS, 2),
         mem_kb=6_094_848, config=old_config, config_at_boot=True, cgroup_v2=False, group=GROUP_NO_MEMBER)
    t.write("/proc/meminfo", meminfo(6_094_848, swap_total_kb=8_388_604, swap_free_kb=4_000_000))
    t.write("/proc/cgroups", CGROUPS_V1_MEMORY_OFF)
    t.write("/proc/mounts", MOUNTS_V1)
    t.char_device("/dev/kvm", 10, 232, 0o600)
    t.mkdir("/dev/net")
    t.side["disk.json"]["/var/lib/docker"] = None  # not created yet: measured at /var/lib
    t.disk("/var/lib", 40, 12)
    t.finish()

    # 3. A cloud VM without nested virtualization: 'hypervisor' flag, no vmx, no /dev/kvm, no config.
    t = Tree("host-cloud-no-nested")
    base(t, release="5.15.0-1051-azure", cpu=cpuinfo("GenuineIntel", "Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz", CLOUD_FLAGS, 8),
         mem_kb=32_827_000, config=None)
    t.mkdir("/dev/net")
    t.char_device("/dev/net/tun", 10, 200, 0o666)
    t.disk("/var/lib/docker", 128, 100)
    t.finish()

    # 4. A desktop with VT-x switched off in firmware: no vmx, no hypervisor flag.
    t = Tree("host-bios-virt-off")
    base(t, release="6.1.0-18-amd64", cpu=cpuinfo("GenuineIntel", "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz",
                                                  INTEL_FLAGS.replace(" vmx", "").replace(" ept vpid", ""), 12),
         mem_kb=32_600_000, config=FULL_CONFIG)
    t.char_device("/dev/net/tun", 10, 200, 0o666)
    t.disk("/var/lib/docker", 500, 300)
    t.finish()

    # 5. Garbage everywhere: what a broken /proc or a hand-edited snapshot looks like.
    t = Tree("host-garbage")
    t.write("/proc/sys/kernel/osrelease", "\x00\x01garbage!!\n")
    t.write("/proc/cpuinfo", "this is not cpuinfo\n\x00\xff\n")
    t.write("/proc/meminfo", "MemTotal: lots\n")
    t.write("/proc/config.gz", b"\x1f\x8b\x08\x00truncated")
    t.write("/proc/cgroups", "garbage\n")
    t.write("/proc/mounts", "\x00\x00\n")
    t.write("/sys/devices/system/cpu/online", "zero-to-many\n")
    t.write("/sys/kernel/mm/transparent_hugepage/enabled", "always madvise never\n")
    t.mkdir("/sys/kernel/mm/hugepages/hugepages-2048kB")
    t.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "many\n")
    t.write("/etc/passwd", "\x00")
    t.write("/etc/group", "")
    t.mkdir("/dev")
    t.finish()

    # 6. A partial snapshot: someone copied /proc/cpuinfo and nothing else, with a manifest saying the
    #    tree holds only what was recorded: everything else is "not captured".
    t = Tree("host-partial")
    t.write("/proc/cpuinfo", cpuinfo("GenuineIntel", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", INTEL_FLAGS, 4))
    t.finish(kind="recorded")


if __name__ == "__main__":
    build()
