"""Docker daemon readiness: reachable, version, daemon.json, storage, root space, cgroup driver, NVIDIA."""

from __future__ import annotations

import re
from typing import Iterable

from autoglm_doctor.adapters.docker_api import unreachable_reason
from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.cgroup import cgroup_info
from autoglm_doctor.facts.docker import (
    daemon_config,
    docker_info,
    docker_version,
    expected_specs,
    security_options,
)
from autoglm_doctor.facts.docker_gpu import gpu_routes
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.targets.base import AdapterUnavailable

GIB = 1024**3
SCOPES = (Scope.CONTAINER,)  # runs on a host or a guest: wherever the docker daemon is
DAEMON = "container.docker.daemon"


def _version_tuple(text: str) -> tuple[int, int]:
    m = re.match(r"^v?(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


class DockerDaemon(Check):
    meta = CheckMeta(
        id=DAEMON,
        title="Docker daemon reachable, and recent enough for --gpus",
        severity=Severity.CRITICAL,
        scope=SCOPES,
        remediation="install Docker (apt-get install docker.io, or Docker CE) and start it: systemctl enable --now docker",
        docs=docs_link(DAEMON),
        description="Connects through DOCKER_HOST or /var/run/docker.sock; socket missing, permission denied and "
                    "daemon down are told apart. Docker 19.03+ is needed for --gpus.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        try:
            api = ctx.target.adapter("docker")
            version = ctx.fact(docker_version)
        except AdapterUnavailable as exc:
            reason = unreachable_reason(exc)
            if reason in (None, "sdk_missing"):
                raise  # the doctor cannot ask: skip with the reason, the daemon may be fine
            yield self.fail(f"Docker daemon unreachable: {str(exc).split('] ', 1)[-1]}", resource="dockerd",
                            observed=reason, expected="daemon answering the Engine API", remediation=exc.hint)
            return
        endpoint = (api.endpoint() or {}).get("url") or "dockerd"
        server = str(version.get("Version", "?"))
        api_version = str(version.get("ApiVersion", "?"))
        observed = f"Docker {server}, API {api_version}, {version.get('Os', '?')}/{version.get('Arch', '?')}"
        if _version_tuple(server) < (19, 3) and _version_tuple(api_version) < (1, 40):
            yield self.fail(f"{observed} at {endpoint}: --gpus (device requests) needs Docker 19.03 / API 1.40 or "
                            "newer", resource=endpoint, observed=observed, expected=">= 19.03 (API 1.40)",
                            remediation="upgrade Docker (Docker CE from download.docker.com, or the distribution's docker.io)")
            return
        yield self.passed(f"{observed} answers at {endpoint}", resource=endpoint, observed=observed,
                          expected=">= 19.03 (API 1.40)")


class DaemonConfigFile(Check):
    meta = CheckMeta(
        id="container.docker.daemon_config",
        title="/etc/docker/daemon.json is valid and in effect",
        severity=Severity.HIGH,
        scope=SCOPES,
        remediation="fix the JSON (python3 -m json.tool /etc/docker/daemon.json), then systemctl restart docker",
        docs=docs_link("container.docker.daemon_config"),
        description="Invalid JSON keeps dockerd from starting; settings the running daemon does not show "
                    "(runtimes, default-runtime, userns-remap, selinux-enabled) mean it was not restarted.",
        requires=(DAEMON,),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        cfg = ctx.fact(daemon_config)  # GarbageValue -> error finding naming the file
        info = ctx.fact(docker_info)
        if not cfg.exists:
            yield self.passed(f"{cfg.path} does not exist: dockerd runs with its defaults", resource=cfg.path,
                              observed="absent", expected="valid JSON or absent")
            return
        data, sec = cfg.data, security_options(info)
        runtimes = set((info.get("Runtimes") or {}).keys())
        stale = []
        for name in (data.get("runtimes") or {}):
            if name not in runtimes:
                stale.append(f"runtime {name!r} is configured but not registered")
        default = data.get("default-runtime")
        if default and default != info.get("DefaultRuntime"):
            stale.append(f"default-runtime {default!r} is configured, the daemon uses {info.get('DefaultRuntime')!r}")
        if data.get("userns-remap") and "userns" not in sec:
            stale.append("userns-remap is configured but not active")
        if not data.get("userns-remap") and "userns" in sec:
            stale.append("userns-remap is active but not in daemon.json (set on the dockerd command line?)")
        if data.get("selinux-enabled") is True and "selinux" not in sec:
            stale.append("selinux-enabled is true but the daemon runs without SELinux support")
        keys = ", ".join(sorted(data)) or "no settings"
        if stale:
            yield self.warn(f"{cfg.path} ({keys}) is not what the running daemon uses: " + "; ".join(stale)
                            + ": dockerd was not restarted after the edit (or another flag overrides it)",
                            resource=cfg.path, observed=stale, expected="running daemon matches daemon.json",
                            remediation="systemctl restart docker (running containers stop unless live-restore is set)")
        else:
            yield self.passed(f"{cfg.path} is valid JSON ({keys}) and matches the running daemon", resource=cfg.path,
                              observed=keys, expected="valid JSON, in effect")


class StorageDriver(Check):
    meta = CheckMeta(
        id="container.docker.storage_driver",
        title="Docker storage driver suits multi-GB model-server images",
        severity=Severity.MEDIUM,
        scope=SCOPES,
        remediation='use overlay2: {"storage-driver": "overlay2"} in /etc/docker/daemon.json on an ext4 or xfs '
                    "(ftype=1) filesystem; images must be pulled again after the switch",
        docs=docs_link("container.docker.storage_driver"),
        requires=(DAEMON,),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        info = ctx.fact(docker_info)
        driver = str(info.get("Driver") or "?")
        status = {str(k): str(v) for k, v in (info.get("DriverStatus") or []) if k}
        backing = status.get("Backing Filesystem", "?")
        observed = f"{driver} on {backing}"
        if driver in ("overlay2", "overlay") and status.get("Supports d_type", "true") != "true":
            yield self.fail(f"{observed} without d_type support: overlay cannot work correctly (xfs made with ftype=0)",
                            resource=driver, observed=observed, expected="overlay2 with d_type",
                            remediation="put /var/lib/docker on ext4 or on xfs formatted with -n ftype=1")
        elif driver == "vfs":
            yield self.fail(f"{observed}: vfs copies every image layer in full, a 10-20 GB model-server image "
                            "costs that much again per layer and per container", resource=driver, observed=observed,
                            expected="overlay2")
        elif driver in ("devicemapper", "aufs"):
            yield self.warn(f"{observed}: {driver} is deprecated and removed from current Docker releases",
                            resource=driver, observed=observed, expected="overlay2")
        else:
            yield self.passed(f"storage driver {observed}", resource=driver, observed=observed, expected="overlay2")


def _model_expected(ctx: Context) -> bool:
    return any(s["role"] == "model" for s in expected_specs(ctx))


class RootDirSpace(Check):
    meta = CheckMeta(
        id="container.docker.root_space",
        title="Free space in DockerRootDir for images and model weights",
        severity=Severity.HIGH,
        scope=SCOPES,
        remediation="free space (docker system prune, docker image prune -a) or move data-root to a larger disk "
                    '({"data-root": "/srv/docker"} in /etc/docker/daemon.json)',
        docs=docs_link("container.docker.root_space"),
        description="A vLLM/SGLang server image unpacks to 10-20 GB and the weights are ~20 GB when kept in a "
                    "Docker volume: 40 GiB free is asked for when a model server runs here, 10 GiB otherwise.",
        requires=(DAEMON,),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        root = str(ctx.fact(docker_info).get("DockerRootDir") or "/var/lib/docker")
        usage = ctx.target.disk_usage(root)
        if usage is None:
            yield self.fail(f"DockerRootDir {root} does not exist", resource=root, observed="absent",
                            expected="an existing directory")
            return
        model = _model_expected(ctx)
        want, floor = (40, 20) if model else (10, 5)
        free = usage.free / GIB
        msg = (f"{free:.1f} GiB free of {usage.total / GIB:.1f} GiB at {root}; "
               f"{want} GiB wanted {'with a model server (image + weights)' if model else 'for the agent images'}")
        kw = dict(resource=root, observed=f"{free:.1f} GiB free", expected=f">= {want} GiB free")
        if free < floor:
            yield self.fail(msg, **kw)
        elif free < want:
            yield self.warn(msg, **kw)
        else:
            yield self.passed(msg, **kw)


class CgroupDriver(Check):
    meta = CheckMeta(
        id="container.docker.cgroup_driver",
        title="Docker's cgroup driver fits the host's cgroup version",
        severity=Severity.MEDIUM,
        scope=SCOPES,
        remediation='on cgroup v2 with systemd: {"exec-opts": ["native.cgroupdriver=systemd"]} in '
                    "/etc/docker/daemon.json, then systemctl restart docker",
        docs=docs_link("container.docker.cgroup_driver"),
        description="cgroupfs on a cgroup v2 host run by systemd means two managers of one tree (Docker and "
                    "Kubernetes recommend the systemd driver there); a daemon reporting another cgroup version "
                    "than the host's is not looking at this host's cgroups.",
        requires=(DAEMON,),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        info = ctx.fact(docker_info)
        driver = str(info.get("CgroupDriver") or "?")
        daemon_v = str(info.get("CgroupVersion") or "1")
        host_v = str(ctx.fact(cgroup_info).version)
        init = (ctx.target.read_text("/proc/1/comm") or "?").strip()
        observed = f"driver {driver}, docker sees cgroup v{daemon_v}, host cgroup v{host_v}, PID 1 {init}"
        kw = dict(resource="dockerd", observed=observed)
        if daemon_v != host_v:
            yield self.fail(f"{observed}: the daemon and the host disagree on the cgroup version (dockerd runs in "
                            "another cgroup namespace or is too old for cgroup v2: Docker 20.10+ is needed)",
                            expected=f"cgroup v{host_v} on both sides", **kw)
        elif host_v == "2" and driver == "cgroupfs" and init == "systemd":
            yield self.warn(f"{observed}: cgroupfs on a systemd cgroup v2 host; systemd does not know the "
                            "containers' cgroups, limits and accounting can be wrong under pressure",
                            expected="systemd driver on cgroup v2", **kw)
        else:
            yield self.passed(observed, expected="systemd driver on v2; cgroupfs or systemd on v1", **kw)


class NvidiaRuntime(Check):
    meta = CheckMeta(
        id="container.docker.nvidia",
        title="Docker can hand the GPU to the model server (NVIDIA Container Toolkit)",
        severity=Severity.CRITICAL,
        scope=SCOPES,
        remediation="install nvidia-container-toolkit (NVIDIA's apt/dnf repository), then "
                    "nvidia-ctk runtime configure --runtime=docker && systemctl restart docker",
        docs=docs_link("container.docker.nvidia"),
        description="--gpus needs nvidia-container-runtime-hook on dockerd's PATH; --runtime=nvidia needs the "
                    "runtime registered (docker info Runtimes); --device nvidia.com/gpu=all needs CDI enabled "
                    "(Docker 25+) and a spec in /etc/cdi or /var/run/cdi.",
        requires=(DAEMON,),
        fix="fix.container.nvidia_runtime",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        if not _model_expected(ctx):
            yield self.skip("no model-server container is expected here (profile.containers has no role 'model')",
                            resource="nvidia")
            return
        routes = ctx.fact(gpu_routes)
        observed = routes.summary()
        if routes.stale_runtime:
            yield self.fail(f"{routes.stale_runtime}: the nvidia runtime is configured in daemon.json but dockerd "
                            "has not loaded it (not restarted since)", resource="nvidia", observed=observed,
                            expected="runtime 'nvidia' registered",
                            remediation="systemctl restart docker")
            return
        if not routes.usable:
            yield self.fail("no way to give a container the GPU: " + routes.why_not()
                            + "; `docker run --gpus all` fails with 'could not select device driver \"\" with "
                            "capabilities: [[gpu]]'", resource="nvidia", observed=observed,
                            expected="--gpus, --runtime=nvidia or CDI available")
            return
        if not routes.driver_loaded:
            yield self.warn(f"{', '.join(routes.usable)} available, but the NVIDIA kernel driver is not loaded "
                            "(/proc/driver/nvidia/version absent): containers will start without a usable GPU",
                            resource="nvidia", observed=observed, expected="driver loaded",
                            remediation="install/load the NVIDIA driver (nvidia-smi must work on this machine)")
            return
        yield self.passed(f"GPU hand-off available via {', '.join(routes.usable)}", resource="nvidia",
                          observed=observed, expected="--gpus, --runtime=nvidia or CDI available")


CHECKS = (DockerDaemon, DaemonConfigFile, StorageDriver, RootDirSpace, CgroupDriver, NvidiaRuntime)
