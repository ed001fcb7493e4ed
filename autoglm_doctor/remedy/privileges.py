"""Before anything is captured or journalled: does this process have the privileges the plan needs?
The answer names each missing one (``root to run: update-grub``, ``write access to /etc/default``)
so an unprivileged run stops with exit 2 and a list, not half-way with EACCES. Root skips the
arithmetic (the kernel still has the last word: a read-only mount fails the step and rolls back)."""

from __future__ import annotations

import os
import posixpath
from typing import Sequence

from autoglm_doctor.targets.base import Target
from autoglm_doctor.changes import (Change, GrantAcl, IpAddress, IpLink, IpRoute, RedefineDomain, RunCommand, SetMode,
                                    SetOwner, SetValue, SetXattr)


def _nearest_existing(target: Target, path: str) -> str:
    while path not in ("/", "") and target.stat(path, follow=False) is None:
        path = posixpath.dirname(path)
    return path or "/"


def _writable(target: Target, path: str) -> bool:
    real = target.host_path(path)
    return real is not None and os.access(real, os.W_OK)


def missing(target: Target, changes: Sequence[Change], journal_root: str) -> list[str]:
    if os.geteuid() == 0 or target.kind not in ("local", "sysroot"):
        return []
    out: list[str] = []
    sysroot = target.kind == "sysroot"
    uid = os.geteuid()
    root = _nearest_existing(target, journal_root)
    if not _writable(target, root):
        out.append(f"write access to {root} (the journal directory {journal_root})")
    for c in changes:
        if isinstance(c, (RunCommand, IpAddress, IpRoute, IpLink)):
            if not sysroot:
                out.append(f"root to run: {c.describe()}")
        elif isinstance(c, RedefineDomain):
            continue  # libvirt decides (polkit, the libvirt group); a refusal fails the step
        elif isinstance(c, SetOwner):
            out.append(f"root (CAP_CHOWN) to chown {c.path}")
        elif isinstance(c, (SetMode, GrantAcl, SetXattr)):
            st = target.stat(c.path, follow=False)
            if st is not None and st.uid != uid:
                out.append(f"ownership of {c.path} (owned by uid {st.uid}) or root")
        elif isinstance(c, SetValue):
            if not _writable(target, c.path):
                out.append(f"write access to {c.path}")
        else:
            for p in c.paths:
                existing = _nearest_existing(target, p)
                parent = existing if existing != p else posixpath.dirname(p)
                if not _writable(target, parent):
                    out.append(f"write access to {parent} (for {p})")
    return list(dict.fromkeys(out))
