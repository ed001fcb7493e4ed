"""Ownership, mode, extended attribute and POSIX ACL changes, optionally recursive.

A recursive change walks the tree through the Target without following symlinks (chown -R on a
link into /etc is how a volume fix takes over the host), bounded by MAX_WALK entries, and journals
the exact list of paths it touched with each one's owner, mode and ACL xattrs, so the rollback puts
back every one of them, not just the top. chmod rewrites an ACL's mask and chown may clear setuid
bits: that is why every entry keeps all four.
"""

from __future__ import annotations

import posixpath
import stat as stat_mod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

from autoglm_doctor.targets.base import Mutator, Target
from autoglm_doctor.changes import acl
from autoglm_doctor.changes.base import Change, ChangeFailed, b64, register, unb64

MAX_WALK = 200_000


def walk(target: Target, top: str, recursive: bool) -> Iterator[tuple[str, Any]]:
    """(path, stat) for ``top`` and, when recursive, everything below it; symlinks are not followed
    and not changed (they have no mode of their own)."""
    st = target.stat(top, follow=False)
    if st is None:
        raise ChangeFailed(f"{top}: does not exist")
    count = 0
    stack = [(top, st)]
    while stack:
        path, st = stack.pop()
        if st.kind == "link":
            continue
        count += 1
        if count > MAX_WALK:
            raise ChangeFailed(f"{top}: more than {MAX_WALK} entries; change it by hand")
        yield path, st
        if recursive and st.kind == "dir":
            for name in reversed(target.listdir(path) or []):
                child = posixpath.join(path, name)
                cst = target.stat(child, follow=False)
                if cst is not None:
                    stack.append((child, cst))


def _entry(target: Target, path: str, st: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path, "mode": stat_mod.S_IMODE(st.mode), "uid": st.uid, "gid": st.gid,
                           "dir": st.kind == "dir"}
    for name in (acl.ACCESS, acl.DEFAULT):
        value = target.getxattr(path, name)
        out[name] = None if value is None else b64(value)
    return out


def _capture(target: Target, top: str, recursive: bool) -> dict[str, Any]:
    return {"entries": [_entry(target, p, st) for p, st in walk(target, top, recursive)]}


def _restore(mut: Mutator, target: Target, before: dict[str, Any]) -> None:
    for e in reversed(before["entries"]):
        path = e["path"]
        mut.chown(path, e["uid"], e["gid"])
        for name in (acl.ACCESS, acl.DEFAULT):
            if e.get(name) is None:
                if target.getxattr(path, name) is not None:
                    mut.removexattr(path, name)
            else:
                mut.setxattr(path, name, unb64(e[name]))
        mut.chmod(path, e["mode"])


def resolve_id(target: Target, name: str | None, db: str) -> int:
    """A user or group name (or number) to its id, from the target's own /etc/passwd or /etc/group."""
    if name is None or name == "":
        return -1
    if str(name).isdigit():
        return int(name)
    text = target.read_text(db) or ""
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[0] == name and parts[2].isdigit():
            return int(parts[2])
    raise ChangeFailed(f"no {'user' if db.endswith('passwd') else 'group'} {name!r} in {db}")


class _TreeChange(Change):
    path: str
    recursive: bool = False

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    def capture(self, target: Target) -> dict[str, Any]:
        return _capture(target, self.path, self.recursive)

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        _restore(mut, target, before)

    def touched(self, before: dict[str, Any]) -> list[str]:
        return [e["path"] for e in before["entries"]]


@register
@dataclass(frozen=True)
class SetMode(_TreeChange):
    path: str
    mode: int
    recursive: bool = False
    kind: ClassVar[str] = "set_mode"

    def describe(self) -> str:
        return f"chmod {'-R ' if self.recursive else ''}{self.mode:04o} {self.path}"

    def preview(self, target: Target) -> str:
        try:
            st = target.stat(self.path)
        except Exception:  # noqa: BLE001 - a preview must not fail a dry run
            st = None
        if st is None:
            return self.describe()
        old = f"{st.perms:04o}"
        return f"{self.describe()}\n{self.path}: mode {old} -> {self.mode:04o}"

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return all(e["mode"] == self.mode for e in before["entries"])

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        for e in before["entries"]:
            mut.chmod(e["path"], self.mode)
        return {"touched": self.touched(before)}

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return all((st := target.stat(p, follow=False)) is not None and st.perms == self.mode
                   for p in self.touched(before))


@register
@dataclass(frozen=True)
class SetOwner(_TreeChange):
    path: str
    user: str | None = None
    group: str | None = None
    recursive: bool = False
    kind: ClassVar[str] = "set_owner"

    def describe(self) -> str:
        return f"chown {'-R ' if self.recursive else ''}{self.user or ''}{':' + self.group if self.group else ''} {self.path}"

    def preview(self, target: Target) -> str:
        try:
            st = target.stat(self.path)
        except Exception:  # noqa: BLE001 - a preview must not fail a dry run
            st = None
        if st is None:
            return self.describe()
        return f"{self.describe()}\n{self.path}: owner {st.uid}:{st.gid} -> {self.user or st.uid}:{self.group or st.gid}"

    def ids(self, target: Target) -> tuple[int, int]:
        """Names are resolved when the step runs: an earlier step of the plan may create the group."""
        return resolve_id(target, self.user, "/etc/passwd"), resolve_id(target, self.group, "/etc/group")

    @staticmethod
    def _ok(ids: tuple[int, int], uid: int, gid: int) -> bool:
        return (ids[0] in (-1, uid)) and (ids[1] in (-1, gid))

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        try:
            ids = self.ids(target)
        except ChangeFailed:
            return False  # the user or group does not exist yet
        return all(self._ok(ids, e["uid"], e["gid"]) for e in before["entries"])

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        uid, gid = self.ids(target)
        for e in before["entries"]:
            mut.chown(e["path"], uid, gid)
        return {"touched": self.touched(before), "uid": uid, "gid": gid}

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        ids = self.ids(target)
        return all((st := target.stat(p, follow=False)) is not None and self._ok(ids, st.uid, st.gid)
                   for p in self.touched(before))


