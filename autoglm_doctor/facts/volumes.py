"""Container mounts, the container's effective user (image /etc/passwd, userns-remap) and the access
that user gets to a mount source on the host, computed rather than tried.

Host parent directories: for a plain daemon dockerd/runc mount the source as real root, so the
container never needs to search the host parents; with userns-remap the mount is made as the
remapped root, which must be able to search every parent (moby#28859). Host processes (the
profile's extra ``volumes``) always need the whole path.
"""

from __future__ import annotations

import stat as stat_mod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from autoglm_doctor.facts.access import (
    ACL_XATTR,
    Account,
    AclEntry,
    Accounts,
    R,
    Traversal,
    W,
    X,
    accounts,
    parse_acl,
    parse_group,
    parse_passwd,
    permitted,
    traverse,
)
from autoglm_doctor.facts.docker import Remap, docker, userns_remap
from autoglm_doctor.targets.base import StatResult, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target


class UnresolvableUser(Exception):
    """Config.User names an account the container's /etc/passwd does not have."""


@dataclass(frozen=True)
class MountInfo:
    kind: str  # bind | volume | tmpfs | npipe
    source: str
    destination: str
    rw: bool
    mode: str  # Docker's mode string: "", "z", "Z", "ro", "Z,ro"...
    name: str = ""  # named volume

    @property
    def relabel(self) -> str | None:
        flags = set(self.mode.split(","))
        return "Z" if "Z" in flags else "z" if "z" in flags else None


def mounts_of(inspect: dict[str, Any]) -> list[MountInfo]:
    out = []
    for m in inspect.get("Mounts") or []:
        out.append(MountInfo(
            kind=str(m.get("Type") or "bind"),
            source=str(m.get("Source") or ""),
            destination=str(m.get("Destination") or "").rstrip("/") or "/",
            rw=bool(m.get("RW", True)),
            mode=str(m.get("Mode") or ""),
            name=str(m.get("Name") or ""),
        ))
    return sorted(out, key=lambda m: m.destination)


@dataclass(frozen=True)
class ContainerUser:
    spec: str  # Config.User as written; "" means root
    name: str
    uid: int
    gid: int
    groups: frozenset[int]  # container gids (primary + supplementary)
    dac_override: bool  # root with CAP_DAC_OVERRIDE (not dropped)
    remap: Remap | None = None

    def _hid(self, cid: int, kind: str) -> int:
        if self.remap is None:
            return cid
        mapped = self.remap.host_uid(cid) if kind == "u" else self.remap.host_gid(cid)
        return 65534 if mapped is None else mapped  # unmapped ids act as the overflow id

    @property
    def host_uid(self) -> int:
        return self._hid(self.uid, "u")

    @property
    def host_gid(self) -> int:
        return self._hid(self.gid, "g")

    @property
    def host_account(self) -> Account:
        return Account(self.name, self.host_uid, self.host_gid,
                       frozenset(self._hid(g, "g") for g in self.groups))

    def privileged_on(self, st: StatResult) -> bool:
        """CAP_DAC_OVERRIDE applies to a file only when its owner and group are mapped in the
        container's user namespace (user_namespaces(7))."""
        if not self.dac_override:
            return False
        return self.remap is None or (self.remap.maps_uid(st.uid) and self.remap.maps_gid(st.gid))

    def describe(self) -> str:
        text = f"{self.name} (uid {self.uid}, gid {self.gid})"
        if self.remap:
            text += f" = host {self.host_uid}:{self.host_gid} via userns-remap {self.remap.user}"
        if self.uid == 0 and not self.dac_override:
            text += " without CAP_DAC_OVERRIDE"
        return text


def _file(ctx: Context, name: str, path: str) -> str | None:
    data = docker(ctx).container_file(name, path)
    return None if not data else data.get("content")


