"""Volume permissions of the AutoGLM containers: sources exist and are sane, and the container's
effective user (image /etc/passwd, userns-remap) can read — and where needed write — them."""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.access import accounts
from autoglm_doctor.facts.docker import host_volumes, resolve_containers
from autoglm_doctor.facts.volumes import (
    MountInfo,
    UnresolvableUser,
    container_user,
    evaluate,
    walk_access,
    host_account,
    mode_text,
    mounts_of,
    repair_for,
    search_repair,
)
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity

SCOPES = (Scope.CONTAINER,)  # runs on a host or a guest: wherever the docker daemon is
REQUIRES = ("container.docker.daemon",)


def _expectations(spec: dict) -> dict[str, dict]:
    return {v["target"]: v for v in spec.get("volumes", [])}


class VolumeSources(Check):
    meta = CheckMeta(
        id="container.volumes.source",
        title="Bind-mount and volume sources exist and are sane",
        severity=Severity.HIGH,
        scope=SCOPES,
        remediation="create the source directory with the right owner before starting the container, and pass "
                    "an absolute path to -v (./config is relative to where docker run was typed)",
        docs=docs_link("container.volumes.source"),
        description="A -v source that does not exist is silently created by dockerd as an empty root-owned "
                    "directory; a missing expected mount leaves the config in the container's writable layer; "
                    "world-writable sources let any local user change what the container reads.",
        requires=REQUIRES,
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        t = ctx.target
        acc = ctx.fact(accounts)
        for res in resolve_containers(ctx):
            if res.inspect is None:
                yield res.skip_absent(self)
                continue
            mounts = {m.destination: m for m in mounts_of(res.inspect) if m.kind in ("bind", "volume")}
            expected = _expectations(res.spec)
            for target in sorted(set(expected) - set(mounts)):
                yield self.fail(
                    f"{res.name} has no mount at {target}: what it keeps there lives in the container's writable "
                    "layer and is lost when the container is re-created",
                    resource=f"{res.name}:{target}", observed="no mount", expected=f"bind mount or volume at {target}",
                    remediation=f"re-create the container with -v /ABSOLUTE/HOST/DIR:{target}")
            if not mounts and not expected:
                yield self.passed(f"{res.name} has no bind mounts or volumes", resource=res.name,
                                  observed="none", expected="none required")
            for _dest, m in sorted(mounts.items()):
                yield self._source(t, acc, res.name, m)
        for vol in host_volumes(ctx):
            yield self._host_path(t, acc, vol["path"])

    def _source(self, t, acc, name: str, m: MountInfo) -> Finding:
        resource = f"{name}:{m.destination}"
        what = f"{m.kind} {m.name + ' ' if m.name else ''}{m.source} -> {m.destination}"
        st = t.stat(m.source)
        if st is None:
            hint = ("with -v dockerd re-creates it as an empty directory owned by root on the next start; "
                    "with --mount the container does not start" if m.kind == "bind" else
                    "the volume's data directory is gone: docker volume inspect / re-create the volume")
            return self.fail(f"{what}: the source does not exist; {hint}", resource=resource, observed="absent",
                             expected="existing source")
        observed = f"{st.kind} {mode_text(st, acc)}"
        if m.kind == "bind" and st.kind == "dir" and st.uid == 0 and st.gid == 0 and not (t.listdir(m.source) or []):
            return self.warn(f"{what}: an empty directory owned by root ({observed}); this is what dockerd creates "
                             "when a -v source did not exist: check the host path (relative paths such as ./config "
                             "depend on the directory docker run was started from)", resource=resource,
                             observed=observed, expected="the prepared source directory")
        if st.perms & 0o002 and st.kind in ("dir", "file"):
            sticky = " (sticky)" if st.perms & 0o1000 else ""
            return self.warn(f"{what}: world-writable{sticky} ({observed}): any local user can change what the "
                             "container reads", resource=resource, observed=observed, expected="not world-writable",
                             remediation=f"chmod o-w {m.source} and give access through owner/group instead")
        return self.passed(f"{what}: {observed}", resource=resource, observed=observed, expected="existing source")

    def _host_path(self, t, acc, path: str) -> Finding:
        st = t.stat(path)
        if st is None:
            return self.fail(f"{path} (profile.volumes) does not exist", resource=path, observed="absent",
                             expected="existing path", remediation=f"create {path} with the owner that uses it")
        observed = f"{st.kind} {mode_text(st, acc)}"
        if st.perms & 0o002 and st.kind in ("dir", "file"):
            return self.warn(f"{path}: world-writable ({observed})", resource=path, observed=observed,
                             expected="not world-writable", remediation=f"chmod o-w {path}")
        return self.passed(f"{path}: {observed}", resource=path, observed=observed, expected="existing path")


class VolumeAccess(Check):
    meta = CheckMeta(
        id="container.volumes.access",
        title="The container's user can read (and where needed write) its mounts",
        severity=Severity.HIGH,
        scope=SCOPES,
        remediation="give the container's effective user (host uid/gid, shifted by userns-remap) ownership or "
                    "group access to the source",
        docs=docs_link("container.volumes.access"),
        description="Effective user from Config.User resolved through the container's /etc/passwd (default "
                    "root), shifted by userns-remap (/etc/subuid, /etc/subgid); access computed from mode bits and "
                    "POSIX ACLs; root keeps CAP_DAC_OVERRIDE unless dropped, and a remapped root has it only on "
                    "files it maps. With userns-remap every host parent directory must be searchable too.",
        requires=REQUIRES,
        fix="fix.container.volume_access",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        t = ctx.target
        acc = ctx.fact(accounts)
        for res in resolve_containers(ctx):
            if res.inspect is None:
                yield res.skip_absent(self)
                continue
            try:
                user = container_user(ctx, res.name, res.inspect)
            except UnresolvableUser as exc:
                yield self.fail(f"{res.name}: {exc}", resource=f"{res.name}:user", observed=str(exc),
                                expected="a user the image defines",
                                remediation="use a numeric uid:gid in --user, or add the user to the image")
                continue
            wanted_user = res.spec.get("user")
            if wanted_user and wanted_user not in (user.spec, user.name, str(user.uid), f"{user.uid}:{user.gid}"):
                yield self.warn(f"{res.name} runs as {user.describe()}, the profile expects {wanted_user}",
                                resource=f"{res.name}:user", observed=user.spec or "root (default)",
                                expected=wanted_user, remediation=f"docker run --user {wanted_user} ...")
            expected = _expectations(res.spec)
            mounts = [m for m in mounts_of(res.inspect) if m.kind in ("bind", "volume")]
            if not mounts:
                yield self.passed(f"{res.name} has no bind mounts or volumes", resource=res.name,
                                  observed="none", expected="none required")
            for m in mounts:
                yield self._mount(t, acc, res.name, m, user, expected.get(m.destination))
        for vol in host_volumes(ctx):
            yield self._host_path(ctx, t, acc, vol)

    def _repairing(self, message: str, repair, kw: dict) -> Finding:
        """A fail whose remediation is the exact command, and whose expected state carries it for the fix."""
        kw = dict(kw, expected={**kw["expected"], "fix": repair.to_dict()})
        return self.fail(message, remediation=repair.command(), **kw)

    def _mount(self, t, acc, name, m: MountInfo, user, exp: dict | None) -> Finding:
        resource = f"{name}:{m.destination}"
        who = user.host_account
        need_write = bool(exp and exp["write"])
        want_mode = exp["mode"] if exp else None
        access = evaluate(t, m.source, who, user.privileged_on, check_parents=user.remap is not None)
        as_user = f"as {user.describe()}"
        if access.st is None:
            return self.skip(f"{m.source} does not exist (see container.volumes.source)", resource=resource)
        node = mode_text(access.st, acc)
        mounted = "rw" if m.rw else "ro"
        observed = {"source": m.source, "node": node, "mount": mounted, "read": access.read, "write": access.write,
                    "user": user.describe()}
        expected = {"mount": want_mode or "any", "read": True, "write": need_write}
        kw = dict(resource=resource, observed=observed, expected=expected)
        if access.parents is not None and not access.parents.ok:
            blocked = access.parents.blocked_at or access.parents.missing_at
            message = (f"{m.source} -> {m.destination}: with userns-remap the mount is made as host uid {who.uid}, "
                       f"which cannot search {blocked}"
                       + (f" ({mode_text(access.parents.stat, acc)})" if access.parents.stat else " (missing)")
                       + ": the container fails to start with 'permission denied'")
            if access.parents.stat is None:
                return self.fail(message, remediation=f"create {blocked}", **kw)
            return self._repairing(message, search_repair(blocked, access.parents.stat), kw)
        if need_write and not m.rw:
            return self.fail(f"{m.source} -> {m.destination} is mounted read-only but the container must write "
                             "there", remediation=f"re-create the container with -v {m.source}:{m.destination}:rw "
                             "(drop :ro)", **kw)
        grant = {"path": m.source, "uid": who.uid, "perms": "rwX" if need_write else "rX"}
        if not access.read:
            return self._repairing(f"{m.source} ({node}) is not readable {as_user}",
                                   repair_for(m.source, access.st, who, need_write),
                                   dict(kw, expected={**expected, "acl": grant}))
        if need_write and not access.write:
            return self._repairing(f"{m.source} ({node}) must be writable but is not {as_user}",
                                   repair_for(m.source, access.st, who, True),
                                   dict(kw, expected={**expected, "acl": grant}))
        if want_mode == "rw" and not m.rw:
            return self.warn(f"{m.source} -> {m.destination} is mounted read-only, the profile expects rw",
                             remediation=f"re-create the container with -v {m.source}:{m.destination}", **kw)
        if want_mode == "ro" and m.rw:
            return self.warn(f"{m.source} -> {m.destination} is mounted read-write, the profile expects ro "
                             "(least privilege)", remediation=f"add :ro: -v {m.source}:{m.destination}:ro", **kw)
        if access.st.kind == "dir":
            # read access to everything inside; writing is checked where files are created (the source)
            tree = walk_access(t, m.source, who, user.privileged_on, write=False)
            observed.update(walked=tree.walked, not_walked=tree.not_walked)
            if tree.denied:
                perms = "rwX" if need_write else "rX"
                grant = {"path": m.source, "uid": who.uid, "perms": perms}
                first = ", ".join(tree.denied[:3]) + (", ..." if tree.denied_count > 3 else "")
                kw = dict(kw, expected={**expected, "acl": grant})
                return self.fail(f"{m.source} is {'writable' if need_write else 'readable'} {as_user} but "
                                 f"{tree.denied_count} path(s) inside are not: {first}"
                                 + (f" ({tree.not_walked})" if tree.not_walked else ""),
                                 remediation=f"setfacl -R -m u:{who.uid}:{perms} {m.source} && "
                                             f"setfacl -R -d -m u:{who.uid}:{perms} {m.source}", **kw)
        rights = "read-write" if access.write and m.rw else "readable"
        walked = ""
        if access.st.kind == "dir":
            walked = f"; {observed['walked']} entries inside checked" + (
                f", {observed['not_walked']}" if observed["not_walked"] else "")
        return self.passed(f"{m.source} ({node}, mounted {mounted}) is {rights} {as_user}{walked}", **kw)

    def _host_path(self, ctx: Context, t, acc, vol: dict) -> Finding:
        path = vol["path"]
        who = host_account(ctx, vol["user"])
        if who is None:
            return self.fail(f"{path}: profile.volumes user {vol['user']!r} does not exist in /etc/passwd",
                             resource=path, observed=vol["user"], expected="an existing user",
                             remediation="fix profile.volumes or create the user")
        access = evaluate(t, path, who, lambda _st: who.uid == 0, check_parents=True)
        if access.st is None:
            return self.skip(f"{path} does not exist (see container.volumes.source)", resource=path)
        node = mode_text(access.st, acc)
        observed = {"node": node, "read": access.read, "write": access.write, "user": f"{who.name} ({who.uid})"}
        kw = dict(resource=path, observed=observed, expected={"read": True, "write": vol["write"]})
        if access.parents and not access.parents.ok:
            blocked = access.parents.blocked_at
            st = access.parents.stat
            return self._repairing(f"{who.name} cannot search {blocked} ({mode_text(st, acc)}) on the way to {path}",
                                   search_repair(blocked, st), kw)
        if not access.read or (vol["write"] and not access.write):
            need = "writable" if vol["write"] else "readable"
            return self._repairing(f"{path} ({node}) is not {need} for {who.name} (uid {who.uid})",
                                   repair_for(path, access.st, who, vol["write"]), kw)
        return self.passed(f"{path} ({node}) is {'writable' if vol['write'] else 'readable'} for {who.name}", **kw)


CHECKS = (VolumeSources, VolumeAccess)
