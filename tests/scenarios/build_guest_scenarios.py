#!/usr/bin/env python3
"""Builds the tests/scenarios/guest-* snapshot trees (committed; rerun after editing this file):

    .venv/bin/python tests/scenarios/build_guest_scenarios.py

Guests as a q35 KVM VM shows them: the passed GPU behind a QEMU pcie-root-port (1b36:000c) on bus 01, its
BARs placed high in the 64-bit window (an A100 80GB PCIe: BAR0 16 MiB, BAR1 128 GiB, BAR3 32 MiB). Command
output follows the documented formats of driver 535 (nvidia-smi -q -x, /proc/driver/nvidia/version, NVRM
Xid lines), chronyc -c tracking, timedatectl show, and Docker Engine API 1.43 inspect answers."""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_sysfs import Pci, Tree, pci_devices  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GIB = 1 << 30
MEM64_PREF = 0x0014220C  # IORESOURCE_MEM | PREFETCH | MEM_64 | SIZEALIGN (as the kernel prints them)
MEM32 = 0x00040200
UNSET = 0x20000000
RELEASE = "6.1.0-13-amd64"
NVRM = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\n" \
       "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
MODULES = ("nvidia_uvm 1523712 0 - Live 0x0000000000000000 (POE)\n"
           "nvidia_drm 77824 0 - Live 0x0000000000000000 (POE)\n"
           "nvidia_modeset 1302528 1 nvidia_drm, Live 0x0000000000000000 (POE)\n"
           "nvidia 56623104 2 nvidia_uvm,nvidia_modeset, Live 0x0000000000000000 (POE)\n"
           "virtio_net 61440 0 - Live 0x0000000000000000\n")


def resource(bars: list[tuple[int, int, int]]) -> str:
    """Six BAR lines, then the ROM and bridge windows, as /sys/bus/pci/devices/ADDR/resource prints them."""
    lines = [f"0x{s:016x} 0x{(s + size - 1) if size else 0:016x} 0x{f:016x}" for s, size, f in bars]
    lines += ["0x0000000000000000 0x0000000000000000 0x0000000000000000"] * (13 - len(lines))
    return "\n".join(lines) + "\n"


def a100(address: str, driver: str | None = "nvidia", *, bar1_start: int = 0x380000000000, bar1_unset: bool = False,
         device: int = 0x20B5) -> Pci:
    flags1 = MEM64_PREF | (UNSET if bar1_unset else 0)
    bars = [(0xFC000000, 16 << 20, MEM32), (0 if bar1_unset else bar1_start, 128 * GIB, flags1), (0, 0, 0),
            (0x382000000000 if not bar1_unset else 0x3800000000, 32 << 20, MEM64_PREF), (0, 0, 0), (0, 0, 0)]
    return Pci(address, 0x10DE, device, 0x030200, sv=0x10DE,
               sd=0x1533, driver=driver, module={"nvidia": "nvidia", "nouveau": "nouveau"}.get(driver or ""),
               resource=resource(bars))


def q35_base(gpus: list[Pci], extra: list[Pci] = ()) -> list[Pci]:
    devices = [Pci("0000:00:00.0", 0x8086, 0x29C0, 0x060000, reset=False),  # q35 MCH host bridge
               Pci("0000:00:1f.0", 0x8086, 0x2918, 0x060100, reset=False),  # ICH9 LPC
               Pci("0000:00:01.0", 0x1AF4, 0x1041, 0x020000, driver="virtio-pci", reset=False)]  # virtio-net
    for i, gpu in enumerate(gpus):
        port = f"0000:00:0{2 + i}.0"
        devices.append(Pci(port, 0x1B36, 0x000C, 0x060400, driver="pcieport", acs=None))
        gpu.parent = port
        devices.append(gpu)
    return devices + list(extra)


