"""The whole observable state of a directory tree: content, type, mode, owner, every xattr (ACLs
included) and link text, per path. Two equal states are byte-identical trees."""

from __future__ import annotations

import hashlib
import os
import stat


def tree_state(root: str) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [""] + sorted(dirnames) + sorted(filenames):
            path = os.path.join(dirpath, name) if name else dirpath
            if name == "" and dirpath != root:
                continue
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            try:
                xattrs = tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False))
                                      for n in os.listxattr(path, follow_symlinks=False)))
            except OSError:
                xattrs = ()
            if stat.S_ISLNK(st.st_mode):
                body = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    body = hashlib.sha256(fh.read()).hexdigest()
            else:
                body = ""
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body, xattrs)
    return out
