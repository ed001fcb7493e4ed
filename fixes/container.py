"""Plans for container findings: volume ownership/modes, SELinux labels, the NVIDIA runtime in
/etc/docker/daemon.json. Plans only: nothing here touches the system."""

from __future__ import annotations

import json
from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.bootloader import find_tool
from autoglm_doctor.facts.docker import DAEMON_JSON, daemon_config
from autoglm_doctor.facts.docker_gpu import RUNTIME_BIN, find_binary
from autoglm_doctor.facts.kernel import GarbageValue
from autoglm_doctor.facts.volumes import Repair
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, GrantAcl, Plan, RunCommand, SetMode, SetOwner, WriteFile

RESTART_DOCKER = RunCommand(("systemctl", "restart", "docker"), regenerate=True, risk="disruptive")


class VolumeAccess(Fix):
    meta = FixMeta(
        id="fix.container.volume_access",
        title="Grant the container's own user access to its mounts (POSIX ACL, the whole tree)",
        fixes=("container.volumes.access",),
        risk=Severity.MEDIUM,
        description="setfacl -R -m u:UID:rX (rwX where the container writes) on the mount source for exactly the "
                    "container's effective host uid (userns-remap shifted), plus the same default ACL on every "
                    "directory so files created later are covered; owners, groups and mode bits of everyone else "
                    "stay as they are. A parent the remapped root cannot search gets o+x. Verified by re-running "
                    "container.volumes.access, which reads the mount again from inside the running container as "
                    "its user: a grant the container does not see is rolled back.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        changes: list[Change] = []
        notes: list[str] = []
        seen: set[str] = set()
        for f in findings:
            grant = f.expected.get("acl") if isinstance(f.expected, dict) else None
            if grant:
                if grant["path"] not in seen:
                    seen.add(grant["path"])
                    changes.append(GrantAcl(grant["path"], uid=int(grant["uid"]), perms=str(grant["perms"]),
                                            recursive=True, default=True))
                continue
            data = f.expected.get("fix") if isinstance(f.expected, dict) else None
            if not data:
                notes.append(f"{f.resource}: no ownership change can fix this ({f.message})")
                continue
            repair = Repair.from_dict(data)
            if repair.path in seen:
                continue
            seen.add(repair.path)
            if repair.owner is not None or repair.group is not None:
                changes.append(SetOwner(repair.path,
                                        user=None if repair.owner is None else str(repair.owner),
                                        group=None if repair.group is None else str(repair.group)))
            changes.append(SetMode(repair.path, repair.mode))
        if any(isinstance(c, GrantAcl) for c in changes):
            notes.append("only the container's uid gains access: no group is widened, no owner changes; the default "
                         "ACL covers files created later")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


class SelinuxLabels(Fix):
    meta = FixMeta(
        id="fix.container.selinux_labels",
        title="Label bind-mount sources container_file_t and VM images virt_image_t, persistently",
        fixes=("container.selinux.labels", "container.selinux.vm_images"),
        risk=Severity.LOW,
        description="semanage fcontext records the rule (it survives restorecon and autorelabel), restorecon "
                    "applies it. VM images under the libvirt images path already have a rule: restorecon only.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        changes: list[Change] = []
        seen: set[str] = set()
        for f in findings:
            source = f.observed.get("source") if isinstance(f.observed, dict) else None
            if not source or source in seen:
                continue
            seen.add(source)
            if f.check_id == "container.selinux.vm_images":
                changes.append(RunCommand(("restorecon", "-v", source), regenerate=True))
                continue
            spec = f"{source}(/.*)?"
            changes.append(RunCommand(("semanage", "fcontext", "-a", "-t", "container_file_t", spec),
                                      undo=("semanage", "fcontext", "-d", spec)))
            changes.append(RunCommand(("restorecon", "-Rv", source), regenerate=True))
        notes = ("semanage comes with the policycoreutils-python-utils package (policycoreutils-python on "
                 "RHEL 7); without it, chcon -R -t container_file_t SOURCE is the stated fallback, but it does not "
                 "survive a relabel; the alternative per container is mounting with :z",) if changes else ()
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=notes)


def _with_nvidia_runtime(data: dict) -> dict:
    out = dict(data)
    runtimes = dict(out.get("runtimes") or {})
    runtimes["nvidia"] = {"path": RUNTIME_BIN, "args": []}
    out["runtimes"] = runtimes
    return out


class NvidiaRuntime(Fix):
    meta = FixMeta(
        id="fix.container.nvidia_runtime",
        title="Register the nvidia runtime in /etc/docker/daemon.json and restart dockerd",
        fixes=("container.docker.nvidia",),
        risk=Severity.MEDIUM,
        description="The same edit as nvidia-ctk runtime configure --runtime=docker, shown as a diff. Restarting "
                    "dockerd stops running containers unless live-restore is set.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        notes: list[str] = []
        try:
            cfg = ctx.fact(daemon_config)
        except GarbageValue as exc:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings),
                        notes=(f"{exc}: repair the file by hand first",))
        if find_binary(ctx.target, RUNTIME_BIN) is None:
            notes.append(f"{RUNTIME_BIN} is not installed: install nvidia-container-toolkit from NVIDIA's repository "
                         "first (this plan then registers it); --gpus also starts working once its hook is installed")
            return Plan(self.meta.id, self.meta.title, (), tuple(findings), notes=tuple(notes))
        changes: list[Change] = []
        ctk = find_tool(ctx.target, "nvidia-ctk")
        if "nvidia" not in (cfg.data.get("runtimes") or {}) and ctk:
            # NVIDIA's own tool makes the edit; the journal keeps daemon.json so a rollback restores it
            changes.append(RunCommand((ctk, "runtime", "configure", "--runtime=docker"), outputs=(DAEMON_JSON,)))
        elif "nvidia" not in (cfg.data.get("runtimes") or {}):
            content = json.dumps(_with_nvidia_runtime(cfg.data), indent=4) + "\n"
            changes.append(WriteFile(DAEMON_JSON, content))
            notes.append("nvidia-ctk is not installed: the plan makes the same edit nvidia-ctk runtime configure "
                         "--runtime=docker would make")
        else:
            notes.append(f"{DAEMON_JSON} already registers nvidia: dockerd only needs a restart")
        if not cfg.data.get("live-restore"):
            notes.append("running containers stop during the restart (live-restore is not enabled)")
        changes.append(RESTART_DOCKER)
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))


FIXES = (VolumeAccess, SelinuxLabels, NvidiaRuntime)
