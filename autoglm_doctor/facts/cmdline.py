"""The kernel command line (/proc/cmdline) as parameters, the way the kernel splits it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoglm_doctor.targets.base import TargetError

if TYPE_CHECKING:
    from autoglm_doctor.check import Context


@dataclass(frozen=True)
class KernelCmdline:
    text: str
    params: tuple[tuple[str, str | None], ...]  # (name, value or None for a bare flag), in order

    def values(self, name: str) -> list[str | None]:
        """Every value given for ``name`` ('-' and '_' are the same in parameter names)."""
        want = _norm(name)
        return [v for k, v in self.params if _norm(k) == want]

    def last(self, name: str) -> str | None:
        """The effective value: the kernel applies parameters in order, the last one wins."""
        vals = [v for v in self.values(name) if v is not None]
        return vals[-1] if vals else None

    def has(self, name: str) -> bool:
        return bool(self.values(name))

    def list_values(self, name: str) -> list[str]:
        """Comma-separated values of every occurrence (modprobe.blacklist=a,b modprobe.blacklist=c)."""
        out: list[str] = []
        for v in self.values(name):
            out.extend(p for p in (v or "").split(",") if p)
        return out


def _norm(name: str) -> str:
    return name.replace("-", "_")  # the kernel's parameq(): '-' and '_' compare equal


def split_cmdline(text: str) -> list[str]:
    """Split like the kernel's next_arg(): whitespace separates, double quotes group, and
    everything after a bare ``--`` belongs to init, not to the kernel."""
    words: list[str] = []
    cur: list[str] = []
    quoted = started = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            started = True
            continue
        if ch.isspace() and not quoted:
            if started:
                words.append("".join(cur))
                cur, started = [], False
            continue
        cur.append(ch)
        started = True
    if started:
        words.append("".join(cur))
    if "--" in words:
        words = words[: words.index("--")]
    return words


def parse_cmdline(text: str) -> KernelCmdline:
    params = []
    for word in split_cmdline(text.strip()):
        name, eq, value = word.partition("=")
        params.append((name, value if eq else None))
    return KernelCmdline(text.strip(), tuple(params))


def kernel_cmdline(ctx: Context) -> KernelCmdline:
    text = ctx.target.read_text("/proc/cmdline")
    if text is None:
        raise TargetError("/proc/cmdline is absent: is /proc mounted?")
    return parse_cmdline(text)
