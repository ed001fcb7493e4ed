"""Users, groups and permission arithmetic (mode bits and POSIX ACLs), computed rather than
tried, so the answer is right for a user other than the one running the doctor."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autoglm_doctor.targets.base import StatResult

if TYPE_CHECKING:
    from autoglm_doctor.check import Context
    from autoglm_doctor.targets.base import Target

R, W, X = 4, 2, 1
VM_USER_CANDIDATES = ("libvirt-qemu", "qemu", "root")
ACL_XATTR = "system.posix_acl_access"
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    groups: frozenset[int]  # primary and supplementary gids


@dataclass(frozen=True)
class Accounts:
    users: dict[str, tuple[int, int]]  # name -> (uid, primary gid)
    groups: dict[str, tuple[int, frozenset[str]]]  # name -> (gid, member names)

    def account(self, name: str) -> Account | None:
        if name not in self.users:
            return None
        uid, gid = self.users[name]
        gids = {gid} | {g for g, members in self.groups.values() if name in members}
        return Account(name, uid, gid, frozenset(gids))

    def group_name(self, gid: int) -> str:
        return next((n for n, (g, _m) in self.groups.items() if g == gid), str(gid))

    def user_name(self, uid: int) -> str:
        return next((n for n, (u, _g) in self.users.items() if u == uid), str(uid))


def parse_passwd(text: str) -> dict[str, tuple[int, int]]:
    out: dict[str, Any] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
            out.setdefault(parts[0], (int(parts[2]), int(parts[3])))
    return out


def parse_group(text: str) -> dict[str, tuple[int, frozenset[str]]]:
    out: dict[str, Any] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit():
            members = frozenset(m for m in parts[3].strip().split(",") if m)
            out.setdefault(parts[0], (int(parts[2]), members))
    return out


def accounts(ctx: Context) -> Accounts:
    passwd = ctx.target.read_text("/etc/passwd") or ""
    group = ctx.target.read_text("/etc/group") or ""
    return Accounts(parse_passwd(passwd), parse_group(group))


@dataclass(frozen=True)
class AclEntry:
    tag: int
    perm: int
    qualifier: int | None


def parse_acl(blob: bytes) -> list[AclEntry]:
    """Decode the kernel's system.posix_acl_access xattr (version 2, 8-byte entries)."""
    if len(blob) < 4 or (len(blob) - 4) % 8:
        raise ValueError(f"malformed POSIX ACL ({len(blob)} bytes)")
    (version,) = struct.unpack_from("<I", blob, 0)
    if version != 2:
        raise ValueError(f"unknown POSIX ACL version {version}")
    entries = []
    for off in range(4, len(blob), 8):
        tag, perm, qual = struct.unpack_from("<HHI", blob, off)
        entries.append(AclEntry(tag, perm, qual if tag in (_USER, _GROUP) else None))
    return entries


def permitted(st: StatResult, who: Account, want: int, acl: list[AclEntry] | None = None,
              *, privileged: bool | None = None) -> bool:
    """Would ``who`` be granted ``want`` (bits of R/W/X) on a file with ``st`` (and ``acl``)?
    Follows POSIX.1e access-check order. A privileged caller (default: uid 0) is granted read/write
    (and execute when any x bit is set), as the kernel does with CAP_DAC_OVERRIDE; pass
    ``privileged=False`` for a root without that capability (a container that dropped it, or a
    remapped root on files it does not map)."""
    mode = st.perms
    if privileged if privileged is not None else who.uid == 0:
        return not (want & X) or bool(mode & 0o111) or st.kind == "dir"
    if who.uid == st.uid:
        return ((mode >> 6) & want) == want
    if acl:
        mask = next((e.perm for e in acl if e.tag == _MASK), 7)
        named = next((e for e in acl if e.tag == _USER and e.qualifier == who.uid), None)
        if named:
            return (named.perm & mask & want) == want
        matched = [e for e in acl if (e.tag == _GROUP_OBJ and st.gid in who.groups)
                   or (e.tag == _GROUP and e.qualifier in who.groups)]
        if matched:
            return any((e.perm & mask & want) == want for e in matched)
        return (mode & want) == want
    if st.gid in who.groups:
        return ((mode >> 3) & want) == want
    return (mode & want) == want


def vm_user(ctx: Context) -> str:
    """The account that runs the VMs: the profile's, else the distribution's QEMU user, else root."""
    if ctx.profile.is_set("vm_user"):
        return str(ctx.profile.get("vm_user"))
    users = ctx.fact(accounts).users
    return next((u for u in VM_USER_CANDIDATES if u in users), "root")


@dataclass(frozen=True)
class Traversal:
    ok: bool
    blocked_at: str | None = None  # first directory ``who`` cannot search (x)
    stat: StatResult | None = None  # of that directory
    missing_at: str | None = None  # first path component that does not exist


def parent_dirs(path: str) -> list[str]:
    """``/srv/a/b`` -> ["/", "/srv", "/srv/a"]: the directories a lookup of ``path`` searches."""
    parts = [p for p in path.split("/") if p][:-1]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def traverse(target: Target, path: str, who: Account, *, privileged: bool | None = None) -> Traversal:
    """Can ``who`` search every parent directory of ``path`` (x on each, mode bits and ACLs)?"""
    for d in parent_dirs(path):
        st = target.stat(d)
        if st is None:
            return Traversal(False, missing_at=d)
        blob = target.getxattr(d, ACL_XATTR)
        acl = parse_acl(blob) if blob else None
        if not permitted(st, who, X, acl, privileged=privileged):
            return Traversal(False, blocked_at=d, stat=st)
    return Traversal(True)
