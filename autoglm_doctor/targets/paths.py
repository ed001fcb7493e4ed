"""Symlink-aware path resolution shared by the recorder and the snapshot target.

The snapshot must resolve links itself, inside its own root: an absolute link in a snapshot
(``/etc/localtime -> /usr/share/zoneinfo/UTC``) points into the snapshot, never at the machine
reading it, and a hostile tarball cannot reach outside.
"""

from __future__ import annotations

import posixpath
from typing import Callable

MAX_LINK_HOPS = 40


class LinkLoop(OSError):
    pass


def resolve(
    path: str,
    readlink: Callable[[str], str | None],
    *,
    follow_last: bool = True,
) -> tuple[str, list[tuple[str, str]]]:
    """Resolve ``path`` like the kernel does. ``readlink(p)`` returns the link text when ``p`` is a
    symlink, else None. Returns the physical path and every (link path, link text) crossed."""
    links: list[tuple[str, str]] = []
    resolved = "/"
    remaining = [p for p in path.split("/") if p]
    hops = 0
    while remaining:
        part = remaining.pop(0)
        if part == ".":
            continue
        if part == "..":
            resolved = posixpath.dirname(resolved) or "/"
            continue
        candidate = posixpath.join(resolved, part)
        if not remaining and not follow_last:
            resolved = candidate
            break
        text = readlink(candidate)
        if text is None:
            resolved = candidate
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise LinkLoop(f"{path}: too many levels of symbolic links")
        links.append((candidate, text))
        if text.startswith("/"):
            resolved = "/"
        remaining = [p for p in text.split("/") if p] + remaining
    return resolved, links
