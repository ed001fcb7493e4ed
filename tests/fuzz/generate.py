"""The seeded generator of hostile and broken inputs: snapshots (archive members, side-folder types,
content mutations, special files), config files and log sources. ``variants(seed)`` is deterministic:
the same seed gives the same variants, byte for byte, so a failure found in CI replays anywhere.

Each variant says what it expects:
- ``refused``: a one-line error, exit 2 (the input is not something the tool can evaluate);
- ``runs``: a report, exit 0 or 1 (or exit 2 with one line when a side file turned invalid), with no
  "check crashed" and no internal error;
- ``logs``: the logs command ends with exit 0, 1 or a one-line exit 2, and never hangs.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
import socket
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "scenarios"
SEED = 20261130
BASES = ("host-healthy-intel", "host-old-amd", "host-garbage", "ctr-healthy", "ctr-broken", "gpu-nvidia",
         "gpu-amd-rx6800", "net-healthy-netplan", "net-docker-drop-nm", "libvirt-kvm", "libvirt-tcg-only")
SIDE_FILES = ("manifest.json", "absent.json", "unreadable.json", "dirs.json", "stat.json", "xattr.json",
              "disk.json", "commands.json", "api.json")
MANIFEST = {"format": "autoglm-doctor-snapshot", "version": 1, "kind": "handmade"}


@dataclass
class Variant:
    id: str
    category: str
    expect: str  # refused | runs | logs
    build: Callable[[Path, Path], tuple[list[str], dict[str, str]]] = field(repr=False)
    needle: str = ""  # text the one-line error must hold (refused)


# -- helpers -------------------------------------------------------------------------------------------
def copy_base(base: str, into: Path) -> Path:
    dest = into / "snap"
    shutil.copytree(SCENARIOS / base, dest, symlinks=True)
    return dest


def tree_files(root: Path) -> list[Path]:
    out = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".autoglm-doctor")
        for name in sorted(files):
            p = Path(current) / name
            if p.is_file() and not p.is_symlink():
                out.append(p)
    return out


def check_argv(snapshot: Path | str, *extra: str) -> list[str]:
    return ["check", "--target", f"snapshot:{snapshot}", "--format", "json", "--timeout", "10", *extra]


def tar_member(tar: tarfile.TarFile, name: str, data: bytes = b"", **fields: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


# -- content mutations ---------------------------------------------------------------------------------
def _huge_numbers(data: bytes, rng: random.Random) -> bytes:
    out = bytearray()
    for ch in data:
        out += (b"99999999999999999999999" if rng.random() < 0.3 else bytes([ch])) if 48 <= ch <= 57 else bytes([ch])
    return bytes(out)


TEXT_OPS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "empty": lambda d, r: b"",
    "truncate": lambda d, r: d[: r.randrange(0, max(1, len(d)))],
    "random-bytes": lambda d, r: r.randbytes(r.choice((1, 17, 512, 4096))),
    "nul-bytes": lambda d, r: d.replace(b"\n", b"\x00\n") or b"\x00",
    "huge-numbers": _huge_numbers,
    "negative-numbers": lambda d, r: bytes(b if not 48 <= b <= 57 or r.random() < 0.7 else 45 for b in d),
    "nan": lambda d, r: b"nan\n" + d.replace(b"1", b"NaN"),
    "long-line": lambda d, r: b"a" * 300_000 + b"\n" + d,
    "invalid-utf8": lambda d, r: b"\xff\xfe\xc3(" + d + b"\xed\xa0\x80",
    "repeated": lambda d, r: d * 50,
    "no-newlines": lambda d, r: d.replace(b"\n", b" "),
    "crlf": lambda d, r: d.replace(b"\n", b"\r\n"),
    "unicode": lambda d, r: d.decode("utf-8", "replace").replace("e", "\u0435").replace("0", "\u0660").encode(),
    "deep-json": lambda d, r: b"[" * 50_000 + b"]" * 50_000,
    "whitespace": lambda d, r: b" \t\n" * 100,
    "swap-fields": lambda d, r: b"\n".join(line[::-1] for line in d.split(b"\n")),
}

NONSENSE: tuple[Any, ...] = (None, 5, -1, 0, 2**70, 1e300, float("nan"), "", "x", "nan", [], {}, True, [None],
                             {"": None}, ["a", 5], "\x00", "9" * 400)


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _mutate_json(value: Any, rng: random.Random) -> Any:
    """Replace one randomly chosen node of ``value`` with nonsense (types the producer never writes)."""
    nodes: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in node:
                nodes.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for i in range(len(node)):
                nodes.append((node, i))
                walk(node[i])

    walk(value)
    if not nodes:
        return rng.choice(NONSENSE)
    parent, key = rng.choice(nodes)
    parent[key] = _deep(rng.choice((5, 200))) if rng.random() < 0.05 else rng.choice(NONSENSE)
    return value


def _api_mutation(rng: random.Random, base: str) -> Callable[[Path, Path], tuple[list[str], dict[str, str]]]:
    def build(work: Path, sentinel: Path) -> tuple[list[str], dict[str, str]]:
        snap = copy_base(base, work)
        api_file = snap / ".autoglm-doctor" / "api.json"
        api = json.loads(api_file.read_text()) if api_file.exists() else {}
        keys = sorted(k for k, v in api.items() if "result" in v)
        if keys:
            key = rng.choice(keys)
            api[key]["result"] = _mutate_json(api[key]["result"], rng)
        api_file.write_text(json.dumps(api))
        return check_argv(snap), {}
    return build


def _commands_mutation(rng: random.Random, base: str, op: str) -> Callable[[Path, Path], tuple[list[str], dict[str, str]]]:
    def build(work: Path, sentinel: Path) -> tuple[list[str], dict[str, str]]:
        snap = copy_base(base, work)
        path = snap / ".autoglm-doctor" / "commands.json"
        commands = json.loads(path.read_text()) if path.exists() else []
        if commands:
            entry = rng.choice(commands)
            entry["stdout"] = TEXT_OPS[op](entry["stdout"].encode(), rng).decode("utf-8", "replace")
            if rng.random() < 0.3:
                entry["returncode"] = rng.choice((0, 1, 2, 127, -9))
        path.write_text(json.dumps(commands))
        return check_argv(snap), {}
    return build


def _content_mutation(rng: random.Random, base: str, op: str) -> Callable[[Path, Path], tuple[list[str], dict[str, str]]]:
    def build(work: Path, sentinel: Path) -> tuple[list[str], dict[str, str]]:
        snap = copy_base(base, work)
        files = tree_files(snap)
        for victim in rng.sample(files, min(len(files), rng.choice((1, 1, 2, 5)))):
            victim.write_bytes(TEXT_OPS[op](victim.read_bytes(), rng))
        return check_argv(snap), {}
    return build


# -- special files inside a tree -----------------------------------------------------------------------
def _special(rng: random.Random, base: str, kind: str) -> Callable[[Path, Path], tuple[list[str], dict[str, str]]]:
    def build(work: Path, sentinel: Path) -> tuple[list[str], dict[str, str]]:
        snap = copy_base(base, work)
        files = tree_files(snap)
        victim = rng.choice(files) if files else snap / "proc" / "cpuinfo"
        victim.parent.mkdir(parents=True, exist_ok=True)
        if victim.exists():
            victim.unlink()
        if kind == "fifo":
            os.mkfifo(victim)
        elif kind == "socket":
            sock = socket.socket(socket.AF_UNIX)
            try:
                sock.bind(str(victim))
            except OSError:  # path too long for AF_UNIX: a FIFO instead
                os.mkfifo(victim)
            finally:
                sock.close()
        elif kind == "char-device":
            try:
                os.mknod(victim, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero's numbers
            except PermissionError:
                os.mkfifo(victim)
        elif kind == "link-loop":
            os.symlink(victim.name, victim)
        elif kind == "link-to-host":
            os.symlink(str(sentinel / "secret.txt"), victim)
        elif kind == "link-dotdot":
            os.symlink("../" * 12 + str(sentinel / "secret.txt").lstrip("/"), victim)
        elif kind == "directory":
            victim.mkdir()
        return check_argv(snap), {}
    return build


# -- archives ------------------------------------------------------------------------------------------
HOSTILE_MEMBERS: dict[str, tuple[str, Callable[[Path], tuple[str, bytes, dict[str, Any]]]]] = {
    "hardlink-absolute": ("hard link", lambda s: ("proc/cpuinfo", b"", {"type": tarfile.LNKTYPE, "linkname": str(s / "secret.txt"), "mode": 0o777, "uid": 4242})),
    "hardlink-outside": ("leaves the snapshot", lambda s: ("proc/cpuinfo", b"", {"type": tarfile.LNKTYPE, "linkname": "../../" + str(s / "secret.txt").lstrip("/")})),
    "hardlink-missing": ("hard link", lambda s: ("proc/cpuinfo", b"", {"type": tarfile.LNKTYPE, "linkname": "nope/none"})),
    "symlink-climbs": ("outside the snapshot", lambda s: ("etc/passwd", b"", {"type": tarfile.SYMTYPE, "linkname": "../../../../" + str(s / "secret.txt").lstrip("/")})),
    "char-device": ("device node", lambda s: ("dev/kvm", b"", {"type": tarfile.CHRTYPE, "devmajor": 10, "devminor": 232})),
    "block-device": ("device node", lambda s: ("dev/sda", b"", {"type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0})),
    "fifo": ("FIFO", lambda s: ("proc/cpuinfo", b"", {"type": tarfile.FIFOTYPE})),
    "absolute-name": ("absolute name", lambda s: (str(s / "planted.txt"), b"planted", {})),
    "dotdot-name": ("leaves the snapshot", lambda s: ("../../../" + str(s / "planted.txt").lstrip("/"), b"planted", {})),
}


def _archive(rng: random.Random, base: str, how: str) -> Callable[[Path, Path], tuple[list[str], dict[str, str]]]:
    def build(work: Path, sentinel: Path) -> tuple[list[str], dict[str, str]]:
        src = SCENARIOS / base
        mode = rng.choice(("w:gz", "w:gz", "w", "w:bz2", "w:xz"))
        path = work / ("snap.tar" + {"w:gz": ".gz", "w": "", "w:bz2": ".bz2", "w:xz": ".xz"}[mode])
        env: dict[str, str] = {}
        wrapped = rng.random() < 0.5 or how == "two-tops"
        with tarfile.open(path, mode) as tar:
            if how != "empty":
                tar.add(src, arcname=base if wrapped else ".")
            prefix = f"{base}/" if wrapped else ""
            if how in HOSTILE_MEMBERS:
                name, data, fields = HOSTILE_MEMBERS[how][1](sentinel)
                if not name.startswith(("/", "..")):
                    name = prefix + name
                tar_member(tar, name, data, **fields)
            elif how == "bomb":
                env["AUTOGLM_DOCTOR_SNAPSHOT_MAX_BYTES"] = str(2 * 1024 * 1024)
                tar_member(tar, prefix + "var/zeros", bytes(4 * 1024 * 1024))
            elif how == "many-members":
                env["AUTOGLM_DOCTOR_SNAPSHOT_MAX_MEMBERS"] = "300"
                for i in range(320):
                    tar_member(tar, f"{prefix}etc/many/{i}", b"")
            elif how == "two-tops":
                tar.add(src, arcname="second")
        if how == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: rng.randrange(1, max(2, len(data) - 1))])
        elif how == "garbage":
            path.write_bytes(rng.randbytes(rng.choice((0, 1, 100, 5000))))
        return check_argv(path), env
    return build


ARCHIVE_NEEDLES = {**{k: v[0] for k, v in HOSTILE_MEMBERS.items()}, "bomb": "decompression bomb",
                   "many-members": "archive members", "two-tops": "", "empty": "", "truncated": "", "garbage": ""}


# -- the side folder -----------------------------------------------------------------------------------
WRONG_TOP = {"manifest.json": [[], "x", 5, None], "absent.json": [{}, "x", 5, None], "unreadable.json": [[], 5, "x"],
             "dirs.json": [[], 5, "x"], "stat.json": [[], 5], "xattr.json": [[], 5], "disk.json": [[], 5],
             "commands.json": [{}, 5, "x"], "api.json": [[], 5]}
WRONG_FIELD = {
    "manifest.json": [{**MANIFEST, "now": 1e300}, {**MANIFEST, "now": -1}, {**MANIFEST, "now": "today"},
                      {**MANIFEST, "kind": 5}, {**MANIFEST, "role": "toaster"}, {**MANIFEST, "version": "1"},
                      {**MANIFEST, "captured_at": 5}, {}, {"format": "autoglm-doctor-snapshot"}],
    "absent.json": [[5], ["relative/path"], [None]],
    "unreadable.json": [{"/x": 5}, {"relative": "m"}],
    "dirs.json": [{"/x": "a"}, {"/x": [5]}, {"/x": ["a/b"]}],
    "stat.json": [{"/dev/kvm|follow": {"mode": "x", "uid": 0, "gid": 0}}, {"/dev/kvm|follow": {"mode": 1, "uid": -1, "gid": 0}},
                  {"/dev/kvm|follow": 5}, {"/dev/kvm": None}, {"/dev/kvm|follow": {"mode": 1, "uid": 0, "gid": 0, "rdev": [1]}}],
    "xattr.json": [{"/x": {"a": 5}}, {"/x": 5}, {"/x": {"a": "!!"}}],
    "disk.json": [{"/": {"total": "big", "free": 1}}, {"/": {"total": 1, "free": 2}}, {"/": 5}],
    "commands.json": [[{"argv": [], "returncode": 0}], [{"argv": ["ls"], "returncode": "0"}],
                      [{"argv": ["ls"], "returncode": 0, "stdout": 5}], [5]],
    "api.json": [{"docker.info([])": 5}, {"docker.info([])": {}}, {"docker.info([])": {"error": "boom"}}],
}


def _side(rng: random.Random, base: str, name: str, how: str) -> Callable[[Path, Path], tuple[list[str], dict[str, str]]]:
    def build(work: Path, sentinel: Path) -> tuple[list[str], dict[str, str]]:
        snap = copy_base(base, work)
        side = snap / ".autoglm-doctor"
        target = side / name
        if target.exists() or target.is_symlink():
            target.unlink()
        if how == "wrong-top":
            target.write_text(json.dumps(rng.choice(WRONG_TOP[name])))
        elif how == "wrong-field":
            target.write_text(json.dumps(rng.choice(WRONG_FIELD[name])))
        elif how == "symlink-out":
            (sentinel / name).exists() or None
            os.symlink(str(sentinel / "side" / name), target)
        elif how == "directory":
            target.mkdir()
        elif how == "fifo":
            os.mkfifo(target)
        elif how == "deep":
            target.write_text("[" * 100_000 + "]" * 100_000)
        elif how == "invalid-utf8":
            target.write_bytes(b'{"\xff": 1}')
        elif how == "truncated-json":
            target.write_text('{"a": [1, 2')
        elif how == "empty":
            target.write_bytes(b"")
        elif how == "nan":
            target.write_text("NaN")
        elif how == "side-folder-file":
            shutil.rmtree(side)
            side.write_text("{}")
        elif how == "side-folder-link":
            shutil.rmtree(side)
            os.symlink(str(sentinel / "side"), side)
        return check_argv(snap), {}
    return build


SIDE_HOWS = ("wrong-top", "wrong-field", "symlink-out", "directory", "fifo", "deep", "invalid-utf8",
             "truncated-json", "empty", "nan", "side-folder-file", "side-folder-link")


# -- configs -------------------------------------------------------------------------------------------
CONFIGS: dict[str, str] = {
    "cpus-negative": "[profile]\ncpus = -4\n",
    "memory-nan": "[profile]\nmemory_gb = nan\n",
    "memory-inf": "[profile]\nmemory_gb = inf\n",
    "disk-negative": "[profile]\ndisk_gb = -1.5\n",
    "vm-memory-negative": "[profile]\nvm_memory_gb = -64\n",
    "hugepage-3M": '[profile]\nhugepage_size = "3M"\n',
    "endpoint-not-url": '[profile]\nmodel_endpoint = "not a url"\n',
    "endpoint-port": '[profile]\nmodel_endpoint = "http://127.0.0.1:99999"\n',
    "served-name-empty": '[profile]\nserved_model_name = ""\n',
    "vm-user-empty": '[profile]\nvm_user = ""\n',
    "logs-window-zero": '[profile]\nlogs_window = "0s"\n',
    "catastrophic-regex": '[profile]\nlogs_trace_patterns = ["(a+)+$"]\n',
    "cpus-string": '[profile]\ncpus = "four"\n',
    "bad-toml": "[profile\ncpus = 4\n",
    "unknown-key": "[profile]\nnot_a_key = 1\n",
    "ignore-unmatched": '[[ignore]]\ncheck = "no.such.check"\nreason = "x"\n',
    "binary": "\x00\x01\x02",
    "size-unknown": '[profile]\nsize = "enormous"\n',
    "bridge-bad": '[profile]\nbridge = "this-name-is-way-too-long-for-linux"\n',
    "vlans-bad": "[profile]\nvlans = [0, 5000]\n",
}


def _config(text: str) -> Callable[[Path, Path], tuple[list[str], dict[str, str]]]:
    def build(work: Path, sentinel: Path) -> tuple[list[str], dict[str, str]]:
        cfg = work / "config.toml"
        cfg.write_text(text)
        return check_argv(SCENARIOS / "host-healthy-intel", "--config", str(cfg)), {}
    return build


def _cli_flag(*flags: str) -> Callable[[Path, Path], tuple[list[str], dict[str, str]]]:
    return lambda work, sentinel: (check_argv(SCENARIOS / "host-healthy-intel", *flags), {})


# -- log sources ---------------------------------------------------------------------------------------
LOG_LINES = (b'{"time": "2026-11-30T10:00:00Z", "level": "ERROR", "trace_id": "0af7651916cd43dd8448eb211c80319c", '
             b'"service": "agent", "message": "boom"}\n')


def _log(rng: random.Random, how: str) -> Callable[[Path, Path], tuple[list[str], dict[str, str]]]:
    def build(work: Path, sentinel: Path) -> tuple[list[str], dict[str, str]]:
        path = work / "agent.log"
        if how == "fifo":
            os.mkfifo(path)
        elif how == "dev-zero":
            path = Path("/dev/zero")
        elif how == "procfs":
            path = Path("/proc/self/status")
        elif how == "sysfs":
            path = Path("/sys/kernel/mm/transparent_hugepage/enabled")
        elif how == "missing":
            path = work / "missing.log"
        elif how == "deep-json":
            path.write_bytes(b"[" * 40_000 + b"]" * 40_000 + b"\n" + LOG_LINES)
        elif how == "long-line":
            path.write_bytes(b'{"message": "' + b"x" * 2_000_000 + b'"}\n' + LOG_LINES)
        elif how == "binary":
            path.write_bytes(rng.randbytes(200_000))
        elif how == "invalid-utf8":
            path.write_bytes(LOG_LINES.replace(b"boom", b"\xff\xfe") * 20)
        elif how == "gz-truncated":
            path = work / "agent.log.gz"
            path.write_bytes(gzip.compress(LOG_LINES * 500)[:300])
        elif how == "empty":
            path.write_bytes(b"")
        elif how == "nul-lines":
            path.write_bytes(b"\x00" * 100_000 + b"\n" + LOG_LINES)
        elif how == "odd-times":
            path.write_bytes(LOG_LINES.replace(b"2026-11-30T10:00:00Z", rng.choice(
                (b"9999-99-99T99:99:99Z", b"1e300", b"-5", b"NaN", b"", b"2026-02-30T25:61:61+99:99"))) * 10)
        elif how == "huge-json-numbers":
            path.write_bytes(b'{"time": 1e999, "status": 99999999999999999999999999, "trace_id": 5}\n' + LOG_LINES)
        elif how == "directory":
            path = work / "logs"
            path.mkdir()
            os.mkfifo(path / "a.log")
            (path / "b.log").write_bytes(LOG_LINES)
        command = rng.choice(("logs", "trace"))
        args = [command] + (["0af7651916cd43dd8448eb211c80319c"] if command == "trace" else [])
        return args + ["--source", str(path), "--format", "json", "--jobs", "1",
                       "--since", "2026-11-30T00:00:00Z", "--until", "2026-12-01T00:00:00Z"], {}
    return build


LOG_HOWS = ("fifo", "dev-zero", "procfs", "sysfs", "missing", "deep-json", "long-line", "binary", "invalid-utf8",
            "gz-truncated", "empty", "nul-lines", "odd-times", "huge-json-numbers", "directory")
LOG_REFUSED = {"fifo": "is a FIFO", "dev-zero": "character device", "procfs": "kernel state",
               "sysfs": "kernel state", "missing": "does not exist"}


# -- the variant list ----------------------------------------------------------------------------------
def variants(seed: int = SEED, *, scale: int = 1) -> list[Variant]:
    rng = random.Random(seed)
    out: list[Variant] = []

    def sub() -> random.Random:
        return random.Random(rng.getrandbits(64))

    for i in range(60 * scale):  # archive members
        how = (list(ARCHIVE_NEEDLES) + ["benign"] * 3)[i % (len(ARCHIVE_NEEDLES) + 3)]
        base = rng.choice(BASES)
        out.append(Variant(f"archive-{i:03d}-{how}-{base}", "archive", "runs" if how == "benign" else "refused",
                           _archive(sub(), base, how), ARCHIVE_NEEDLES.get(how, "")))
    for i in range(80 * scale):  # side-folder types
        name, how = rng.choice(SIDE_FILES), SIDE_HOWS[i % len(SIDE_HOWS)]
        base = rng.choice(BASES)
        needle = ".autoglm-doctor" if how.startswith("side-folder") else name
        out.append(Variant(f"side-{i:03d}-{name}-{how}-{base}", "side-folder", "refused", _side(sub(), base, name, how), needle))
    ops = sorted(TEXT_OPS)
    for i in range(150 * scale):  # content mutations of tree files
        op, base = ops[i % len(ops)], rng.choice(BASES)
        out.append(Variant(f"content-{i:03d}-{op}-{base}", "content", "runs", _content_mutation(sub(), base, op)))
    api_bases = ("ctr-healthy", "ctr-broken", "ctr-userns", "ctr-garbage", "libvirt-kvm", "libvirt-tcg-only",
                 "gpu-nvidia", "net-docker-drop-nm", "ctr-daemon-down")
    for i in range(100 * scale):  # nonsense answers in api.json results
        base = rng.choice(api_bases)
        out.append(Variant(f"api-{i:03d}-{base}", "api-answers", "runs", _api_mutation(sub(), base)))
    cmd_bases = [b.name for b in sorted(SCENARIOS.iterdir()) if (b / ".autoglm-doctor" / "commands.json").exists()]
    for i in range(40 * scale):  # recorded command output
        op, base = ops[i % len(ops)], rng.choice(cmd_bases)
        out.append(Variant(f"commands-{i:03d}-{op}-{base}", "commands", "runs", _commands_mutation(sub(), base, op)))
    kinds = ("fifo", "socket", "char-device", "link-loop", "link-to-host", "link-dotdot", "directory")
    for i in range(42 * scale):  # special files inside the tree
        kind, base = kinds[i % len(kinds)], rng.choice(BASES)
        out.append(Variant(f"special-{i:03d}-{kind}-{base}", "special-files", "runs", _special(sub(), base, kind)))
    for name, text in CONFIGS.items():  # config files
        out.append(Variant(f"config-{name}", "config", "refused", _config(text)))
    for name, flags in {"timeout-nan": ("--timeout", "nan"), "timeout-negative": ("--timeout", "-1"),
                        "timeout-inf": ("--timeout", "inf"), "jobs-zero": ("--jobs", "0"),
                        "deadline-nan": ("--deadline", "nan"), "only-unknown": ("--only", "no.such.*"),
                        "target-missing-sysroot": ("--target", "local:/nonexistent-sysroot"),
                        "target-proc": ("--target", "snapshot:/proc"),
                        "target-dev-zero": ("--target", "snapshot:/dev/zero")}.items():
        out.append(Variant(f"cli-{name}", "config", "refused", _cli_flag(*flags)))
    for i in range(30 * scale):  # log sources
        how = LOG_HOWS[i % len(LOG_HOWS)]
        out.append(Variant(f"logs-{i:03d}-{how}", "logs", "refused" if how in LOG_REFUSED else "logs",
                           _log(sub(), how), LOG_REFUSED.get(how, "")))
    return out