def smi_xml(gpus: list[dict], cuda: str = "12.2", driver: str = "535.129.03") -> str:
    out = ['<?xml version="1.0" ?>', '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">', "<nvidia_smi_log>",
           "\t<timestamp>Thu Nov 30 10:00:00 2026</timestamp>", f"\t<driver_version>{driver}</driver_version>",
           f"\t<cuda_version>{cuda}</cuda_version>", f"\t<attached_gpus>{len(gpus)}</attached_gpus>"]
    for g in gpus:
        out += [f'\t<gpu id="0000{g["bus"]}">', f'\t\t<product_name>{g.get("name", "NVIDIA A100 80GB PCIe")}</product_name>',
                f'\t\t<persistence_mode>{g.get("persistence", "Enabled")}</persistence_mode>',
                "\t\t<fb_memory_usage>", "\t\t\t<total>81920 MiB</total>", "\t\t\t<reserved>485 MiB</reserved>",
                "\t\t\t<used>4 MiB</used>", "\t\t\t<free>81430 MiB</free>", "\t\t</fb_memory_usage>",
                "\t\t<ecc_mode><current_ecc>Enabled</current_ecc><pending_ecc>Enabled</pending_ecc></ecc_mode>",
                "\t\t<ecc_errors>", "\t\t\t<volatile>", "\t\t\t\t<sram_correctable>0</sram_correctable>",
                f'\t\t\t\t<sram_uncorrectable>{g.get("sram_ue", 0)}</sram_uncorrectable>',
                "\t\t\t\t<dram_correctable>0</dram_correctable>",
                f'\t\t\t\t<dram_uncorrectable>{g.get("dram_ue", 0)}</dram_uncorrectable>',
                "\t\t\t</volatile>", "\t\t\t<aggregate>", "\t\t\t\t<sram_correctable>0</sram_correctable>",
                "\t\t\t\t<sram_uncorrectable>0</sram_uncorrectable>", "\t\t\t</aggregate>", "\t\t</ecc_errors>"]
        if "fabric" in g:
            out += ["\t\t<fabric>", f'\t\t\t<state>{g["fabric"][0]}</state>', f'\t\t\t<status>{g["fabric"][1]}</status>',
                    "\t\t</fabric>"]
        out.append("\t</gpu>")
    out.append("</nvidia_smi_log>")
    return "\n".join(out) + "\n"


def cmd(argv: list[str], rc: int = 0, stdout: str = "", stderr: str = "", not_found: bool = False) -> dict:
    return {"argv": argv, "returncode": 127 if not_found else rc, "stdout": stdout, "stderr": stderr,
            "not_found": not_found, "timed_out": False}


def key(adapter: str, method: str, *args) -> str:
    return f"{adapter}.{method}({json.dumps(list(args), sort_keys=True)})"


def model_container(*, args: list[str], cuda_env: tuple[str, ...], running: bool = True, gpus: int | None = -1,
                    mount_src: str = "/srv/models/AutoGLM-Phone-9B") -> dict:
    req = None if gpus is None else [{"Driver": "", "Count": gpus, "DeviceIDs": None, "Capabilities": [["gpu"]],
                                      "Options": {}}]
    return {
        "Id": "a1" * 32, "Name": "/vllm", "RestartCount": 0,
        "State": {"Status": "running" if running else "exited", "Running": running, "Restarting": False,
                  "OOMKilled": False, "ExitCode": 0, "Error": "", "StartedAt": "2026-11-30T09:00:00Z"},
        "Config": {"User": "", "Image": "vllm/vllm-openai:v0.6.3", "Entrypoint": ["python3", "-m",
                   "vllm.entrypoints.openai.api_server"], "Cmd": args,
                   "Env": ["PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/bin:/bin", *cuda_env]},
        "HostConfig": {"PortBindings": {"8000/tcp": [{"HostIp": "", "HostPort": "8000"}]}, "DeviceRequests": req,
                       "IpcMode": "host", "ShmSize": 67108864, "Runtime": "runc"},
        "Mounts": [{"Type": "bind", "Source": mount_src, "Destination": "/models/AutoGLM-Phone-9B", "Mode": "ro",
                    "RW": False}],
    }