def container_user(ctx: Context, name: str, inspect: dict[str, Any]) -> ContainerUser:
    """The user the container's processes run as, resolved like Docker does (numeric uid without a
    passwd entry gets gid 0; a name must exist in the container's /etc/passwd)."""
    spec = str((inspect.get("Config") or {}).get("User") or "")
    host = inspect.get("HostConfig") or {}
    user_part, _, group_part = spec.partition(":")
    passwd = group_text = None
    if (user_part and user_part != "root") or group_part or host.get("GroupAdd"):
        passwd = _file(ctx, name, "/etc/passwd")
        group_text = _file(ctx, name, "/etc/group")
    users = parse_passwd(passwd or "")
    groups = parse_group(group_text or "")
    if not user_part or user_part == "root":
        uname, uid, gid = "root", 0, 0
    elif user_part.isdigit():
        uid = int(user_part)
        uname = next((n for n, (u, _g) in users.items() if u == uid), f"uid {uid}")
        gid = users[uname][1] if uname in users else 0
    elif user_part in users:
        uname, (uid, gid) = user_part, users[user_part]
    else:
        where = "the container has no /etc/passwd" if passwd is None else "not in the container's /etc/passwd"
        raise UnresolvableUser(f"user {user_part!r} ({where}): Docker cannot start it "
                               "('unable to find user')")
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        elif group_part in groups:
            gid = groups[group_part][0]
        else:
            raise UnresolvableUser(f"group {group_part!r} is not in the container's /etc/group")
    supplementary = {g for g, members in groups.values() if uname in members}
    for extra in host.get("GroupAdd") or []:
        extra = str(extra)
        if extra.isdigit():
            supplementary.add(int(extra))
        elif extra in groups:
            supplementary.add(groups[extra][0])
    drops = {str(c).upper().removeprefix("CAP_") for c in host.get("CapDrop") or []}
    dac = uid == 0 and (bool(host.get("Privileged")) or not ({"ALL", "DAC_OVERRIDE"} & drops))
    remap = None
    if str(host.get("UsernsMode") or "") != "host":
        remap = ctx.fact(userns_remap)
    return ContainerUser(spec, uname, uid, gid, frozenset({gid} | supplementary), dac, remap)


@dataclass(frozen=True)
class Access:
    st: StatResult | None
    read: bool
    write: bool
    parents: Traversal | None = None  # None: parents not relevant (plain daemon mounts as root)


def _acl(target: Target, path: str) -> list[AclEntry] | None:
    blob = target.getxattr(path, ACL_XATTR)
    if not blob:
        return None
    try:
        return parse_acl(blob)
    except ValueError as exc:
        raise TargetError(f"{path}: {exc}") from exc


Privileged = Callable[[StatResult], bool]  # does DAC override apply to this file?


def evaluate(target: Target, path: str, who: Account, privileged: Privileged, *, check_parents: bool) -> Access:
    """``privileged(st) -> bool`` says whether DAC override applies to a given file."""
    st = target.stat(path)
    if st is None:
        return Access(None, False, False)
    acl = _acl(target, path)
    is_dir = st.kind == "dir"
    read = permitted(st, who, R | (X if is_dir else 0), acl, privileged=privileged(st))
    write = permitted(st, who, W | (X if is_dir else 0), acl, privileged=privileged(st))
    parents = None
    if check_parents:
        parents = traverse(target, path, who, privileged=None if who.uid == 0 and privileged(st) else False)
    return Access(st, read, write, parents)


def mode_text(st: StatResult, acc: Accounts | None = None) -> str:
    owner = f"{st.uid}:{st.gid}" if acc is None else f"{acc.user_name(st.uid)}:{acc.group_name(st.gid)}"
    return f"{stat_mod.filemode(st.mode)} {owner}"


@dataclass(frozen=True)
class Repair:
    path: str
    owner: int | None
    group: int | None
    mode: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "owner": self.owner, "group": self.group, "mode": f"{self.mode:04o}"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Repair":
        return cls(str(data["path"]), data.get("owner"), data.get("group"), int(str(data["mode"]), 8))

    def command(self) -> str:
        parts = []
        if self.owner is not None or self.group is not None:
            who = f"{'' if self.owner is None else self.owner}{'' if self.group is None else f':{self.group}'}"
            parts.append(f"chown {who} {self.path}")
        parts.append(f"chmod {self.mode:04o} {self.path}")
        return " && ".join(parts)


