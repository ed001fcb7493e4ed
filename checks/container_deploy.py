"""The AutoGLM deployment: expected containers exist and run, do not crash-loop, publish their ports,
get the GPU and enough shared memory, and the model endpoint serves the expected model."""

from __future__ import annotations

import json
from typing import Iterable, Iterator, Sequence

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.container_state import container_state, explain_state_error, restart_summary, run_hint
from autoglm_doctor.facts.docker import Resolved, docker_info, short_error
from autoglm_doctor.facts.endpoint import open_to_all, port_of, probe_timeout
from autoglm_doctor.facts.listeners import listener_owner, listening_on
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import PerContainer, PerModelContainer

SCOPES = (Scope.CONTAINER,)  # runs on a host or a guest: wherever the docker daemon is
REQUIRES = ("container.docker.daemon",)
GIB = 1024**3
SHM_MIN = 1 * GIB
RESTART_WARN = 3



class ContainerPresent(PerContainer):
    meta = CheckMeta(
        id="container.deploy.present",
        title="The expected AutoGLM containers exist and are running",
        severity=Severity.CRITICAL,
        scope=SCOPES,
        remediation="create and start the container (docker run ...); docker logs NAME tells why it stopped",
        docs=docs_link("container.deploy.present"),
        description="Containers found by name, label or image (profile.containers; default: auto-glm and a "
                    "vLLM/SGLang server); a container that could not start shows Docker's error, explained.",
        requires=REQUIRES,
    )

    def absent(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        what = f"no container named {res.name}" if res.spec.get("name") else f"no {res.name} found"
        yield self.fail(f"{what} (docker ps -a shows none)", resource=res.name,
                        observed="absent", expected="running",
                        remediation=run_hint(res.spec, res.name, ctx.profile.get("served_model_name")))

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        state = container_state(res.inspect)
        status = str(state.get("Status") or "?")
        image = (res.inspect.get("Config") or {}).get("Image", "?")
        if status == "running" and not state.get("Restarting"):
            yield self.passed(f"{res.name} ({image}) is running since {state.get('StartedAt', '?')}",
                              resource=res.name, observed=status, expected="running")
            return
        error = str(state.get("Error") or "")
        if state.get("Restarting") or status == "restarting":
            # it exists and Docker keeps starting it: the crash loop is one cause, judged by
            # container.deploy.health; "docker start" would be wrong advice for it
            yield self.passed(f"{res.name} ({image}) exists and its restart policy keeps restarting it "
                              f"({restart_summary(res.inspect)}): the crash loop is reported by "
                              "container.deploy.health", resource=res.name, observed=status, expected="running")
            return
        if error:
            detail = f"is {status} and could not start: {short_error(error)}"
        elif status == "exited":
            detail = (f"exited with code {state.get('ExitCode')} at {state.get('FinishedAt', '?')} "
                      f"({restart_summary(res.inspect)})"
                      + (" (killed by the OOM killer)" if state.get("OOMKilled") else ""))
        else:
            detail = f"is {status}"
        remediation = explain_state_error(error) or (
            f"raise {res.name}'s --memory limit or the machine's memory, then docker start {res.name}"
            if state.get("OOMKilled") else f"docker logs --tail 50 {res.name} shows why it stopped; then "
            f"docker start {res.name}")
        yield self.fail(f"{res.name} ({image}) {detail}", resource=res.name, observed=status,
                        expected="running", remediation=remediation)


class ContainerHealth(PerContainer):
    meta = CheckMeta(
        id="container.deploy.health",
        title="The AutoGLM containers are healthy and not crash-looping",
        severity=Severity.HIGH,
        scope=SCOPES,
        remediation="read docker logs NAME; for OOM kills give the container (or the VM) more memory",
        docs=docs_link("container.deploy.health"),
        description="RestartCount, State.Restarting, State.Health (with the last probe output), the last exit "
                    "code and OOMKilled.",
        requires=REQUIRES,
    )

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        state = container_state(res.inspect)
        restarts = int(res.inspect.get("RestartCount") or 0)
        health = state.get("Health") or {}
        hstatus = health.get("Status")
        summary = restart_summary(res.inspect)
        kw = dict(resource=res.name, observed=summary, expected="running, 0 restarts, healthy or no healthcheck")
        if state.get("Status") not in ("running", "restarting") and not state.get("Restarting"):
            # a stopped container is one failure, container.deploy.present's (its message carries the
            # exit code, the restarts and an OOM kill)
            yield self.skip(f"{res.name} is {state.get('Status')}: not running (see container.deploy.present)",
                            resource=res.name)
        elif state.get("OOMKilled"):
            yield self.fail(f"{res.name} was killed by the OOM killer ({summary})",
                            remediation=f"raise {res.name}'s --memory limit or the machine's memory; for a "
                            "model server lower --gpu-memory-utilization / --max-model-len", **kw)
        elif state.get("Restarting"):
            yield self.fail(f"{res.name} is crash-looping: {summary}",
                            remediation=f"docker logs --tail 50 {res.name} shows why it exits", **kw)
        elif hstatus == "unhealthy":
            logs = health.get("Log") or [{}]
            last = short_error((logs[-1] or {}).get("Output", ""), 200)
            yield self.fail(f"{res.name} is unhealthy after {health.get('FailingStreak', '?')} failed probes; "
                            f"last probe said: {last or '(nothing)'}",
                            remediation=f"docker inspect --format '{{{{json .State.Health}}}}' {res.name}", **kw)
        elif restarts >= RESTART_WARN:
            yield self.warn(f"{res.name} runs, but its restart policy restarted it {restarts} times: it has "
                            f"crashed repeatedly ({summary})",
                            remediation=f"docker logs --tail 100 {res.name} shows why it exited", **kw)
        elif hstatus == "starting":
            yield self.warn(f"{res.name} healthcheck is still starting ({summary})",
                            remediation=f"wait for the start period; docker inspect --format "
                                        f"'{{{{json .State.Health}}}}' {res.name} shows the probes", **kw)
        else:
            yield self.passed(f"{res.name}: {summary}", **kw)


class PublishedPorts(PerContainer):
    meta = CheckMeta(
        id="container.deploy.ports",
        title="Expected host ports are published and not taken by another process",
        severity=Severity.HIGH,
        scope=SCOPES,
        remediation="publish the port (docker run -p HOST:CONTAINER) and stop whatever else holds the host port",
        docs=docs_link("container.deploy.ports"),
        description="HostConfig.PortBindings against profile.containers[].ports; for a container that is not "
                    "running the host port's current holder is named from /proc/net/tcp{,6} and /proc/PID/fd.",
        requires=REQUIRES,
    )

    none_expected = "profile.containers expects no published ports"
    none_resource = "ports"

    def containers(self, ctx: Context) -> Sequence[Resolved]:
        return [res for res in super().containers(ctx) if res.spec.get("ports")]

    @staticmethod
    def _resource(res: Resolved, p: dict) -> str:
        return f"{res.name}:{p['host']}/{p['proto']}"

    def absent(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        for p in res.spec["ports"]:
            yield res.skip_absent(self, self._resource(res, p))

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        for p in res.spec["ports"]:
            yield self._port(ctx, res.name, res.inspect, p, self._resource(res, p))

    def _holders(self, ctx: Context, port: int) -> str:
        found = listening_on(ctx, port)
        if not found:
            return ""
        owner = listener_owner(ctx, found[0])
        return f"{found[0]} is held by {owner or 'another process (owner not visible)'}"

    def _port(self, ctx: Context, name: str, inspect: dict, p: dict, resource: str) -> Finding:
        host_cfg = inspect.get("HostConfig") or {}
        running = container_state(inspect).get("Status") == "running"
        want = f"{p['host']}->{p['container']}/{p['proto']}"
        if str(host_cfg.get("NetworkMode")) == "host":
            if running:
                found = listening_on(ctx, p["host"])
                if found:
                    return self.passed(f"{name} uses the host network and {found[0]} is listening",
                                       resource=resource, observed=f"host network, {found[0]}", expected=want)
                return self.fail(f"{name} uses the host network but nothing listens on port {p['host']}",
                                 resource=resource, observed="host network, no listener", expected=want)
            holder = self._holders(ctx, p["host"])
            if holder:
                return self.fail(f"{name} (host network) is not running and {holder}", resource=resource,
                                 observed=holder, expected=f"port {p['host']} free for {name}")
            return self.skip(f"{name} (host network) is not running (see container.deploy.present)", resource=resource)
        bindings = (host_cfg.get("PortBindings") or {}).get(f"{p['container']}/{p['proto']}") or []
        host_ports = sorted({str(b.get("HostPort") or "") for b in bindings})
        addresses = sorted({b.get("HostIp") or "0.0.0.0" for b in bindings if str(b.get("HostPort")) == str(p["host"])})
        if not bindings:
            published = ", ".join(sorted((host_cfg.get("PortBindings") or {}).keys())) or "nothing"
            return self.fail(f"{name} does not publish container port {p['container']}/{p['proto']} "
                             f"(it publishes {published})", resource=resource, observed=published, expected=want,
                             remediation=f"re-create {name} with -p {p['host']}:{p['container']}")
        if not addresses:
            return self.fail(f"{name} publishes {p['container']}/{p['proto']} on host port(s) "
                             f"{', '.join(h or 'random' for h in host_ports)}, not {p['host']}", resource=resource,
                             observed=host_ports, expected=want,
                             remediation=f"re-create {name} with -p {p['host']}:{p['container']}, or set the port "
                             "in profile.containers")
        where = ", ".join(addresses)
        if running:
            local = " (loopback only: not reachable from other machines)" if addresses == ["127.0.0.1"] else ""
            return self.passed(f"{name} publishes {where}:{p['host']} -> {p['container']}/{p['proto']}{local}",
                               resource=resource, observed=f"{where}:{p['host']}", expected=want)
        holder = self._holders(ctx, p["host"])
        if holder:
            return self.fail(f"{name} is configured to publish {where}:{p['host']} but is not running, and {holder}: "
                             "the container cannot bind it ('address already in use')", resource=resource,
                             observed=holder, expected=f"port {p['host']} free for {name}",
                             remediation=f"stop the other listener on port {p['host']} (or move {name} to another "
                             f"host port), then docker start {name}")
        return self.skip(f"{name} is not running; {where}:{p['host']} is configured and free "
                         "(see container.deploy.present)", resource=resource)


class ModelGpu(PerModelContainer):
    meta = CheckMeta(
        id="container.deploy.gpu",
        title="The model-server container requests the GPU",
        severity=Severity.CRITICAL,
        scope=SCOPES,
        remediation="re-create the model server with --gpus all (or --runtime=nvidia with NVIDIA_VISIBLE_DEVICES=all, "
                    "or --device nvidia.com/gpu=all with CDI)",
        docs=docs_link("container.deploy.gpu"),
        description="HostConfig.DeviceRequests (--gpus, CDI), the nvidia runtime with NVIDIA_VISIBLE_DEVICES, "
                    "or raw /dev/nvidia* devices.",
        requires=REQUIRES,
    )

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        yield self._gpu(ctx, res.name, res.inspect)

    def _gpu(self, ctx: Context, name: str, inspect: dict) -> Finding:
        host = inspect.get("HostConfig") or {}
        env = dict(e.split("=", 1) for e in (inspect.get("Config") or {}).get("Env") or [] if "=" in e)
        for req in host.get("DeviceRequests") or []:
            caps = {c for group in req.get("Capabilities") or [] for c in group}
            if "gpu" in caps or req.get("Driver") in ("nvidia", "cdi"):
                which = req.get("DeviceIDs") or ("all" if req.get("Count") == -1 else f"{req.get('Count')} GPU(s)")
                return self.passed(f"{name} requests GPUs ({req.get('Driver') or 'nvidia'} driver: {which})",
                                   resource=name, observed=req, expected="GPU device request")
        runtime = host.get("Runtime") or ctx.fact(docker_info).get("DefaultRuntime")
        visible = env.get("NVIDIA_VISIBLE_DEVICES")
        if runtime == "nvidia":
            if visible and visible not in ("void", "none"):
                return self.passed(f"{name} runs with the nvidia runtime and NVIDIA_VISIBLE_DEVICES={visible}",
                                   resource=name, observed=f"runtime nvidia, {visible}", expected="GPU requested")
            return self.fail(f"{name} runs with the nvidia runtime but NVIDIA_VISIBLE_DEVICES is "
                             f"{visible or 'unset'}: the runtime injects no GPU", resource=name,
                             observed=f"runtime nvidia, NVIDIA_VISIBLE_DEVICES={visible}", expected="a GPU list",
                             remediation=f"re-create {name} with -e NVIDIA_VISIBLE_DEVICES=all (or --gpus all)")
        raw = [d.get("PathOnHost") for d in host.get("Devices") or [] if "nvidia" in str(d.get("PathOnHost"))]
        if raw:
            return self.warn(f"{name} gets raw device nodes {', '.join(raw)} without the NVIDIA toolkit: the "
                             "driver's user-space libraries (libcuda) are not injected, CUDA works only if the image "
                             "carries the exact host driver version", resource=name, observed=raw,
                             expected="--gpus all")
        return self.fail(f"{name} requests no GPU (no --gpus, no nvidia runtime, no CDI device): the model server "
                         "sees no CUDA device", resource=name, observed="no GPU request", expected="--gpus all")


class ModelSharedMemory(PerModelContainer):
    meta = CheckMeta(
        id="container.deploy.shm",
        title="The model server has enough shared memory (/dev/shm)",
        severity=Severity.HIGH,
        scope=SCOPES,
        remediation="re-create the model server with --ipc=host (vLLM's recommendation) or --shm-size=16g",
        docs=docs_link("container.deploy.shm"),
        description="Docker's default /dev/shm is 64 MiB; vLLM/SGLang (NCCL, tensor-parallel workers, PyTorch) "
                    "need far more: IpcMode host or ShmSize >= 1 GiB.",
        requires=REQUIRES,
    )

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        host = (res.inspect or {}).get("HostConfig") or {}
        ipc, shm = str(host.get("IpcMode") or "private"), int(host.get("ShmSize") or 0)
        observed = f"ipc={ipc}, shm-size={shm / 2**20:.0f} MiB"
        kw = dict(resource=res.name, observed=observed, expected="ipc=host or shm-size >= 1024 MiB")
        if ipc == "host":
            yield self.passed(f"{res.name} shares the host's IPC namespace and /dev/shm", **kw)
        elif ipc.startswith("container:"):
            yield self.warn(f"{res.name} uses the IPC namespace of {ipc[10:]}: that container's /dev/shm size "
                            "applies", **kw)
        elif shm >= SHM_MIN:
            yield self.passed(f"{res.name} has a {shm / GIB:.1f} GiB /dev/shm", **kw)
        else:
            yield self.fail(f"{res.name} has only {shm / 2**20:.0f} MiB of /dev/shm ({observed}): NCCL and "
                            "PyTorch workers fail with bus errors or hang", **kw)


class ModelEndpoint(Check):
    meta = CheckMeta(
        id="container.deploy.model_endpoint",
        title="The model endpoint answers GET /v1/models with the served model",
        severity=Severity.CRITICAL,
        scope=SCOPES,
        remediation="start the model server with --served-model-name set to profile.served_model_name and "
                    "publish its port (profile.model_endpoint)",
        docs=docs_link("container.deploy.model_endpoint"),
        description="Timeout, connection refused, HTTP errors, non-JSON answers and a wrong model name are each "
                    "reported as such.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        base = ctx.profile.get("model_endpoint").rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        url = f"{base}/v1/models"
        want = ctx.profile.get("served_model_name")
        key_env = ctx.profile.get("model_api_key_env")
        timeout = probe_timeout(ctx)
        args = (url, timeout) + ((key_env,) if key_env else ())
        answer = ctx.target.adapter("http").get(*args) or {}
        err = answer.get("error")
        kw = dict(resource=url, expected=f"200 listing {want!r}")
        if err:
            kind = err.get("kind")
            text = {
                "refused": "connection refused: nothing listens there (model server not running, or on another "
                           "port / not published)",
                "timeout": f"no answer within {timeout:g} s: the server is still loading weights (vLLM takes "
                           "minutes for a 9B model) or is hung",
                "reset": "the connection was reset: the server crashed while answering, or a proxy dropped it",
                "dns": "the host name does not resolve",
                "unreachable": "no route to the host",
            }.get(kind, err.get("message", "request failed"))
            yield self.fail(f"GET {url}: {text}", observed=f"{kind}: {err.get('message')}",
                            remediation=self._start_hint(base, want), **kw)
            return
        status, body = answer.get("status"), answer.get("body") or ""
        if status in (401, 403):
            yield self._unauthorized(url, status, key_env, bool(answer.get("key_sent")), kw)
            return
        if status != 200:
            hint = " (no /v1/models: not an OpenAI-compatible server, or a wrong base URL)" if status == 404 else ""
            yield self.fail(f"GET {url}: HTTP {status}{hint}: {short_error(body, 200)}", observed=status,
                            remediation=self._start_hint(base, want), **kw)
            return
        try:
            names = [str(m.get("id")) for m in json.loads(body).get("data", [])]
        except (ValueError, AttributeError, TypeError, RecursionError):
            yield self.fail(f"GET {url}: HTTP 200 but not an OpenAI model list: {short_error(body, 120)!r}",
                            observed="not JSON {data: [...]}", **kw)
            return
        if want in names:
            exposed = "" if key_env else open_to_all(ctx, base)
            if exposed:
                yield self.warn(f"{url} serves {want!r} without an API key and {exposed}: anyone who reaches the "
                                "port can use the model", observed=names, remediation=(
                                    f"start the server with --api-key and set profile.model_api_key_env to the "
                                    f"variable holding it, or publish it on loopback only "
                                    f"(-p 127.0.0.1:{port_of(base)}:{port_of(base)} / --host 127.0.0.1)"), **kw)
                return
            yield self.passed(f"{url} serves {want!r} ({answer.get('elapsed_ms', '?')} ms)", observed=names, **kw)
        else:
            yield self.fail(f"{url} serves {', '.join(map(repr, names)) or 'no model'}, not {want!r}: requests for "
                            f"{want!r} will fail with 404 'model does not exist'", observed=names,
                            remediation=f"start the server with --served-model-name {want} (or set "
                            "profile.served_model_name to the served name)", **kw)


    def _start_hint(self, base: str, want: str) -> str:
        return (f"start the model server with --served-model-name {want} and publish port {port_of(base)} "
                f"(profile.model_endpoint is {base})")

    def _unauthorized(self, url: str, status: int, key_env: str | None, sent: bool, kw: dict) -> Finding:
        """HTTP 401/403: the server requires an API key (vLLM/SGLang --api-key)."""
        if not key_env:
            return self.fail(f"GET {url}: HTTP {status}: the server requires an API key, and the doctor was given "
                             "none", observed=status,
                             remediation="set profile.model_api_key_env to the name of the environment variable "
                                         "that holds the server's --api-key (never the key itself), and export it "
                                         "where the doctor runs", **kw)
        if not sent:
            return self.fail(f"GET {url}: HTTP {status}: the server requires an API key, but {key_env} "
                             "(profile.model_api_key_env) is not set in the doctor's environment", observed=status,
                             remediation=f"export {key_env} with the server's --api-key where the doctor runs", **kw)
        return self.fail(f"GET {url}: HTTP {status}: the server rejected the key in {key_env}: it is not the "
                         "server's --api-key", observed=status,
                         remediation=f"give {key_env} the same key as the server's --api-key (and the agent too)",
                         **kw)


CHECKS = (ContainerPresent, ContainerHealth, PublishedPorts, ModelGpu, ModelSharedMemory, ModelEndpoint)