@register
@dataclass(frozen=True)
class GrantAcl(_TreeChange):
    """``setfacl [-R] -m u:UID:PERMS`` (or g:GID), plus the same entry in the default ACL of every
    directory (``-d``) so files created later inherit it. Grants at least PERMS, never takes away."""

    path: str
    uid: int | None = None
    gid: int | None = None
    perms: str = "rX"
    recursive: bool = True
    default: bool = True
    kind: ClassVar[str] = "grant_acl"

    def _who(self) -> tuple[int, int, str]:
        if (self.uid is None) == (self.gid is None):
            raise ChangeFailed("an ACL grant names exactly one of uid or gid")
        return (acl.USER, self.uid, f"u:{self.uid}") if self.uid is not None else (acl.GROUP, self.gid, f"g:{self.gid}")  # type: ignore[return-value]

    def describe(self) -> str:
        _t, _i, who = self._who()
        text = f"setfacl {'-R ' if self.recursive else ''}-m {who}:{self.perms} {self.path}"
        if self.default:
            text += f"; setfacl {'-R ' if self.recursive else ''}-d -m {who}:{self.perms} {self.path} (directories)"
        return text

    def _planned(self, e: dict[str, Any]) -> tuple[bytes, bytes | None]:
        tag, ident, _who = self._who()
        perm = acl.parse_perms(self.perms, is_dir=e["dir"], mode=e["mode"])
        current = acl.decode(unb64(e[acl.ACCESS])) if e.get(acl.ACCESS) else acl.from_mode(e["mode"])
        access = acl.encode(acl.with_entry(current, tag, ident, perm))
        default = None
        if self.default and e["dir"]:
            base = acl.decode(unb64(e[acl.DEFAULT])) if e.get(acl.DEFAULT) else \
                [x for x in current if x.tag in (acl.USER_OBJ, acl.GROUP_OBJ, acl.OTHER)]
            default = acl.encode(acl.with_entry(base, tag, ident, acl.parse_perms(self.perms, is_dir=True, mode=0)))
        return access, default

    def _has(self, e: dict[str, Any], access: bytes | None, default: bytes | None) -> bool:
        tag, ident, _who = self._who()
        want_access, want_default = self._planned(e)
        want = acl.effective(acl.decode(want_access), tag, ident)
        if access is None or acl.effective(acl.decode(access), tag, ident) & want != want:
            return False
        if want_default is not None:
            want_d = acl.effective(acl.decode(want_default), tag, ident)
            return default is not None and acl.effective(acl.decode(default), tag, ident) & want_d == want_d
        return True

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return all(self._has(e, unb64(e[acl.ACCESS]) if e.get(acl.ACCESS) else None,
                             unb64(e[acl.DEFAULT]) if e.get(acl.DEFAULT) else None) for e in before["entries"])

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        for e in before["entries"]:
            access, default = self._planned(e)
            mut.setxattr(e["path"], acl.ACCESS, access)
            if default is not None:
                mut.setxattr(e["path"], acl.DEFAULT, default)
        return {"touched": self.touched(before)}

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return all(self._has(e, target.getxattr(e["path"], acl.ACCESS), target.getxattr(e["path"], acl.DEFAULT))
                   for e in before["entries"])


@register
@dataclass(frozen=True)
class SetXattr(Change):
    """Set (``value`` given, base64 in the journal) or remove (``value`` None) one extended attribute."""

    path: str
    name: str
    value: bytes | None = None
    kind: ClassVar[str] = "set_xattr"

    def describe(self) -> str:
        if self.value is None:
            return f"remove xattr {self.name} from {self.path}"
        return f"set xattr {self.name}={self.value!r} on {self.path}"

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    def __post_init__(self) -> None:
        if isinstance(self.value, str):  # rebuilt from the journal, where bytes are base64
            object.__setattr__(self, "value", unb64(self.value))

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["value"] = None if self.value is None else b64(self.value)
        return out

    def capture(self, target: Target) -> dict[str, Any]:
        if target.stat(self.path, follow=False) is None:
            raise ChangeFailed(f"{self.path}: does not exist")
        old = target.getxattr(self.path, self.name)
        return {"value": None if old is None else b64(old)}

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return bool(before["value"] == (None if self.value is None else b64(self.value)))

    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        if self.value is None:
            mut.removexattr(self.path, self.name)
        else:
            mut.setxattr(self.path, self.name, self.value)
        return None

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return target.getxattr(self.path, self.name) == self.value

    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None:
        if before["value"] is None:
            mut.removexattr(self.path, self.name)
        else:
            mut.setxattr(self.path, self.name, unb64(before["value"]))
