"""The effective modprobe configuration, merged the way kmod merges it.

Where the target can run it, kmod itself answers (``modprobe --showconfig``); otherwise (a sysroot, a
hand-made snapshot) the files are merged here the same way. kmod reads every ``*.conf`` in
/etc/modprobe.d, /run/modprobe.d, /usr/local/lib/modprobe.d, /usr/lib/modprobe.d and /lib/modprobe.d;
a file name present in several directories is taken from the first of them only (/etc overrides /run
overrides /usr/lib), and the chosen files are read in lexical order of their names. Lines: ``options``,
``blacklist``, ``softdep``, ``install``, ``remove``,
``alias``; ``#`` starts a comment line; a trailing backslash continues a line. Module names treat
``-`` and ``_`` alike. kmod also honours ``modprobe.blacklist=`` and ``MODULE.PARAM=`` on the kernel
command line; a built-in module reads only the command line, never modprobe.d.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autoglm_doctor.facts.cmdline import KernelCmdline, kernel_cmdline
from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d",
                 "/lib/modprobe.d")


def module_name(name: str) -> str:
    return name.strip().replace("-", "_")


@dataclass
class ModprobeConfig:
    files: list[str] = field(default_factory=list)  # effective files, in the order kmod reads them
    options: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # module -> [(option text, where)]
    blacklist: dict[str, str] = field(default_factory=dict)  # module -> where
    softdeps: dict[str, list[tuple[tuple[str, ...], tuple[str, ...], str]]] = field(default_factory=dict)
    installs: dict[str, tuple[str, str]] = field(default_factory=dict)  # module -> (command, where)
    cmdline_blacklist: tuple[str, ...] = ()
    cmdline_options: dict[str, list[str]] = field(default_factory=dict)  # module -> ["ids=10de:2204", ...]

    def param(self, module: str, name: str) -> tuple[str | None, str | None]:
        """(value, where) of a module parameter from modprobe.d, the last setting winning."""
        value = where = None
        for text, src in self.options.get(module_name(module), []):
            for word in text.split():
                key, eq, val = word.partition("=")
                if eq and key.replace("-", "_") == name:
                    value, where = val, src
        return value, where

    def cmdline_param(self, module: str, name: str) -> str | None:
        value = None
        for word in self.cmdline_options.get(module_name(module), []):
            key, eq, val = word.partition("=")
            if eq and key.replace("-", "_") == name:
                value = val
        return value

    def blocked(self, module: str) -> str | None:
        """Why ``module`` cannot autoload (blacklist, install to /bin/false...), or None."""
        mod = module_name(module)
        if mod in self.cmdline_blacklist:
            return "modprobe.blacklist= on the kernel command line"
        if mod in self.blacklist:
            return f"blacklist {mod} ({self.blacklist[mod]})"
        if mod in self.installs:
            command, where = self.installs[mod]
            first = command.split()[0] if command.split() else ""
            if first.rsplit("/", 1)[-1] in ("false", "true"):
                return f"install {mod} {command} ({where})"
        return None

    def loads_before(self, module: str, first: str) -> str | None:
        """Where a ``softdep MODULE pre: FIRST`` orders ``first`` before ``module``, or None."""
        for pre, _post, where in self.softdeps.get(module_name(module), []):
            if module_name(first) in pre:
                return f"softdep {module_name(module)} pre: {module_name(first)} ({where})"
        return None


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line: continuations joined, comments dropped."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for no, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = no
        line = raw.rstrip()
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        stripped = buf.strip()
        buf = ""
        if stripped and not stripped.startswith("#"):
            out.append((start, stripped))
    if buf.strip() and not buf.strip().startswith("#"):
        out.append((start, buf.strip()))
    return out


def parse_into(config: ModprobeConfig, path: str, text: str) -> None:
    for no, line in logical_lines(text):
        words = line.split()
        where = f"{path}:{no}"
        cmd = words[0]
        if len(words) < 2:
            continue
        mod = module_name(words[1])
        if cmd == "options":
            config.options.setdefault(mod, []).append((" ".join(words[2:]), where))
        elif cmd == "blacklist":
            config.blacklist.setdefault(mod, where)
        elif cmd == "install":
            config.installs[mod] = (" ".join(words[2:]), where)
        elif cmd == "softdep":
            pre: list[str] = []
            post: list[str] = []
            bucket = None
            for w in words[2:]:
                if w == "pre:":
                    bucket = pre
                elif w == "post:":
                    bucket = post
                elif bucket is not None:
                    bucket.append(module_name(w))
            config.softdeps.setdefault(mod, []).append((tuple(pre), tuple(post), where))


def effective_files(ctx: Context) -> list[str]:
    chosen: dict[str, str] = {}
    for directory in MODPROBE_DIRS:
        try:
            names = ctx.target.listdir(directory)
        except NotCaptured:
            names = None
        for name in names or ():
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = f"{directory}/{name}"
    return [chosen[n] for n in sorted(chosen)]


def _apply_cmdline(config: ModprobeConfig, cmdline: KernelCmdline) -> None:
    config.cmdline_blacklist = tuple(module_name(m) for m in cmdline.list_values("modprobe.blacklist"))
    for name, value in cmdline.params:
        module, dot, param = name.partition(".")
        if dot and param and value is not None and module_name(module) != "modprobe":
            config.cmdline_options.setdefault(module_name(module), []).append(f"{param}={value}")


def _from_files(ctx: Context) -> ModprobeConfig:
    config = ModprobeConfig()
    for path in effective_files(ctx):
        text = ctx.target.read_text(path)
        if text is None:  # a dangling symlink (e.g. to /dev/null masks the file): contributes nothing
            continue
        config.files.append(path)
        parse_into(config, path, text)
    return config


SHOWCONFIG = ("modprobe", "--showconfig")


def _from_kmod(ctx: Context, files: ModprobeConfig) -> ModprobeConfig | None:
    """kmod's own merge (``modprobe --showconfig``) where the target can run it; each entry keeps the
    file:line the file merge found it at (kmod does not say), else names the command. None when the
    command cannot answer (a sysroot, a hand-made snapshot, kmod missing)."""
    if not ctx.target.can_run:
        return None
    try:
        result = ctx.target.run(list(SHOWCONFIG), timeout=10)
    except (AdapterUnavailable, NotCaptured):
        return None
    if not result.ok:
        return None
    shown = ModprobeConfig(files=list(files.files))
    parse_into(shown, "modprobe --showconfig", result.stdout)
    for mod, entries in shown.options.items():
        known = dict(files.options.get(mod, []))
        shown.options[mod] = [(text, known.get(text, where)) for text, where in entries]
    shown.blacklist = {mod: files.blacklist.get(mod, where) for mod, where in shown.blacklist.items()}
    shown.installs = {mod: (cmd, files.installs[mod][1] if mod in files.installs else where)
                      for mod, (cmd, where) in shown.installs.items()}
    for mod, deps in shown.softdeps.items():
        known_deps = {(pre, post): where for pre, post, where in files.softdeps.get(mod, [])}
        shown.softdeps[mod] = [(pre, post, known_deps.get((pre, post), where)) for pre, post, where in deps]
    return shown


def modprobe_config(ctx: Context) -> ModprobeConfig:
    files = _from_files(ctx)
    config = _from_kmod(ctx, files) or files
    _apply_cmdline(config, ctx.fact(kernel_cmdline))
    return config


def parse_vfio_ids(value: str | None) -> list[tuple[int, int, int | None, int | None]]:
    """vfio-pci ids: 'vendor:device[:subvendor[:subdevice[:class[:mask]]]]' separated by commas;
    entries that do not parse are skipped (the kernel skips them too, with a warning)."""
    out = []
    for item in (value or "").split(","):
        parts = item.strip().split(":")
        if len(parts) < 2:
            continue
        try:
            nums = [int(p, 16) for p in parts[:4]]
        except ValueError:
            continue
        out.append((nums[0], nums[1], nums[2] if len(nums) > 2 else None, nums[3] if len(nums) > 3 else None))
    return out


def ids_cover(ids: list[tuple[int, int, int | None, int | None]], vendor: int, device: int, sv: int, sd: int) -> bool:
    ANY = 0xFFFFFFFF  # PCI_ANY_ID
    for v, d, isv, isd in ids:
        if v not in (vendor, ANY) or d not in (device, ANY):
            continue
        if isv is not None and isv not in (sv, ANY):
            continue
        if isd is not None and isd not in (sd, ANY):
            continue
        return True
    return False