VLLM_ARGS = ["--model", "/models/AutoGLM-Phone-9B", "--served-model-name", "autoglm-phone-9b",
             "--tensor-parallel-size", "1", "--gpu-memory-utilization", "0.9", "--max-model-len", "8192", "--port", "8000"]
CUDA_121 = ("CUDA_VERSION=12.1.0", "NVIDIA_REQUIRE_CUDA=cuda>=12.1 brand=tesla,driver>=470,driver<471")


class Guest:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tree = Tree(os.path.join(HERE, name))
        self.commands: list[dict] = []
        self.api: dict[str, object] = {}
        self.disk: dict[str, dict] = {}

    def base(self, gpus: list[Pci], *, cpus: int = 16, mem_kib: int = 65_842_436, modules: str = MODULES,
             release: str = RELEASE, nvrm: str | None = NVRM, extra: list[Pci] = ()) -> "Guest":
        t = self.tree
        pci_devices(t, q35_base(gpus, list(extra)))
        t.file("/proc/cpuinfo", "".join(f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel Xeon "
                                        "Processor (Icelake)\nflags\t\t: fpu sse sse2 hypervisor\n\n" for i in range(cpus)))
        t.file("/sys/devices/system/cpu/online", f"0-{cpus - 1}\n")
        t.file("/proc/meminfo", f"MemTotal:       {mem_kib} kB\nMemFree:        {mem_kib - 2_000_000} kB\n"
                                "HugePages_Total:       0\nHugepagesize:       2048 kB\n")
        t.file("/proc/sys/kernel/osrelease", release + "\n")
        t.file("/proc/modules", modules)
        t.dir("/sys/module")
        t.dir("/sys/firmware/efi/efivars")
        t.file(f"/lib/modules/{release}/modules.dep", "kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz\n")
        if nvrm is not None:
            t.file("/proc/driver/nvidia/version", nvrm)
        self.disk["/"] = {"total": 500 * GIB, "free": 380 * GIB}
        return self

    def run(self, argv: list[str], **kw) -> "Guest":
        self.commands.append(cmd(argv, **kw))
        return self

    def docker(self, model: dict | None, exec_answer: dict | None = None) -> "Guest":
        agent = {"Id": "b2" * 32, "Name": "/auto-glm", "RestartCount": 0,
                 "State": {"Status": "running", "Running": True, "Restarting": False, "OOMKilled": False, "ExitCode": 0},
                 "Config": {"User": "", "Image": "autoglm/agent:1.0", "Env": []}, "HostConfig": {}, "Mounts": []}
        listing = [{"Id": c["Id"], "Names": [c["Name"]], "Image": c["Config"]["Image"], "Labels": {}}
                   for c in (agent, model) if c]
        self.api[key("docker", "connect")] = {"result": None}
        self.api[key("docker", "containers", True)] = {"result": listing}
        self.api[key("docker", "inspect_container", "auto-glm")] = {"result": agent}
        if model:
            self.api[key("docker", "inspect_container", model["Id"])] = {"result": model}
            if exec_answer is not None:
                self.api[key("docker", "exec_run", "vllm", ["nvidia-smi", "-L"])] = {"result": exec_answer}
        return self

    def weights(self, root: str = "/srv/models/AutoGLM-Phone-9B", *, shards: int = 4, missing: tuple[int, ...] = (),
                empty: tuple[int, ...] = ()) -> "Guest":
        t = self.tree
        self.disk[root] = {"total": 500 * GIB, "free": 380 * GIB}
        names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
        t.file(f"{root}/config.json", json.dumps({"architectures": ["ChatGLMForConditionalGeneration"],
                                                  "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}))
        t.file(f"{root}/tokenizer.json", '{"version": "1.0"}')
        t.file(f"{root}/tokenizer_config.json", '{"model_max_length": 32768}')
        t.file(f"{root}/model.safetensors.index.json", json.dumps(
            {"metadata": {"total_size": 18_800_000_000},
             "weight_map": {f"layer.{i}.weight": names[i % shards] for i in range(shards * 3)}}))
        for i, name in enumerate(names, 1):
            if i in missing:
                continue
            t.file(f"{root}/{name}", "" if i in empty else "\x08\x00\x00\x00\x00\x00\x00\x00{}")
        return self

    def save(self) -> None:
        t = self.tree
        t.finish()
        side = t.p("/.autoglm-doctor")
        with open(os.path.join(side, "manifest.json")) as fh:
            manifest = json.load(fh)
        manifest.update({"role": "guest", "now": 1796032800.0})
        for name, data in (("manifest.json", manifest), ("commands.json", self.commands), ("api.json", self.api),
                           ("disk.json", self.disk)):
            with open(os.path.join(side, name), "w") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.write("\n")


CHRONY_OK = "A9FEA97B,169.254.169.123,4,1796032790.1,0.000012,0.000003,0.000020,-2.1,0.001,0.012,0.0004,0.0001,64.4,Normal\n"
DMESG_OK = ("[    0.000000] Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org)\n"
            "[    4.112233] nvidia: loading out-of-tree module taints kernel.\n"
            "[    4.512345] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\n")
GPU0 = {"bus": ":01:00.0"}


def healthy() -> None:
    g = Guest("guest-a100-healthy").base([a100("0000:01:00.0")])
    g.tree.file(f"/lib/modules/{RELEASE}/updates/dkms/nvidia.ko.xz", "\xfd7zXZ")
    g.run(["nvidia-smi", "-q", "-x"], stdout=smi_xml([GPU0])).run(["dmesg"], stdout=DMESG_OK)
    g.run(["pidof", "nvidia-persistenced"], stdout="812\n").run(["chronyc", "-c", "tracking"], stdout=CHRONY_OK)
    g.docker(model_container(args=VLLM_ARGS, cuda_env=CUDA_121),
             {"exit_code": 0, "output": "GPU 0: NVIDIA A100 80GB PCIe (UUID: GPU-5e1c2a4b-8f3d-4c1e-9a7b-2d6f0e8c1b3a)\n"})
    g.weights().save()


def no_gpu() -> None:
    g = Guest("guest-no-gpu").base([], modules="virtio_net 61440 0 - Live 0x0000000000000000\n", nvrm=None)
    g.run(["nvidia-smi", "-q", "-x"], not_found=True, stderr="nvidia-smi: command not found")
    g.run(["dmesg"], stdout=DMESG_OK.splitlines(True)[0]).run(["chronyc", "-c", "tracking"], not_found=True)
    g.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], not_found=True)
    g.docker(None).save()


def bar_unassigned() -> None:
    g = Guest("guest-bar-no-space").base([a100("0000:01:00.0", driver=None, bar1_unset=True)],
                                         modules=MODULES.replace("nvidia 566", "nvidia 566"), nvrm=NVRM)
    g.run(["dmesg"], stdout=DMESG_OK + "[    0.612001] pci 0000:01:00.0: BAR 1: no space for [mem size 0x2000000000 "
          "64bit pref]\n[    0.612002] pci 0000:01:00.0: BAR 1: failed to assign [mem size 0x2000000000 64bit pref]\n"
          "[    5.100000] NVRM: RmInitAdapter failed! (0x22:0x56:762)\n")
    g.run(["nvidia-smi", "-q", "-x"], rc=9, stdout="No devices were found\n")
    g.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], stdout="yes\n")
    g.run(["chronyc", "-c", "tracking"], not_found=True)
    g.docker(None).save()


