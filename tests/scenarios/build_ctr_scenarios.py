"""Builds the ctr-* scenario snapshots (container readiness) that this machine cannot show: SELinux
enforcing, the NVIDIA runtime, userns-remap, crash loops of real-looking deployments.

Run from the repository root: python -m tests.scenarios.build_ctr_scenarios (the trees are committed).
Docker answers are shaped exactly like Engine API 1.41+ `docker info` / `docker inspect`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from pathlib import Path

HERE = Path(__file__).resolve().parent
GIB = 1024**3
DIR, FILE = stat.S_IFDIR, stat.S_IFREG


def key(adapter: str, method: str, *args) -> str:
    return f"{adapter}.{method}({json.dumps(list(args), sort_keys=True)})"


def info(**over):
    base = {
        "ServerVersion": "24.0.7", "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "xfs"], ["Supports d_type", "true"]],
        "CgroupDriver": "systemd", "CgroupVersion": "2", "DockerRootDir": "/var/lib/docker",
        "Runtimes": {"io.containerd.runc.v2": {"path": "runc"}, "runc": {"path": "runc"},
                     "nvidia": {"path": "nvidia-container-runtime"}},
        "DefaultRuntime": "runc",
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=selinux", "name=cgroupns"],
    }
    base.update(over)
    return base


def version(v="24.0.7", api="1.43"):
    return {"Version": v, "ApiVersion": api, "Os": "linux", "Arch": "amd64"}


def container(name, image, *, user="", status="running", mounts=(), ports=None, restarting=False, restarts=0,
              exit_code=0, error="", oom=False, device_requests=None, ipc="private", shm=64 * 2**20, runtime="runc",
              env=(), health=None, security_opt=None, mount_label="", process_label="", cid=None):
    return {
        "Id": cid or (name.encode().hex() * 8)[:64], "Name": f"/{name}", "RestartCount": restarts,
        "State": {"Status": status, "Running": status == "running", "Restarting": restarting, "OOMKilled": oom,
                  "ExitCode": exit_code, "Error": error, "StartedAt": "2024-05-01T08:00:00Z",
                  "FinishedAt": "2024-05-01T09:00:00Z", **({"Health": health} if health else {})},
        "Config": {"User": user, "Image": image, "Env": ["PATH=/usr/bin:/bin", *env]},
        "HostConfig": {"PortBindings": ports or {}, "RestartPolicy": {"Name": "unless-stopped"},
                       "DeviceRequests": device_requests, "IpcMode": ipc, "ShmSize": shm, "Runtime": runtime,
                       "SecurityOpt": security_opt, "CapDrop": None, "Privileged": False, "UsernsMode": ""},
        "Mounts": [{"Type": t, "Source": s, "Destination": d, "Mode": m, "RW": rw, "Name": n}
                   for t, s, d, m, rw, n in mounts],
        "MountLabel": mount_label, "ProcessLabel": process_label,
    }


def listing(*inspects):
    return [{"Id": c["Id"], "Names": [c["Name"]], "Image": c["Config"]["Image"], "Labels": {}} for c in inspects]


PASSWD_IMG = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/app:/bin/sh\n"
GROUP_IMG = "root:x:0:\napp:x:1000:\n"
HOST_PASSWD = "root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000::/home/admin:/bin/bash\n" \
              "dockremap:x:998:998::/nonexistent:/usr/sbin/nologin\n"
HOST_GROUP = "root:x:0:\nadmin:x:1000:\ndocker:x:997:admin\ndockremap:x:998:\n"
GPU_REQ = [{"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": {}}]
GPU_ERROR = 'could not select device driver "" with capabilities: [[gpu]]'
MODELS_OK = json.dumps({"object": "list", "data": [{"id": "autoglm-phone-9b", "object": "model"}]})
MODELS_OTHER = json.dumps({"object": "list", "data": [{"id": "/models/AutoGLM-Phone-9B", "object": "model"}]})
TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def tcp_line(i, port, inode, uid=0, addr="00000000"):
    return (f"{i:4d}: {addr}:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000 "
            f"{uid:5d}        0 {inode} 1 0000000000000000 100 0 0 10 0\n")


def label(text):
    return base64.b64encode(text.encode() + b"\x00").decode()


def http_ok(body, status=200):
    return {"result": {"status": status, "body": body, "truncated": False, "elapsed_ms": 3.1, "error": None}}


def http_err(kind, message):
    return {"result": {"status": None, "body": None, "elapsed_ms": 5000.0, "error": {"kind": kind, "message": message}}}


class Tree:
    def __init__(self, name):
        self.root = HERE / name
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir()
        self.api, self.stats, self.xattrs, self.disk, self.dirs = {}, {}, {}, {}, {}

    def file(self, path, text=""):
        p = self.root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def link(self, path, target):
        p = self.root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)

    def dir(self, path, mode=0o755, uid=0, gid=0, files=()):
        p = self.root / path.lstrip("/")
        p.mkdir(parents=True, exist_ok=True)
        for f in files:
            (p / f).write_text("x\n")
        self.stats[f"{path}|follow"] = {"mode": DIR | mode, "uid": uid, "gid": gid, "size": 4096, "rdev": [0, 0]}

    def stat_only(self, path, mode, uid=0, gid=0, kind=DIR):
        self.stats[f"{path}|follow"] = {"mode": kind | mode, "uid": uid, "gid": gid, "size": 4096, "rdev": [0, 0]}

    def label(self, path, text):
        self.xattrs.setdefault(path, {})["security.selinux"] = label(text)

    def exe(self, path):
        self.file(path, "#!/bin/sh\n")
        os.chmod(self.root / path.lstrip("/"), 0o755)

    def docker(self, info_, version_, containers, files=None):
        self.api[key("docker", "endpoint")] = {"result": {"url": "unix:///var/run/docker.sock", "api_version": "1.41"}}
        self.api[key("docker", "info")] = {"result": info_}
        self.api[key("docker", "version")] = {"result": version_}
        self.api[key("docker", "containers", True)] = {"result": listing(*containers)}
        for c in containers:
            for ref in (c["Name"].lstrip("/"), c["Id"]):
                self.api[key("docker", "inspect_container", ref)] = {"result": c}
            for path, text in (files or {}).get(c["Name"].lstrip("/"), {}).items():
                self.api[key("docker", "container_file", c["Name"].lstrip("/"), path)] = {
                    "result": None if text is None else {"content": text, "truncated": False, "size": len(text)}}

    def missing_container(self, name):
        self.api[key("docker", "inspect_container", name)] = {"result": None}

    def http(self, answer, url="http://127.0.0.1:8000/v1/models"):
        self.api[key("http", "get", url, 5.0)] = answer

    def host_basics(self, cgroup_v2=True, selinux=None, config=None):
        self.link("/bin", "usr/bin")  # merged /usr, as on current distributions
        self.link("/var/run", "../run")
        self.dir("/run", 0o755)
        self.dir("/usr/bin", 0o755)
        self.file("/etc/passwd", HOST_PASSWD)
        self.file("/etc/group", HOST_GROUP)
        self.file("/proc/1/comm", "systemd\n")
        self.file("/proc/cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t90\t1\n")
        self.file("/proc/driver/nvidia/version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.161.08\n")
        if cgroup_v2:
            self.file("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        else:
            self.file("/proc/mounts", "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n")
            self.dir("/sys/fs")
        if selinux is not None:
            self.file("/sys/fs/selinux/enforce", selinux)
        if config is not None:
            self.file("/etc/selinux/config", f"# written by the installer\nSELINUX={config}\nSELINUXTYPE=targeted\n")
        self.disk["/var/lib/docker"] = {"total": 500 * GIB, "free": 300 * GIB}
        self.file("/proc/net/tcp", TCP_HEADER)

    def save(self):
        side = self.root / ".autoglm-doctor"
        side.mkdir(exist_ok=True)
        manifest = {"format": "autoglm-doctor-snapshot", "version": 1, "kind": "handmade",
                    "source": "tests/scenarios/build_ctr_scenarios.py"}
        for name, data in (("manifest.json", manifest), ("api.json", self.api), ("stat.json", self.stats),
                           ("xattr.json", self.xattrs), ("disk.json", self.disk)):
            (side / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def healthy():
    t = Tree("ctr-healthy")
    t.host_basics(selinux="1", config="enforcing")
    t.file("/etc/docker/daemon.json", json.dumps({"runtimes": {"nvidia": {"path": "nvidia-container-runtime",
                                                                          "args": []}}, "selinux-enabled": True}))
    t.exe("/usr/bin/nvidia-container-runtime-hook")
    t.exe("/usr/bin/nvidia-container-runtime")
    t.dir("/srv/autoglm/config", 0o750, 1000, 1000, files=("agent.yaml",))
    t.label("/srv/autoglm/config", "system_u:object_r:container_file_t:s0")
    t.dir("/var/lib/libvirt/images", 0o711)
    t.file("/var/lib/libvirt/images/autoglm-vm.qcow2", "")
    t.label("/var/lib/libvirt/images/autoglm-vm.qcow2", "system_u:object_r:virt_image_t:s0")
    agent = container("auto-glm", "openglm/auto-glm:latest", user="app",
                      mounts=[("bind", "/srv/autoglm/config", "/app/config", "z", True, "")],
                      ports={"8080/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                      mount_label="system_u:object_r:container_file_t:s0:c12,c34",
                      process_label="system_u:system_r:container_t:s0:c12,c34")
    model = container("vllm-autoglm", "vllm/vllm-openai:v0.6.3", device_requests=GPU_REQ, ipc="host",
                      ports={"8000/tcp": [{"HostIp": "", "HostPort": "8000"}]},
                      health={"Status": "healthy", "FailingStreak": 0, "Log": []})
    t.docker(info(), version(), [agent, model], files={"auto-glm": {"/etc/passwd": PASSWD_IMG, "/etc/group": GROUP_IMG}})
    t.http(http_ok(MODELS_OK))
    t.save()


def broken():
    t = Tree("ctr-broken")
    t.host_basics(selinux="1", config="permissive")
    t.file("/etc/docker/daemon.json", json.dumps({"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}},
                                                  "selinux-enabled": True}, indent=2))
    t.exe("/usr/bin/nvidia-container-runtime")
    t.dir("/home/admin/autoglm/config", 0o755, 0, 0, files=("agent.yaml",))
    t.label("/home/admin/autoglm/config", "unconfined_u:object_r:user_home_t:s0")
    t.dir("/var/lib/libvirt/images", 0o711)
    t.file("/var/lib/libvirt/images/autoglm-vm.qcow2", "")
    t.label("/var/lib/libvirt/images/autoglm-vm.qcow2", "unconfined_u:object_r:user_home_t:s0")
    t.file("/proc/net/tcp", TCP_HEADER + tcp_line(0, 8000, 77001, addr="0100007F"))
    t.link("/proc/4242/fd/3", "socket:[77001]")
    t.file("/proc/4242/comm", "python3\n")
    agent = container("auto-glm", "openglm/auto-glm:latest", user="1000", restarting=True, restarts=7,
                      status="restarting", exit_code=1,
                      mounts=[("bind", "/home/admin/autoglm/config", "/app/config", "", True, "")],
                      ports={"8080/tcp": [{"HostIp": "", "HostPort": "18080"}]},
                      mount_label="system_u:object_r:container_file_t:s0:c5,c9")
    model = container("vllm-autoglm", "vllm/vllm-openai:v0.6.3", status="created", error=GPU_ERROR,
                      device_requests=GPU_REQ, ports={"8000/tcp": [{"HostIp": "", "HostPort": "8000"}]})
    t.docker(info(Runtimes={"runc": {"path": "runc"}}, DriverStatus=[["Backing Filesystem", "xfs"],
                                                                       ["Supports d_type", "false"]]),
             version(), [agent, model], files={"auto-glm": {"/etc/passwd": PASSWD_IMG, "/etc/group": GROUP_IMG}})
    t.http(http_ok("Internal Server Error", 500))
    t.save()


def userns():
    t = Tree("ctr-userns")
    t.host_basics(selinux="0", config="permissive")
    t.file("/etc/docker/daemon.json", json.dumps({"userns-remap": "default", "storage-driver": "devicemapper",
                                                  "features": {"cdi": True}}))
    t.file("/etc/subuid", "admin:100000:65536\ndockremap:231072:65536\n")
    t.file("/etc/subgid", "admin:100000:65536\ndockremap:231072:65536\n")
    t.file("/etc/cdi/nvidia.yaml", "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: all\n")
    (t.root / "proc/driver/nvidia/version").unlink()
    t.stat_only("/", 0o755)
    t.stat_only("/root", 0o700)
    t.stat_only("/root/autoglm", 0o755)
    t.dir("/root/autoglm/config", 0o755, 231072, 231072, files=("agent.yaml",))
    t.stat_only("/srv", 0o755)
    t.dir("/srv/shared", 0o777, 0, 0, files=("data.bin",))
    t.dir("/srv/empty", 0o755, 0, 0)
    t.dir("/srv/models", 0o750, 0, 0, files=("weights.safetensors",))
    t.disk["/var/lib/docker/231072.231072"] = {"total": 100 * GIB, "free": 12 * GIB}
    agent = container("auto-glm", "openglm/auto-glm:latest",
                      mounts=[("bind", "/root/autoglm/config", "/app/config", "", True, ""),
                              ("bind", "/srv/shared", "/data", "", True, ""),
                              ("bind", "/srv/empty", "/app/logs", "", True, "")],
                      ports={"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]})
    model = container("sglang", "lmsysorg/sglang:latest", runtime="nvidia", shm=2 * GIB, restarts=4,
                      env=("NVIDIA_VISIBLE_DEVICES=all",),
                      mounts=[("bind", "/srv/models", "/models", "", False, "")],
                      ports={"30000/tcp": [{"HostIp": "", "HostPort": "8000"}]})
    t.docker(info(Driver="devicemapper", DriverStatus=[["Pool Name", "docker-pool"]], CgroupDriver="cgroupfs",
                  DockerRootDir="/var/lib/docker/231072.231072",
                  SecurityOptions=["name=seccomp,profile=builtin", "name=userns"],
                  CDISpecDirs=["/etc/cdi", "/var/run/cdi"],
                  Runtimes={"runc": {"path": "runc"}, "nvidia": {"path": "nvidia-container-runtime"}}),
             version("26.1.3", "1.45"), [agent, model])
    t.http(http_ok(MODELS_OTHER))
    t.save()


def daemon_down():
    t = Tree("ctr-daemon-down")
    t.host_basics()
    t.api[key("docker", "connect")] = {"error": {
        "type": "AdapterUnavailable",
        "message": "[daemon_down] nothing answers on /var/run/docker.sock (connection refused): the socket file is "
                   "left over but dockerd is down",
        "hint": "start it: systemctl start docker (see journalctl -u docker for why it stopped)"}}
    t.http(http_err("refused", "[Errno 111] Connection refused"))
    t.save()


def garbage():
    t = Tree("ctr-garbage")
    t.host_basics(selinux="banana\n", config="enforcing")
    t.file("/etc/docker/daemon.json", '{"runtimes": {"nvidia": {"path": "nvidia-container-runtime"},}\n')
    t.docker(info(), version(), [])
    t.missing_container("auto-glm")
    t.http(http_err("timeout", "timed out"))
    t.save()


def main():
    for build in (healthy, broken, userns, daemon_down, garbage):
        build()
    from declare_empty_dirs import declare, scenario_roots

    for root in scenario_roots():
        if root.name.startswith("ctr-"):
            declare(root)


if __name__ == "__main__":
    main()
