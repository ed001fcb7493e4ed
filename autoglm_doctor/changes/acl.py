"""POSIX ACLs as the kernel stores them: the ``system.posix_acl_access`` / ``system.posix_acl_default``
extended attributes (linux/posix_acl_xattr.h), so ACL changes go through the same xattr calls as
every other change, journal byte for byte and need no setfacl binary on the target.

Layout: a little-endian u32 version (2), then 8-byte entries ``u16 tag, u16 perm, u32 id`` sorted by
tag then id. A file without the xattr has the minimal ACL its mode bits describe. With any named
entry the kernel requires a MASK entry, and the mode's group bits show the mask (what ``ls -l``
prints); setfacl recomputes the mask as the union of the group class, which is what we do too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED_ID = 0xFFFFFFFF
ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"
_ENTRY = struct.Struct("<HHI")


class BadAcl(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Entry:
    tag: int
    id: int
    perm: int


def decode(data: bytes) -> list[Entry]:
    if len(data) < 4 or (len(data) - 4) % _ENTRY.size:
        raise BadAcl(f"ACL xattr of {len(data)} bytes is not a whole number of entries")
    (version,) = struct.unpack_from("<I", data)
    if version != VERSION:
        raise BadAcl(f"ACL xattr version {version}, expected {VERSION}")
    out = []
    for off in range(4, len(data), _ENTRY.size):
        tag, perm, ident = _ENTRY.unpack_from(data, off)
        out.append(Entry(tag, ident, perm))
    return out


def encode(entries: list[Entry]) -> bytes:
    ordered = sorted(entries, key=lambda e: (e.tag, e.id))
    return struct.pack("<I", VERSION) + b"".join(_ENTRY.pack(e.tag, e.perm, e.id) for e in ordered)


def from_mode(mode: int) -> list[Entry]:
    return [Entry(USER_OBJ, UNDEFINED_ID, (mode >> 6) & 7), Entry(GROUP_OBJ, UNDEFINED_ID, (mode >> 3) & 7),
            Entry(OTHER, UNDEFINED_ID, mode & 7)]


def with_entry(entries: list[Entry], tag: int, ident: int, perm: int) -> list[Entry]:
    """``entries`` with (tag, ident) granted at least ``perm`` and the mask recomputed."""
    out = [e for e in entries if not (e.tag == tag and e.id == ident) and e.tag != MASK]
    old = next((e.perm for e in entries if e.tag == tag and e.id == ident), 0)
    out.append(Entry(tag, ident, old | perm))
    group_class = 0
    for e in out:
        if e.tag in (USER, GROUP_OBJ, GROUP):
            group_class |= e.perm
    out.append(Entry(MASK, UNDEFINED_ID, group_class))
    return sorted(out, key=lambda e: (e.tag, e.id))


def effective(entries: list[Entry], tag: int, ident: int) -> int:
    """The permission a named entry really grants (masked), 0 when absent."""
    mask = next((e.perm for e in entries if e.tag == MASK), 7)
    perm = next((e.perm for e in entries if e.tag == tag and e.id == ident), 0)
    return perm & mask


def parse_perms(text: str, *, is_dir: bool, mode: int) -> int:
    """setfacl's ``rwxX``: X is execute only for a directory or a file someone may already execute."""
    perm = 0
    for ch in text:
        if ch == "r":
            perm |= 4
        elif ch == "w":
            perm |= 2
        elif ch == "x":
            perm |= 1
        elif ch == "X":
            if is_dir or mode & 0o111:
                perm |= 1
        elif ch != "-":
            raise BadAcl(f"bad permission {ch!r} in {text!r}")
    return perm