def nouveau() -> None:
    mods = "nouveau 2875392 0 - Live 0x0000000000000000\ndrm_ttm_helper 16384 1 nouveau, Live 0x0000000000000000\n"
    g = Guest("guest-nouveau").base([a100("0000:01:00.0", driver="nouveau")], modules=mods, nvrm=None)
    g.run(["dmesg"], stdout=DMESG_OK.splitlines(True)[0] + "[    3.2] nouveau 0000:01:00.0: NVIDIA GA100 (170000a1)\n")
    g.run(["nvidia-smi", "-q", "-x"], not_found=True).run(["chronyc", "-c", "tracking"], stdout=CHRONY_OK)
    g.docker(None).save()


def secure_boot_unsigned() -> None:
    g = Guest("guest-secureboot-unsigned").base([a100("0000:01:00.0", driver=None)],
                                                modules="virtio_net 61440 0 - Live 0x0000000000000000\n", nvrm=None)
    g.tree.file("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c", b"\x06\x00\x00\x00\x01")
    g.tree.file(f"/lib/modules/{RELEASE}/updates/dkms/nvidia.ko.xz", "\xfd7zXZ")
    g.run(["dmesg"], stdout=DMESG_OK.splitlines(True)[0] + "[    0.000000] secureboot: Secure boot enabled\n"
          "[    0.000000] Kernel is locked down from EFI Secure Boot mode; see man kernel_lockdown.7\n"
          "[    4.001] Loading of unsigned module is rejected\n")
    g.run(["nvidia-smi", "-q", "-x"], rc=9, stdout="NVIDIA-SMI has failed because it couldn't communicate with the "
          "NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n")
    g.run(["chronyc", "-c", "tracking"], stdout=CHRONY_OK).docker(None).save()


