"""Volume permissions of the AutoGLM containers: sources exist and are sane, and the container's
effective user (image /etc/passwd, userns-remap) can read — and where needed write — them."""

from __future__ import annotations

from typing import Iterable, Iterator

from autoglm_doctor.check import Context, docs_link
from autoglm_doctor.facts.access import Accounts, accounts
from autoglm_doctor.facts.docker import Resolved, docker, host_volumes
from autoglm_doctor.facts.volume_probe import Answer, Item, ask
from autoglm_doctor.facts.volumes import (
    Access,
    ContainerUser,
    MountInfo,
    Repair,
    TreeAccess,
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
from autoglm_doctor.per_resource import PerContainer
from autoglm_doctor.targets.base import Target

SCOPES = (Scope.CONTAINER,)  # runs on a host or a guest: wherever the docker daemon is
REQUIRES = ("container.docker.daemon",)


def _expectations(spec: dict) -> dict[str, dict]:
    return {v["target"]: v for v in spec.get("volumes", [])}


class _ContainersAndHostVolumes(PerContainer):
    """Each expected container's mounts, then each host path of ``profile.volumes``; a skip when there is
    neither (never silence)."""

    none_expected = None  # profile.volumes may still name host paths to judge

    def run(self, ctx: Context) -> Iterable[Finding]:
        judged = False
        for finding in super().run(ctx):
            judged = True
            yield finding
        for vol in host_volumes(ctx):
            judged = True
            yield self.judge_host_volume(ctx, vol)
        if not judged:
            yield self.skip("no container is expected here and profile.volumes names no host path",
                            resource="volumes")

    def judge_host_volume(self, ctx: Context, vol: dict) -> Finding:
        raise NotImplementedError


class VolumeSources(_ContainersAndHostVolumes):
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

    def judge_host_volume(self, ctx: Context, vol: dict) -> Finding:
        return self._host_path(ctx.target, ctx.fact(accounts), vol["path"])

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        t = ctx.target
        acc = ctx.fact(accounts)
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

    def _source(self, t: Target, acc: Accounts, name: str, m: MountInfo) -> Finding:
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

    def _host_path(self, t: Target, acc: Accounts, path: str) -> Finding:
        st = t.stat(path)
        if st is None:
            return self.fail(f"{path} (profile.volumes) does not exist", resource=path, observed="absent",
                             expected="existing path", remediation=f"create {path} with the owner that uses it")
        observed = f"{st.kind} {mode_text(st, acc)}"
        if st.perms & 0o002 and st.kind in ("dir", "file"):
            return self.warn(f"{path}: world-writable ({observed})", resource=path, observed=observed,
                             expected="not world-writable", remediation=f"chmod o-w {path}")
        return self.passed(f"{path}: {observed}", resource=path, observed=observed, expected="existing path")


class VolumeAccess(_ContainersAndHostVolumes):
    meta = CheckMeta(
        id="container.volumes.access",
        title="The container's user can read (and where needed write) its mounts",
        severity=Severity.HIGH,
        scope=SCOPES,
        remediation="grant the container's effective host uid (shifted by userns-remap) a POSIX ACL on the whole "
                    "source: setfacl -R -m u:UID:rX SRC && setfacl -R -d -m u:UID:rX SRC",
        docs=docs_link("container.volumes.access"),
        description="Effective user from Config.User resolved through the container's /etc/passwd (default "
                    "root), shifted by userns-remap (/etc/subuid, /etc/subgid); access computed from mode bits and "
                    "POSIX ACLs for the mount's top and every entry below it (a walk bounded by count and depth "
                    "that says what it left out); root keeps CAP_DAC_OVERRIDE unless dropped, and a remapped root "
                    "has it only on files it maps. With userns-remap every host parent directory must be "
                    "searchable too. When the container runs, the same paths (the top, every path the walk denied, "
                    "a sample of the rest, the symlinks) are read from inside it with docker exec as its own user, "
                    "and that answer wins: a denial the computation missed FAILs with the container's error, a "
                    "read it said was impossible PASSes with a note. Writing is not tried inside (it would change "
                    "the mount): it stays computed. A stopped container, or an image without sh, leaves the "
                    "computed verdict, marked as not confirmed.",
        requires=REQUIRES,
        fix="fix.container.volume_access",
    )

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        acc = ctx.fact(accounts)
        try:
            user = container_user(ctx, res.name, res.inspect)
        except UnresolvableUser as exc:
            yield self.fail(f"{res.name}: {exc}", resource=f"{res.name}:user", observed=str(exc),
                            expected="a user the image defines",
                            remediation="use a numeric uid:gid in --user, or add the user to the image")
            return
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
            yield self._mount(ctx, acc, res, m, user, expected.get(m.destination))

    def judge_host_volume(self, ctx: Context, vol: dict) -> Finding:
        return self._host_path(ctx, ctx.target, ctx.fact(accounts), vol)

    def _repairing(self, message: str, repair: Repair, kw: dict) -> Finding:
        """A fail whose remediation is the exact command, and whose expected state carries it for the fix."""
        kw = dict(kw, expected={**kw["expected"], "fix": repair.to_dict()})
        return self.fail(message, remediation=repair.command(), **kw)

    def _mount(self, ctx: Context, acc: Accounts, res: Resolved, m: MountInfo, user: ContainerUser,
               exp: dict | None) -> Finding:
        t, name = ctx.target, res.name
        resource = f"{name}:{m.destination}"
        who = user.host_account
        need_write = bool(exp and exp["write"])
        want_mode = exp["mode"] if exp else None
        access = evaluate(t, m.source, who, user.privileged_on, check_parents=user.remap is not None)
        if access.st is None:
            return self.skip(f"{m.source} does not exist (see container.volumes.source)", resource=resource)
        node = mode_text(access.st, acc)
        mounted = "rw" if m.rw else "ro"
        observed = {"source": m.source, "node": node, "mount": mounted, "read": access.read, "write": access.write,
                    "user": user.describe()}
        expected = {"mount": want_mode or "any", "read": True, "write": need_write}
        kw = dict(resource=resource, observed=observed, expected=expected)
        if access.parents is not None and not access.parents.ok:
            # a start-time failure (the remapped root mounts the source): reads inside a running container
            # cannot show it, so this stays computed
            blocked = access.parents.blocked_at or access.parents.missing_at
            message = (f"{m.source} -> {m.destination}: with userns-remap the mount is made as host uid {who.uid}, "
                       f"which cannot search {blocked}"
                       + (f" ({mode_text(access.parents.stat, acc)})" if access.parents.stat else " (missing)")
                       + ": the container fails to start with 'permission denied'")
            if access.parents.stat is None or access.parents.blocked_at is None:
                return self.fail(message, remediation=f"create {blocked}", **kw)
            return self._repairing(message, search_repair(access.parents.blocked_at, access.parents.stat), kw)
        if need_write and not m.rw:
            return self.fail(f"{m.source} -> {m.destination} is mounted read-only but the container must write "
                             "there", remediation=f"re-create the container with -v {m.source}:{m.destination}:rw "
                             "(drop :ro)", **kw)
        # read access to everything inside; writing is checked where files are created (the source)
        tree = walk_access(t, m.source, who, user.privileged_on, write=False) if access.st.kind == "dir" else None
        if tree is not None:
            observed.update(walked=tree.walked, not_walked=tree.not_walked)
        computed = self._computed(m, access, node, user, need_write, want_mode, tree, kw)
        items = [Item(m.source, "r", access.read)]
        if tree is not None:
            items += [Item(p, "r", False) for p in tree.denied] + [Item(p, "r", True) for p in tree.sample]
            items += [Item(p, "r", None) for p in tree.links]
        assert res.inspect is not None  # judge() is only given containers that exist
        answer = ask(docker(ctx), name, res.inspect, user.spec, m, items)
        return self._judged(computed, answer, name, m, user, need_write, tree, kw)

    def _computed(self, m: MountInfo, access: Access, node: str, user: ContainerUser, need_write: bool,
                  want_mode: str | None, tree: TreeAccess | None, kw: dict) -> dict:
        """The verdict from mode bits, ACLs and the walk: {status, message, remediation?, expected}."""
        who, expected = user.host_account, kw["expected"]
        as_user = f"as {user.describe()}"
        perms = "rwX" if need_write else "rX"
        grant = {"path": m.source, "uid": who.uid, "perms": perms}
        if not access.read or (need_write and not access.write):
            # an ACL for exactly this uid, not a group widened to whoever else holds that gid on the host
            what = "readable" if not access.read else "writable"
            return dict(status="fail", message=f"{m.source} ({node}) is not {what} {as_user}",
                        remediation=_setfacl(who.uid, perms, m.source), expected={**expected, "acl": grant})
        if tree is not None and tree.denied:
            first = ", ".join(tree.denied[:3]) + (", ..." if tree.denied_count > 3 else "")
            return dict(status="fail", expected={**expected, "acl": grant},
                        message=f"{m.source} is {'writable' if need_write else 'readable'} {as_user} but "
                                f"{tree.denied_count} path(s) inside are not: {first}"
                                + (f" ({tree.not_walked})" if tree.not_walked else ""),
                        remediation=_setfacl(who.uid, perms, m.source))
        if want_mode == "rw" and not m.rw:
            return dict(status="warn", expected=expected,
                        message=f"{m.source} -> {m.destination} is mounted read-only, the profile expects rw",
                        remediation=f"re-create the container with -v {m.source}:{m.destination}")
        if want_mode == "ro" and m.rw:
            return dict(status="warn", expected=expected,
                        message=f"{m.source} -> {m.destination} is mounted read-write, the profile expects ro "
                                "(least privilege)", remediation=f"add :ro: -v {m.source}:{m.destination}:ro")
        rights = "read-write" if access.write and m.rw else "readable"
        walked = ""
        if tree is not None:
            walked = f"; {tree.walked} entries inside checked" + (f", {tree.not_walked}" if tree.not_walked else "")
        mounted = "rw" if m.rw else "ro"
        return dict(status="pass", expected=expected,
                    message=f"{m.source} ({node}, mounted {mounted}) is {rights} {as_user}{walked}")

    def _judged(self, computed: dict, answer: Answer, name: str, m: MountInfo, user: ContainerUser,
                need_write: bool, tree: TreeAccess | None,
                kw: dict) -> Finding:
        """The container's own answer wins over the computed one; without it the computed one stands."""
        observed = kw["observed"]
        make = {"pass": self.passed, "warn": self.warn, "fail": self.fail}
        base = dict(resource=kw["resource"], observed=observed)
        if not answer.confirmed:
            observed["inside"] = f"not confirmed: {answer.why_not}"
            return make[computed["status"]](
                f"{computed['message']} (computed, not confirmed inside the container: {answer.why_not})",
                expected=computed["expected"], remediation=computed.get("remediation"), **base)
        denied = answer.denied
        observed["inside"] = {"tried": len(answer.tried), "denied": [t.inside for t in denied]}
        if denied:
            shown = "; ".join(t.error if t.inside in t.error else f"{t.inside}: {t.error or 'denied'}"
                              for t in denied[:3]) + (f"; {len(denied) - 3} more" if len(denied) > 3 else "")
            if any(t.item.computed is not False for t in denied):
                message = (f"inside {name}, {user.describe()} cannot read {len(denied)} "
                           f"of {len(answer.tried)} path(s) tried: {shown} — the computed access said it could: the "
                           "container's answer wins (symlinks resolve inside the container, a host mount made after "
                           "it started is not seen by it, LSMs and capabilities are not modelled)")
            else:
                message = f"{computed['message']}; confirmed inside {name}: {shown}"
            if any(t.grantable for t in denied):
                who, perms = user.host_account, "rwX" if need_write else "rX"
                expected = {**computed["expected"], "acl": {"path": m.source, "uid": who.uid, "perms": perms}}
                remediation = computed.get("remediation") if computed["status"] == "fail" else \
                    _setfacl(who.uid, perms, m.source)
                return self.fail(message, expected=expected, remediation=remediation, **base)
            return self.fail(message, expected=kw["expected"], remediation=(
                "make what the container opens exist inside it: mount a symlink's target too (or copy the file in "
                "place of the link); re-create the container after mounting something new under the source"), **base)
        tried = len(answer.tried)
        # only reads are tried inside (a write test would change the mount): writing stays computed
        write_note = "; write access computed, not tried inside" if need_write else ""
        if computed["status"] != "fail":
            return make[computed["status"]](f"{computed['message']}; confirmed from inside {name} ({tried} path(s) "
                                            f"read){write_note}", expected=computed["expected"],
                                            remediation=computed.get("remediation"), **base)
        untried = (tree.denied_count - len(tree.denied)) if tree is not None else 0
        if need_write and not observed["write"]:
            return self.fail(f"{computed['message']}; inside {name} the {tried} path(s) tried can be read, writing "
                             "is computed (not tried inside: that would change the mount)",
                             expected=computed["expected"], remediation=computed.get("remediation"), **base)
        if untried > 0:
            return self.fail(f"{computed['message']}; inside {name} the {tried} path(s) tried can be read, "
                             f"{untried} more computed as denied were not tried", expected=computed["expected"],
                             remediation=computed.get("remediation"), **base)
        return self.passed(f"{m.source} -> {m.destination}: {user.describe()} reads it from inside {name} ({tried} "
                           f"path(s) tried, the computed denials included) although the computed access said: "
                           f"{computed['message']} — capabilities (CAP_DAC_READ_SEARCH), a user namespace or an ACL "
                           "or LSM rule the computation does not model; the container's answer wins",
                           expected=kw["expected"], **base)

    def _host_path(self, ctx: Context, t: Target, acc: Accounts, vol: dict) -> Finding:
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
            if blocked is None or st is None:  # a parent is missing, not closed
                return self.fail(f"{access.parents.missing_at} does not exist on the way to {path}",
                                 remediation=f"create {access.parents.missing_at}", **kw)
            return self._repairing(f"{who.name} cannot search {blocked} ({mode_text(st, acc)}) on the way to {path}",
                                   search_repair(blocked, st), kw)
        if not access.read or (vol["write"] and not access.write):
            need = "writable" if vol["write"] else "readable"
            return self._repairing(f"{path} ({node}) is not {need} for {who.name} (uid {who.uid})",
                                   repair_for(path, access.st, who, vol["write"]), kw)
        return self.passed(f"{path} ({node}) is {'writable' if vol['write'] else 'readable'} for {who.name}", **kw)


def _setfacl(uid: int, perms: str, path: str) -> str:
    return f"setfacl -R -m u:{uid}:{perms} {path} && setfacl -R -d -m u:{uid}:{perms} {path}"


CHECKS = (VolumeSources, VolumeAccess)
