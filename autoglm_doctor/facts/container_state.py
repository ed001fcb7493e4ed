"""Reading a container's State: a one-line restart summary and what Docker's start errors mean."""

from __future__ import annotations

from typing import Any

# Substrings of dockerd's start errors -> what to do about them.
STATE_ERRORS = (
    ("could not select device driver", "--gpus was given but dockerd has no NVIDIA device driver: install "
     "nvidia-container-toolkit and restart docker (see container.docker.nvidia)"),
    ("unknown or invalid runtime name: nvidia", "--runtime=nvidia but the runtime is not registered: "
     "nvidia-ctk runtime configure --runtime=docker && systemctl restart docker"),
    ("port is already allocated", "another container publishes the same host port: docker ps --filter "
     "publish=PORT, stop it or choose another host port"),
    ("address already in use", "another process listens on the host port (see container.deploy.ports): stop it "
     "or publish another host port"),
    ("unable to find user", "the --user name is not in the image's /etc/passwd: use a numeric uid:gid"),
    ("bind source path does not exist", "a --mount source is missing: create it (see container.volumes.source)"),
    ("permission denied", "a mount or the entrypoint is not accessible: see container.volumes.access and "
     "container.selinux.labels"),
    ("no such file or directory", "the entrypoint or a mount source is missing: docker inspect NAME"),
)


def explain_state_error(error: str) -> str | None:
    low = error.lower()
    return next((hint for needle, hint in STATE_ERRORS if needle in low), None)


def container_state(inspect: dict[str, Any]) -> dict[str, Any]:
    """The inspect document's State (empty when Docker gave none)."""
    return inspect.get("State") or {}


def restart_summary(inspect: dict[str, Any]) -> str:
    state = container_state(inspect)
    parts = [str(state.get("Status") or "?")]
    parts.append(f"{int(inspect.get('RestartCount') or 0)} restarts")
    policy = ((inspect.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
    parts.append(f"policy {policy}")
    parts.append(f"last exit code {state.get('ExitCode', '?')}")
    if state.get("OOMKilled"):
        parts.append("OOM-killed")
    health = (state.get("Health") or {}).get("Status")
    if health:
        parts.append(f"health {health}")
    return ", ".join(parts)


def run_hint(spec: dict[str, Any], name: str, want: str) -> str:
    """How to create a missing container, with what the profile knows (name, ports, model name)."""
    ports = " ".join(f"-p {p['host']}:{p['container']}" for p in spec.get("ports", []))
    if spec.get("role") == "model":
        return (f"docker run -d --gpus all --ipc=host {ports} vllm/vllm-openai --model <model dir or hub id> "
                f"--served-model-name {want}")
    named = f"--name {spec['name']} " if spec.get("name") else ""
    return (f"docker run -d {named}{ports} -v <absolute path of the config directory>:/app/config <the agent "
            "image> (the deployment guide's command; a relative -v path silently creates an empty directory)")