def kernel_upgraded() -> None:
    new = "6.1.0-18-amd64"
    g = Guest("guest-kernel-upgraded").base([a100("0000:01:00.0", driver=None)], release=new, cpus=8,
                                            mem_kib=32_871_000, modules="virtio_net 61440 0 - Live 0x0\n", nvrm=None)
    g.tree.file(f"/lib/modules/{RELEASE}/updates/dkms/nvidia.ko.xz", "\xfd7zXZ")  # built for the old kernel only
    g.run(["dmesg"], stdout=DMESG_OK.splitlines(True)[0].replace(RELEASE, new))
    g.run(["nvidia-smi", "-q", "-x"], rc=9, stdout="NVIDIA-SMI has failed because it couldn't communicate with the "
          "NVIDIA driver.\n")
    g.run(["chronyc", "-c", "tracking"], not_found=True)
    g.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], stdout="no\n")
    g.disk["/"] = {"total": 40 * GIB, "free": 6 * GIB}
    g.docker(None).save()


def hgx_errors() -> None:
    switches = [Pci(f"0000:0{7 + i}:00.0", 0x10DE, 0x1AF1, 0x068000, driver=None) for i in range(2)]
    gpus = [a100("0000:01:00.0"), a100("0000:02:00.0", bar1_start=0x390000000000)]
    g = Guest("guest-hgx-errors").base(gpus, extra=switches)
    g.tree.file(f"/lib/modules/{RELEASE}/updates/dkms/nvidia.ko.xz", "\xfd7zXZ")
    g.run(["nvidia-smi", "-q", "-x"], stdout=smi_xml([
        {"bus": ":01:00.0", "name": "NVIDIA A100-SXM4-80GB", "persistence": "Disabled", "fabric": ("In Progress", "N/A"),
         "dram_ue": 2},
        {"bus": ":02:00.0", "name": "NVIDIA A100-SXM4-80GB", "persistence": "Disabled", "fabric": ("In Progress", "N/A")}]))
    g.run(["dmesg"], stdout=DMESG_OK + "[ 8123.4] NVRM: Xid (PCI:0000:01:00): 48, pid=4242, name=python3, An uncorrectable "
          "double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.\n"
          "[ 8125.0] NVRM: Xid (PCI:0000:02:00): 13, pid=4242, name=python3, Graphics Exception: ESR 0x405840\n")
    g.run(["pidof", "nvidia-persistenced"], rc=1).run(["pidof", "nv-fabricmanager"], rc=1)
    g.run(["chronyc", "-c", "tracking"], stdout=CHRONY_OK.replace("0.000012", "0.412000"))
    g.docker(None).save()


