"""Access to a mount tried from inside the running container, as the container's own user.

The computed answer (facts/volumes: mode bits, POSIX ACLs, the effective uid/gid after userns-remap,
CAP_DAC_OVERRIDE) models the kernel's DAC check, but the container's processes see more than the host
walk does and hold more than the model knows: a mount made on the host after the container started is
not propagated into it (Docker mounts rprivate), so the container still sees what lies underneath; a
symlink resolves inside the container's own root; CAP_DAC_READ_SEARCH, LSMs and user namespaces the
model does not cover grant or deny. So when the container runs, the same paths are tried inside it
(``docker exec`` with the container's Config.User: the same uid, gids, GroupAdd and capabilities as its
main process) and that answer wins.

Reading is an open(2) of one byte of a regular file (``head -c 1``, the byte goes to /dev/null), a
directory is listed and entered (``ls -a``, ``cd``): nothing is created or changed. FIFOs, sockets and
devices are not opened (a FIFO would block). Write access is not tried: only creating a file proves it
(which a check must not do), and ``test -w`` is no witness (busybox's compares mode bits and ignores
ACLs: after ``setfacl -m u:1000:rwX`` a ``touch`` succeeds where ``test -w`` says no). The paths are
bounded (MAX_TRIED); the script runs under the image's ``sh`` (busybox has everything it uses); an
image without one cannot be asked, and the computed verdict then stands. The exec goes through the docker adapter, so a snapshot records the
container's answer and replays the same verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from autoglm_doctor.facts.volumes import MountInfo
from autoglm_doctor.targets.base import GarbageValue, NotCaptured, TargetError

MAX_TRIED = 48
# one line per path, "agd INDEX ok|other|no ERROR"; errors are flattened to one line (a hostile name
# with a newline cannot forge another path's answer)
SCRIPT = (
    'i=0; for a; do i=$((i+1)); p=${a#?:}; '
    'if [ -d "$p" ]; then e=$(ls -a "$p" 2>&1 >/dev/null) && e=$(cd "$p" 2>&1); '
    'elif [ -f "$p" ]; then e=$(head -c 1 "$p" 2>&1 >/dev/null); '
    'elif [ -e "$p" ]; then echo "agd $i other"; continue; '
    'else e=$(head -c 1 "$p" 2>&1 >/dev/null); fi; '
    'if [ $? -eq 0 ]; then echo "agd $i ok"; '
    'else printf "agd %d no %s\\n" $i "$(printf %s "$e" | tr "\\n\\r\\t" "   ")"; fi; done'
)
_LINE = re.compile(r"^agd (\d+) (ok|other|no)(?: (.*))?$")


@dataclass(frozen=True)
class Item:
    """One path to read: ``want`` "r" (the only test: see above); ``computed`` what the model said (None:
    not judged, e.g. a symlink the walk does not follow)."""

    host: str
    want: str
    computed: bool | None


@dataclass(frozen=True)
class Tried:
    item: Item
    inside: str
    ok: bool | None  # None: exists but is not a file or directory (not opened)
    error: str = ""

    @property
    def grantable(self) -> bool:
        """A denial an ACL for the container's uid can lift (not: a path missing inside the container)."""
        return self.ok is False and ("denied" in self.error.lower() or "not permitted" in self.error.lower())


@dataclass(frozen=True)
class Answer:
    confirmed: bool  # the container answered for the paths below
    tried: tuple[Tried, ...] = ()
    why_not: str = ""  # when not confirmed

    @property
    def denied(self) -> list[Tried]:
        return [t for t in self.tried if t.ok is False]


def inside_path(m: MountInfo, host: str) -> str:
    if host == m.source:
        return m.destination
    rest = host[len(m.source.rstrip("/")):]
    return (m.destination.rstrip("/") or "") + rest


def running(inspect: dict[str, Any]) -> str:
    """"" when ``docker exec`` can run in the container, else why not."""
    state = inspect.get("State") or {}
    if state.get("Paused"):
        return "the container is paused"
    if state.get("Restarting"):
        return "the container is restarting"
    if not state.get("Running"):
        return f"the container is not running ({state.get('Status') or 'stopped'})"
    return ""


def argv_for(m: MountInfo, items: list[Item]) -> list[str]:
    return ["sh", "-c", SCRIPT, "sh", *(f"{i.want}:{inside_path(m, i.host)}" for i in items)]


def parse(m: MountInfo, items: list[Item], reply: dict[str, Any] | None) -> Answer:
    if reply is None:
        return Answer(False, why_not="the container is gone")
    if reply.get("exit_code") is None:
        return Answer(False, why_not=f"docker exec failed: {short(reply.get('error') or 'no answer')}")
    output = str(reply.get("output") or "")
    got: dict[int, tuple[str, str]] = {}
    for line in output.splitlines():
        match = _LINE.match(line.rstrip("\r"))
        if match and 0 < int(match.group(1)) <= len(items):
            got.setdefault(int(match.group(1)), (match.group(2), (match.group(3) or "").strip()))
    if not got:
        return Answer(False, why_not=f"the probe did not run inside the container (exit {reply.get('exit_code')}: "
                                     f"{short(output) or 'no output'}); the image may have no sh")
    tried = []
    for index, item in enumerate(items, 1):
        if index not in got:
            continue
        word, error = got[index]
        tried.append(Tried(item, inside_path(m, item.host), None if word == "other" else word == "ok", short(error)))
    return Answer(True, tuple(tried))


def ask(api: Any, name: str, inspect: dict[str, Any], user_spec: str, m: MountInfo, items: list[Item]) -> Answer:
    """Try ``items`` inside the running container ``name`` as its own user (Config.User, or the image's
    default when empty: ``docker exec`` without --user is the same)."""
    why = running(inspect)
    if why:
        return Answer(False, why_not=why)
    items = items[:MAX_TRIED]
    try:
        reply = api.exec_run(name, argv_for(m, items), user_spec or None)
    except NotCaptured:
        return Answer(False, why_not="the snapshot holds no answer from inside the container")
    except GarbageValue as exc:  # a replayed answer of the wrong shape: name the field, not the whole call
        return Answer(False, why_not=f"unexpected answer to docker exec ({short(str(exc.__cause__ or exc))})")
    except TargetError as exc:
        return Answer(False, why_not=short(str(exc)))
    if reply is not None and not isinstance(reply, dict):
        return Answer(False, why_not="docker exec gave an unexpected answer")
    return parse(m, items, reply)


def short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