def repair_for(path: str, st: StatResult, who: Account, write: bool) -> Repair:
    """The smallest ownership/mode change that gives ``who`` read (or write) access: write makes
    the user the owner with u+rw(x); read gives the user's group g+r(x) unless it already owns it."""
    is_dir = st.kind == "dir"
    if write:
        if st.uid == who.uid:
            return Repair(path, None, None, st.perms | (0o700 if is_dir else 0o600))
        return Repair(path, who.uid, who.gid, st.perms | (0o700 if is_dir else 0o600))
    if st.uid == who.uid:
        return Repair(path, None, None, st.perms | (0o500 if is_dir else 0o400))
    return Repair(path, None, who.gid, st.perms | (0o050 if is_dir else 0o040))


def search_repair(path: str, st: StatResult) -> Repair:
    return Repair(path, None, None, st.perms | 0o001)


def host_account(ctx: Context, user: str) -> Account | None:
    acc = ctx.fact(accounts)
    if user.isdigit():
        uid = int(user)
        name = acc.user_name(uid)
        if name in acc.users:
            return acc.account(name)
        return Account(user, uid, uid, frozenset({uid}))
    return acc.account(user)


# A bind mount is only as readable as the least readable file the container opens inside it: the
# walk below checks every entry, bounded so a huge tree cannot stall a run, and says what it left out.
WALK_MAX_ENTRIES = 5000
WALK_MAX_DEPTH = 12
DENIED_KEPT = 24  # denied paths remembered (all are counted); they are also what the container is asked about
SAMPLE_FILES, SAMPLE_DIRS, SAMPLE_LINKS = 12, 4, 8  # readable entries (and symlinks) tried inside the container


@dataclass(frozen=True)
class TreeAccess:
    denied: tuple[str, ...]  # paths inside the source the user cannot use (first ones)
    denied_count: int
    walked: int
    not_walked: str  # "" when the whole tree was walked, else what was left out and why
    sample: tuple[str, ...] = ()  # some entries computed as usable (first files, then directories)
    links: tuple[str, ...] = ()  # symlinks met: not judged here, they resolve inside the container


def walk_access(target: Target, top: str, who: Account, privileged: Privileged, *, write: bool, max_entries: int = WALK_MAX_ENTRIES,
                max_depth: int = WALK_MAX_DEPTH) -> TreeAccess:
    """Every entry below ``top`` (symlinks are not followed: the kernel checks their targets where they
    point, outside this walk) read (and, with ``write``, written) as ``who``."""
    import posixpath

    denied: list[str] = []
    files: list[str] = []
    dirs: list[str] = []
    links: list[str] = []
    count = walked = 0
    skipped_depth = 0
    stack = [(top, 0)]

    def result(note: str) -> TreeAccess:
        return TreeAccess(tuple(denied), count, walked, note, tuple(files + dirs), tuple(links))

    while stack:
        path, depth = stack.pop()
        names = target.listdir(path) or []
        for name in sorted(names, reverse=True):
            child = posixpath.join(path, name)
            st = target.stat(child, follow=False)
            if st is None:
                continue
            if st.kind == "link":
                if len(links) < SAMPLE_LINKS:
                    links.append(child)
                continue
            if walked >= max_entries:
                return result(f"stopped after {max_entries} entries (more under {path})")
            walked += 1
            acl = _acl(target, child)
            is_dir = st.kind == "dir"
            bits = (R | (X if is_dir else 0)) | (W if write else 0)
            if not permitted(st, who, bits, acl, privileged=privileged(st)):
                count += 1
                if len(denied) < DENIED_KEPT:
                    denied.append(child)
                continue  # below an unreadable directory the container sees nothing anyway
            if is_dir:
                if len(dirs) < SAMPLE_DIRS:
                    dirs.append(child)
                if depth + 1 >= max_depth:
                    skipped_depth += 1
                else:
                    stack.append((child, depth + 1))
            elif st.kind == "file" and len(files) < SAMPLE_FILES:
                files.append(child)
    return result(f"{skipped_depth} directories deeper than {max_depth} levels not walked" if skipped_depth else "")