def hgx_healthy() -> None:
    switches = [Pci(f"0000:0{7 + i}:00.0", 0x10DE, 0x1AF1, 0x068000, driver=None) for i in range(2)]
    gpus = [a100("0000:01:00.0"), a100("0000:02:00.0", bar1_start=0x390000000000)]
    g = Guest("guest-hgx-healthy").base(gpus, extra=switches)
    g.tree.file(f"/lib/modules/{RELEASE}/updates/dkms/nvidia.ko.xz", "\xfd7zXZ")
    g.run(["nvidia-smi", "-q", "-x"], stdout=smi_xml([
        {"bus": f":0{i}:00.0", "name": "NVIDIA A100-SXM4-80GB", "fabric": ("Completed", "Success")} for i in (1, 2)]))
    g.run(["dmesg"], stdout=DMESG_OK).run(["pidof", "nvidia-persistenced"], stdout="812\n")
    g.run(["pidof", "nv-fabricmanager"], stdout="903\n").run(["chronyc", "-c", "tracking"], stdout=CHRONY_OK)
    g.docker(None).save()


def nvml_mismatch() -> None:
    g = Guest("guest-nvml-mismatch").base([a100("0000:01:00.0")])
    g.tree.file(f"/lib/modules/{RELEASE}/updates/dkms/nvidia.ko.xz", "\xfd7zXZ")
    g.run(["nvidia-smi", "-q", "-x"], rc=18, stdout="Failed to initialize NVML: Driver/library version mismatch\n"
          "NVML library version: 535.154\n")
    g.run(["dmesg"], stdout=DMESG_OK + "[ 900.1] NVRM: API mismatch: the client has the version 535.154.05, but\n"
          "[ 900.1] NVRM: this kernel module has the version 535.129.03.\n")
    g.run(["chronyc", "-c", "tracking"], stdout=CHRONY_OK).docker(None).save()


def model_broken() -> None:
    g = Guest("guest-model-broken").base([a100("0000:01:00.0")])
    g.tree.file(f"/lib/modules/{RELEASE}/updates/dkms/nvidia.ko.xz", "\xfd7zXZ")
    args = ["--model", "/models/AutoGLM-Phone-9B", "--served-model-name", "glm", "--tensor-parallel-size", "2",
            "--gpu-memory-utilization", "1.5", "--max-model-len", "65536"]
    cuda_124 = ("CUDA_VERSION=12.4.1", "NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=470,driver<471")
    g.run(["nvidia-smi", "-q", "-x"], stdout=smi_xml([GPU0])).run(["dmesg"], stdout=DMESG_OK)
    g.run(["pidof", "nvidia-persistenced"], stdout="812\n").run(["chronyc", "-c", "tracking"], stdout=CHRONY_OK)
    g.docker(model_container(args=args, cuda_env=cuda_124, gpus=1), {"exit_code": 0, "output": "GPU 0: x\n"})
    g.weights(missing=(3,), empty=(2,)).save()


