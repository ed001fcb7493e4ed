"""SELinux for the AutoGLM deployment: running vs configured mode, labels of bind-mount sources,
labels of the VM disk images, Docker's selinux-enabled option."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.docker import Resolved, docker_info, security_options
from autoglm_doctor.facts.selinux import SelinuxState, file_label, label_type, selinux_state
from autoglm_doctor.facts.volumes import MountInfo, mounts_of
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import PerContainer

SCOPES = (Scope.CONTAINER,)  # runs on a host or a guest: wherever the docker daemon is
MODE = "container.selinux.mode"
CONTAINER_TYPES = ("container_file_t", "svirt_sandbox_file_t")  # the second is the pre-2017 alias
READ_ONLY_TYPES = ("container_ro_file_t", "container_share_t")
UNCONFINED_PROCESS_TYPES = ("spc_t", "unconfined_t", "container_runtime_t")
IMAGE_TYPES = ("virt_image_t", "svirt_image_t")
IMAGE_SUFFIXES = (".qcow2", ".img", ".raw", ".vmdk", ".vdi", ".qed")
ISO_TYPES = ("virt_content_t", "virt_image_t", "svirt_image_t", "iso9660_t")


def persistent_label_fix(path: str, type_: str) -> str:
    return (f"semanage fcontext -a -t {type_} '{path}(/.*)?' && restorecon -Rv {path}  "
            f"(or, until the next relabel: chcon -Rt {type_} {path})")


class SelinuxMode(Check):
    meta = CheckMeta(
        id=MODE,
        title="SELinux running mode matches the configured mode",
        severity=Severity.MEDIUM,
        scope=SCOPES,
        remediation="make /etc/selinux/config (SELINUX=) say the mode the host runs and was tested in; going "
                    "from disabled to enforcing needs touch /.autorelabel and a reboot",
        docs=docs_link(MODE),
        description="Running mode from selinuxfs (profile.selinuxfs, default /sys/fs/selinux) 'enforce'; configured "
                    "mode from /etc/selinux/config. A host tested in permissive behaves differently after a reboot.",
        fix="fix.selinux.config_mode",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        s = ctx.fact(selinux_state)
        observed = {"running": s.running, "configured": s.configured, "policy": s.policy}
        kw = dict(resource="selinux", observed=observed, expected="running mode == configured mode")
        if not s.loaded and s.configured in (None, "disabled"):
            why = "no /etc/selinux/config" if s.configured is None else "SELINUX=disabled"
            yield self.skip(f"SELinux is not active ({s.selinuxfs}/enforce absent, {why}): labels do not "
                            "restrict containers here", **kw)
        elif not s.loaded:
            yield self.warn(f"/etc/selinux/config says {s.configured} but SELinux is not running (booted with "
                            "selinux=0, or not yet relabelled): the next boot may enforce labels this host was never "
                            "tested with", **kw)
        elif s.configured is None:
            yield self.passed(f"SELinux is {s.running} ({s.selinuxfs}/enforce); no /etc/selinux/config to compare",
                              **kw)
        elif s.configured != s.running:
            yield self.warn(f"SELinux runs {s.running} but /etc/selinux/config says {s.configured}: after a reboot "
                            f"it will be {s.configured} (setenforce does not persist)", **kw)
        else:
            note = ": denials are only logged" if s.running == "permissive" else ""
            yield self.passed(f"SELinux is {s.running} as configured ({s.policy or 'policy ?'}){note}", **kw)


def _docker_selinux(ctx: Context) -> bool:
    return "selinux" in security_options(ctx.fact(docker_info))


def _exempt(inspect: dict) -> str | None:
    host = inspect.get("HostConfig") or {}
    opts = [str(o).replace(":", "=") for o in host.get("SecurityOpt") or []]
    if "label=disable" in opts:
        return "runs with --security-opt label=disable (unconfined by SELinux)"
    if host.get("Privileged"):
        return "is privileged (runs as spc_t, unconfined by SELinux)"
    ptype = label_type(inspect.get("ProcessLabel"))
    if ptype in UNCONFINED_PROCESS_TYPES:
        return f"runs as {ptype} (unconfined by SELinux)"
    return None


class MountLabels(PerContainer):
    meta = CheckMeta(
        id="container.selinux.labels",
        title="Bind-mount sources carry a label containers may use",
        severity=Severity.HIGH,
        scope=SCOPES,
        remediation="label the source for containers persistently: semanage fcontext -a -t container_file_t "
                    "'/path(/.*)?' && restorecon -Rv /path; or mount it with :z (shared) / :Z (private)",
        docs=docs_link("container.selinux.labels"),
        description="A container process (container_t) may use container_file_t; other types (user_home_t, "
                    "admin_home_t, var_t, default_t...) are denied under enforcing. Exempt: label=disable, "
                    "privileged, spc_t, or a dockerd without selinux-enabled. :z/:Z relabel at creation; a later "
                    "restorecon undoes that unless semanage fcontext says so too.",
        requires=(MODE, "container.docker.daemon"),
        fix="fix.container.selinux_labels",
    )
    nothing_judged = "the expected containers have no bind mounts or volumes"
    nothing_resource = "mounts"

    def run(self, ctx: Context) -> Iterable[Finding]:
        s = ctx.fact(selinux_state)
        if not s.loaded:
            yield self.skip(f"SELinux is not running ({s.selinuxfs}/enforce absent)", resource="selinux")
            return
        yield from super().run(ctx)

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        docker_on = _docker_selinux(ctx)
        exempt = _exempt(res.inspect)
        exp = {v["target"]: v for v in res.spec.get("volumes", [])}
        for m in mounts_of(res.inspect):
            if m.kind not in ("bind", "volume"):
                continue
            resource = f"{res.name}:{m.destination}"
            if not docker_on:
                yield self.passed(f"{m.source}: dockerd runs without selinux-enabled, so containers are not "
                                  "confined by container_t and labels do not block the mount (see "
                                  "container.selinux.docker_option)", resource=resource,
                                  observed={"source": m.source, "docker_selinux": False},
                                  expected="container_file_t")
                continue
            if exempt:
                yield self.passed(f"{res.name} {exempt}: the label of {m.source} does not matter",
                                  resource=resource, observed={"source": m.source, "exempt": exempt},
                                  expected="container_file_t")
                continue
            needs_write = m.rw and bool(exp.get(m.destination, {}).get("write", m.rw))
            yield self._label(ctx, ctx.fact(selinux_state), res.name, res.inspect, m, resource, needs_write)

    def _label(self, ctx: Context, s: SelinuxState, name: str, inspect: dict[str, Any], m: MountInfo, resource: str,
               needs_write: bool) -> Finding:
        label = file_label(ctx.target, m.source)
        observed = {"source": m.source, "label": str(label) if label else None, "mount_mode": m.mode or "(none)"}
        kw = dict(resource=resource, observed=observed, expected="container_file_t")
        verdict = self.fail if s.enforcing else self.warn
        consequence = ("the container gets 'permission denied'" if s.enforcing else
                       "permissive now: denials are logged, and enforced once SELinux enforces")
        if label is None:
            return verdict(f"{m.source} has no SELinux label (filesystem without xattr labels?): {consequence}",
                           remediation=persistent_label_fix(m.source, "container_file_t"), **kw)
        if label.type in CONTAINER_TYPES:
            mount_label = inspect.get("MountLabel") or ""
            if m.relabel == "Z" and mount_label and ":" in mount_label:
                want_cats = mount_label.split(":", 4)[4] if mount_label.count(":") >= 4 else ""
                if want_cats and label.categories != want_cats:
                    return verdict(f"{m.source} is {label} but {name} (:Z) runs with categories {want_cats}: a "
                                   f"private label of another container; {consequence}",
                                   remediation=f"re-create {name} (Docker relabels :Z sources at creation)", **kw)
            return self.passed(f"{m.source} is labelled {label}" + (f" (:{m.relabel})" if m.relabel else ""), **kw)
        if label.type in READ_ONLY_TYPES and not needs_write:
            return self.passed(f"{m.source} is {label}: readable by containers (read-only use)", **kw)
        if m.relabel:
            return verdict(f"{m.source} was mounted with :{m.relabel} but is now {label}: something relabelled it "
                           f"after Docker did (restorecon, an autorelabel); {consequence}",
                           remediation=persistent_label_fix(m.source, "container_file_t"), **kw)
        return verdict(f"{m.source} is labelled {label.type} ({label}), which container_t may not "
                       f"{'write' if needs_write else 'read'}: {consequence}",
                       remediation=persistent_label_fix(m.source, "container_file_t"), **kw)


class VmImageLabels(Check):
    meta = CheckMeta(
        id="container.selinux.vm_images",
        title="VM disk images are labelled for sVirt",
        severity=Severity.HIGH,
        scope=(Scope.VM,),  # the disk images of the VMs, read on the hypervisor
        remediation="restorecon -Rv /var/lib/libvirt/images; for images elsewhere: semanage fcontext -a -t "
                    "virt_image_t '/path(/.*)?' && restorecon -Rv /path",
        docs=docs_link("container.selinux.vm_images"),
        description="Under profile.libvirt_images_path: disk images virt_image_t (svirt_image_t while a VM uses "
                    "them), ISOs virt_content_t; anything else makes QEMU (svirt_t) fail to open the disk.",
        requires=(MODE,),
        fix="fix.container.selinux_labels",
    )
    nothing_judged = "the expected containers have no bind mounts or volumes"
    nothing_resource = "mounts"

    def run(self, ctx: Context) -> Iterable[Finding]:
        s = ctx.fact(selinux_state)
        root = ctx.profile.get("libvirt_images_path")
        if not s.loaded:
            yield self.skip(f"SELinux is not running ({s.selinuxfs}/enforce absent)", resource=root)
            return
        entries = ctx.target.listdir(root)
        if entries is None:
            yield self.skip(f"{root} does not exist (no VM images here)", resource=root)
            return
        images = [e for e in entries if e.endswith(IMAGE_SUFFIXES + (".iso",))]
        if not images:
            yield self.skip(f"{root} holds no disk images", resource=root)
        verdict = self.fail if s.enforcing else self.warn
        for name in images:
            path = f"{root}/{name}"
            label = file_label(ctx.target, path)
            allowed = ISO_TYPES if name.endswith(".iso") else IMAGE_TYPES
            observed = {"source": path, "label": str(label) if label else None}
            kw = dict(resource=path, observed=observed, expected=" or ".join(allowed))
            if label is not None and label.type in allowed:
                yield self.passed(f"{path} is {label}", **kw)
            else:
                yield verdict(f"{path} is {label or 'unlabelled'}: QEMU under svirt cannot open it"
                              + ("" if s.enforcing else " once SELinux enforces"),
                              remediation=f"restorecon -v {path} (images copied or moved keep their old label)", **kw)


class DockerSelinuxOption(Check):
    meta = CheckMeta(
        id="container.selinux.docker_option",
        title="Docker's selinux-enabled option fits the host's SELinux mode",
        severity=Severity.MEDIUM,
        scope=SCOPES,
        remediation='add "selinux-enabled": true to /etc/docker/daemon.json and restart docker (then label '
                    "bind-mount sources container_file_t or mount them with :z)",
        docs=docs_link("container.selinux.docker_option"),
        description="With SELinux running but dockerd started without selinux-enabled, containers are not "
                    "confined by container_t at all: mounts work regardless of labels, and isolation is weaker.",
        requires=(MODE, "container.docker.daemon"),
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        s = ctx.fact(selinux_state)
        docker_on = _docker_selinux(ctx)
        observed = {"host": s.running, "docker_selinux_enabled": docker_on}
        kw = dict(resource="dockerd", observed=observed)
        if not s.loaded:
            yield self.skip("SELinux is not running: Docker's selinux-enabled has no effect", **kw)
        elif docker_on:
            yield self.passed(f"dockerd labels containers (selinux-enabled); the host runs SELinux {s.running}",
                              expected="selinux-enabled", **kw)
        else:
            yield self.warn(f"the host runs SELinux {s.running} but dockerd does not use it: containers run "
                            "unconfined by container_t (weaker isolation; :z/:Z are not applied)",
                            expected="selinux-enabled", **kw)


CHECKS = (SelinuxMode, MountLabels, VmImageLabels, DockerSelinuxOption)
