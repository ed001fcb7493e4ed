"""Persisting a sysctl so the next boot keeps it: systemd-sysctl (and procps' ``sysctl --system``)
applies /etc/sysctl.d, /run/sysctl.d and /usr/lib/sysctl.d in file-name order, the last assignment
of a key winning, with /etc/sysctl.conf last (Debian and RHEL link it as 99-sysctl.conf). A drop-in
of our own only works when nothing later sets the same key: when a file in /etc already holds the
winning assignment, that line is edited in place instead (the value lives where the operator keeps
it); a later vendor file under /usr/lib or /run cannot be edited and is named in a note."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from autoglm_doctor.changes import Change, EnsureLine, WriteFile
from autoglm_doctor.facts.firewall import sysctl_config
from autoglm_doctor.targets.base import TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context


def key_pattern(key: str) -> str:
    """A line assigning ``key`` in either spelling (dots or slashes), with sysctl.d's '-' prefix."""
    dotted = re.escape(key)
    slashed = re.escape(key.replace(".", "/"))
    return rf"^\s*-?\s*(?:{dotted}|{slashed})\s*="


def _real_file(ctx: Context, path: str) -> str:
    try:
        link = ctx.target.readlink(path)
    except TargetError:
        link = None
    if not link:
        return path
    return posixpath.normpath(posixpath.join(posixpath.dirname(path), link))


def persist_sysctl(ctx: Context, key: str, value: str | int, dropin: str, why: str) -> tuple[list[Change], list[str]]:
    """(changes, notes) that make ``key = value`` the configured boot value."""
    value = str(value)
    try:
        current = ctx.fact(sysctl_config).get(key)
    except TargetError:
        current = None
    line = f"{key} = {value}"
    if current is not None and current.value == value:
        return [], [f"{key} = {value} is already configured ({current.file} line {current.line})"]
    if current is not None:
        where = _real_file(ctx, current.file)
        if where.startswith("/etc/"):
            return [EnsureLine(where, line, key_pattern(key))], [
                f"{current.file} line {current.line} sets {key} = {current.value} and is applied last: that line "
                f"is changed to {value}"]
        if posixpath.basename(current.file) > posixpath.basename(dropin):
            return [], [f"{current.file} (a vendor file applied after {dropin}) sets {key} = {current.value}: "
                        f"override it with a file of the same name in /etc/sysctl.d"]
    content = f"# Written by autoglm-doctor: {why}\n{line}\n"
    return [WriteFile(dropin, content)], []