def no_gpu_in_container() -> None:
    g = Guest("guest-container-no-gpu").base([a100("0000:01:00.0")])
    g.tree.file(f"/lib/modules/{RELEASE}/updates/dkms/nvidia.ko.xz", "\xfd7zXZ")
    g.run(["nvidia-smi", "-q", "-x"], stdout=smi_xml([GPU0])).run(["dmesg"], stdout=DMESG_OK)
    g.run(["pidof", "nvidia-persistenced"], stdout="812\n").run(["chronyc", "-c", "tracking"], stdout=CHRONY_OK)
    g.docker(model_container(args=VLLM_ARGS, cuda_env=CUDA_121, gpus=None),
             {"exit_code": 126, "output": 'OCI runtime exec failed: exec failed: unable to start container process: '
                                          'exec: "nvidia-smi": executable file not found in $PATH: unknown\r\n'})
    g.weights(root="/srv/models/elsewhere").save()


def ubuntu_apparmor(name: str, agent_profile: str, model_profile: str) -> None:
    """An Ubuntu 22.04 guest: AppArmor on, docker-default and the distribution's profiles loaded."""
    g = Guest(name).base([a100("0000:01:00.0")], release="5.15.0-91-generic")
    g.tree.file("/sys/module/apparmor/parameters/enabled", "Y\n")
    g.tree.file("/sys/kernel/security/apparmor/profiles", "docker-default (enforce)\n/usr/sbin/chronyd (enforce)\n"
                "lsb_release (enforce)\nnvidia_modprobe (enforce)\nnvidia_modprobe//kmod (enforce)\n")
    g.docker(model_container(args=VLLM_ARGS, cuda_env=CUDA_121))
    g.api[key("docker", "inspect_container", "auto-glm")]["result"]["AppArmorProfile"] = agent_profile
    g.api[key("docker", "inspect_container", "a1" * 32)]["result"]["AppArmorProfile"] = model_profile
    g.save()


def ip_addr_json(addrs: list[tuple[str, str, int]]) -> str:
    links = [{"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP"], "operstate": "UNKNOWN",
              "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]}]
    for i, (name, addr, plen) in enumerate(addrs, 2):
        links.append({"ifindex": i, "ifname": name, "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
                      "operstate": "UP", "addr_info": [{"family": "inet", "local": addr, "prefixlen": plen,
                                                         "scope": "global", "dynamic": True}]})
    return json.dumps(links)


MODELS_URL = "http://192.168.122.1:8000/v1/models"


def xguest_good() -> None:
    """The guest of vm-gpu-host's vmdomain-good: its A100 PCIe 40GB (10de:20f1), 16 vCPUs, 64 GiB."""
    g = Guest("guest-x-vmdomain-good").base([a100("0000:01:00.0", device=0x20F1)])
    g.tree.file(f"/lib/modules/{RELEASE}/updates/dkms/nvidia.ko.xz", "\xfd7zXZ")
    g.run(["ip", "-j", "addr", "show"], stdout=ip_addr_json([("enp1s0", "192.168.122.50", 24)]))
    g.run(["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", MODELS_URL], stdout="200")
    g.save()


def xguest_broken() -> None:
    """The same domain's guest when the GPU never arrived, vCPUs are offline, the balloon took memory and
    networking is down."""
    g = Guest("guest-x-vmdomain-broken").base([], cpus=4, mem_kib=16_400_000,
                                              modules="virtio_net 61440 0 - Live 0x0\n", nvrm=None)
    g.run(["ip", "-j", "addr", "show"], stdout=ip_addr_json([]))
    g.run(["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", MODELS_URL], rc=7,
          stdout="000", stderr="curl: (7) Failed to connect to 192.168.122.1 port 8000 after 3 ms: Couldn't connect to server")
    g.save()


if __name__ == "__main__":
    for build in (healthy, no_gpu, bar_unassigned, nouveau, secure_boot_unsigned, kernel_upgraded, hgx_errors, hgx_healthy, nvml_mismatch,
                  model_broken, no_gpu_in_container, xguest_good, xguest_broken):
        build()
    ubuntu_apparmor("guest-ubuntu-apparmor", "docker-default", "autoglm-vllm")
    ubuntu_apparmor("guest-ubuntu-unconfined", "unconfined", "docker-default")
    print("built the guest-* scenarios")
