"""The contract every typed Change keeps, and the file before-state most of them journal.

A Change is data a Fix returns. Only the remediation engine calls the methods below, in this order:
``capture`` (read the before-state through the Target, journalled before anything is touched),
``satisfied`` (already as planned: the step is skipped, which makes a second apply a no-op),
``apply`` (through a Mutator, never the Target), ``verify`` (read back: did it take) and, on any
failure, ``revert`` with the captured before-state. Before-states are plain JSON (bytes in base64) so
the journal on disk can restore them after the process that captured them died.
"""

from __future__ import annotations

import base64
import dataclasses
import posixpath
import stat as stat_mod
from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

from autoglm_doctor.targets.base import Mutator, Target, TargetError

# A before-state is journalled whole: a file larger than this is refused rather than half-saved.
MAX_JOURNALLED_FILE = 16 * 1024 * 1024
# Extended attributes a rollback must put back even when the target cannot list attribute names.
KNOWN_XATTRS = ("system.posix_acl_access", "system.posix_acl_default", "security.selinux")
RISKS = ("safe", "disruptive", "needs reboot", "may cut remote access")


class ChangeFailed(TargetError):
    """A step could not be applied or did not take (verify failed)."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def list_xattrs(target: Target, path: str) -> list[str]:
    lister = getattr(target, "listxattr", None)
    if callable(lister):
        names = lister(path)
        return sorted(names or [])
    return [n for n in KNOWN_XATTRS if target.getxattr(path, n) is not None]


def capture_file(target: Target, path: str, *, content: bool = True) -> dict[str, Any]:
    """Everything a rollback needs to put ``path`` back byte for byte: content, mode, owner and every
    extended attribute (POSIX ACLs and the SELinux label are xattrs), or the fact it did not exist
    and which of its parent directories did not either."""
    st = target.stat(path, follow=False)
    if st is None:
        missing = []
        parent = posixpath.dirname(path)
        while parent not in ("/", "") and target.stat(parent, follow=False) is None:
            missing.append(parent)
            parent = posixpath.dirname(parent)
        return {"exists": False, "missing_dirs": missing}
    state: dict[str, Any] = {"exists": True, "type": st.kind, "mode": stat_mod.S_IMODE(st.mode),
                             "uid": st.uid, "gid": st.gid}
    if st.kind == "link":
        state["link"] = target.readlink(path)
        return state
    state["xattrs"] = {n: b64(v) for n in list_xattrs(target, path)
                       if (v := target.getxattr(path, n)) is not None}
    if content and st.kind == "file":
        data = target.read_bytes(path, limit=MAX_JOURNALLED_FILE)
        state["content"] = b64(data or b"")
    return state


def restore_meta(mut: Mutator, path: str, before: dict[str, Any], current_xattrs: list[str]) -> None:
    """Owner, xattrs (exactly the captured set) and mode of an existing path, in the order that
    keeps an ACL's mask and the mode's group bits consistent."""
    mut.chown(path, before["uid"], before["gid"])
    saved = before.get("xattrs", {})
    for name in current_xattrs:
        if name not in saved:
            mut.removexattr(path, name)
    for name, value in saved.items():
        mut.setxattr(path, name, unb64(value))
    mut.chmod(path, before["mode"])


def restore_file(mut: Mutator, target: Target, path: str, before: dict[str, Any]) -> None:
    if not before["exists"]:
        mut.remove(path)
        for d in before.get("missing_dirs", []):
            if target.listdir(d) == []:
                mut.remove(d)
        return
    if before["type"] == "file" and "content" in before:
        mut.write_bytes(path, unb64(before["content"]), mode=before["mode"], uid=before["uid"], gid=before["gid"])
    restore_meta(mut, path, before, list_xattrs(target, path))


class Change(ABC):
    """One typed step of a Plan (see the module docstring for the engine's calling order)."""

    kind: ClassVar[str]
    # what applying it may do to the machine: one of RISKS
    risk: ClassVar[str] = "safe"

    @abstractmethod
    def describe(self) -> str: ...

    def preview(self, target: Target) -> str:
        """What would change, as text (a unified diff for files, old -> new for values)."""
        return self.describe()

    @property
    def paths(self) -> tuple[str, ...]:
        return ()

    @property
    def reboot(self) -> bool:
        """True when the change only takes effect at the next boot (kernel command line, initramfs)."""
        return bool(getattr(self, "takes_effect_at_boot", False))

    # -- the engine side ------------------------------------------------------------------------
    def capture(self, target: Target) -> dict[str, Any]:
        return {}

    def satisfied(self, target: Target, before: dict[str, Any]) -> bool:
        return False

    @abstractmethod
    def apply(self, mut: Mutator, target: Target, before: dict[str, Any]) -> dict[str, Any] | None:
        """Make the change; may return extra facts the journal keeps (paths touched, recorded argv)."""

    def verify(self, target: Target, before: dict[str, Any]) -> bool:
        return True

    @abstractmethod
    def revert(self, mut: Mutator, target: Target, before: dict[str, Any]) -> None: ...

    # -- journal / JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


REGISTRY: dict[str, type[Change]] = {}
C = TypeVar("C", bound=type[Change])


def register(cls: C) -> C:
    REGISTRY[cls.kind] = cls
    return cls


def change_from_dict(data: dict[str, Any]) -> Change:
    """Rebuild a journalled Change (a rollback after the process that applied it died)."""
    cls = REGISTRY.get(data.get("kind", ""))
    if cls is None:
        raise ValueError(f"unknown change kind {data.get('kind')!r} in the journal")
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # every registered Change is a dataclass
        if f.name in data:
            value = data[f.name]
            if isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            kwargs[f.name] = value
    return cls(**kwargs)
