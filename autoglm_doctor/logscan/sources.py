"""Log sources: ``[SERVICE=]PATH`` (file or directory; rotated ``.1``/``.N.gz`` siblings included),
``[SERVICE=]docker:NAME``, ``[SERVICE=]journald:UNIT``, ``[SERVICE=]libvirt:DOMAIN``. Everything is read
through the Target (so local, sysroot and snapshot targets all work); big local files are handed to
the parallel scanner by host path (see ``bigfile``)."""

from __future__ import annotations

import posixpath
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from autoglm_doctor.logscan import bigfile
from autoglm_doctor.targets.base import AdapterUnavailable, NotCaptured, TargetError

if TYPE_CHECKING:
    from autoglm_doctor.logscan.settings import ScanSettings
    from autoglm_doctor.targets.base import Target

LIBVIRT_QEMU_LOGS = "/var/log/libvirt/qemu"
ROTATED = re.compile(r"^(?P<base>.+?)(?:\.(?P<num>\d+)|-(?P<date>\d{8}))?(?P<gz>\.gz)?$")
LOG_NAME = re.compile(r"\.(?:log|jsonl?|ndjson|txt|out|err)(?:\.\d+|-\d{8})?(?:\.gz)?$|\.\d+(?:\.gz)?$")
SERVICE_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
DOCKER_TAIL = 200_000
BLOCK = 4 << 20


class SourceSpecError(ValueError):
    pass


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # file, docker, journald, libvirt
    value: str
    service: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.service}=" if self.service else ""
        return f"{prefix}{self.value}" if self.kind == "file" else f"{prefix}{self.kind}:{self.value}"


def parse_source_spec(text: str) -> SourceSpec:
    text = text.strip()
    service = None
    head, eq, rest = text.partition("=")
    if eq and SERVICE_NAME.match(head) and "/" not in head and ":" not in head:
        service, text = head, rest
    kind, colon, value = text.partition(":")
    if colon and kind in ("docker", "journald", "libvirt"):
        if not value.strip():
            raise SourceSpecError(f"source {text!r} needs a name after '{kind}:'")
        return SourceSpec(kind, value.strip(), service)
    if not text.startswith("/"):
        raise SourceSpecError(
            f"source {text!r}: use an absolute PATH, docker:NAME, journald:UNIT or libvirt:DOMAIN (optionally SERVICE=...)")
    return SourceSpec("file", posixpath.normpath(text), service)


@dataclass
class Stream:
    """One thing to read: a file, a container's log, a journal query."""

    name: str
    kind: str  # file, docker, journald, libvirt (parsing rules differ)
    service: str
    path: str = ""
    host_path: str | None = None  # local file readable directly (mmap / parallel chunks)
    size: int = 0
    gz: bool = False
    spec: SourceSpec | None = None

    def parallel(self, min_size: int = bigfile.PARALLEL_MIN) -> bool:
        """Big enough (``min_size`` bytes) and on this machine: scanned in parallel windows."""
        return self.host_path is not None and not self.gz and self.size >= min_size

    def blocks(self, target: Target, since: float | None, notes: list[str]) -> Iterator[bytes]:
        """The stream's bytes in blocks that end at line boundaries."""
        if self.kind == "docker":
            yield from _split(_docker_text(target, self.spec.value if self.spec else self.name, since, notes, self.name))
        elif self.kind == "journald":
            yield from _split(_journal_text(target, self.spec.value if self.spec else self.name, since, notes, self.name))
        elif self.gz:
            yield from _gunzip(target, self, notes)
        elif self.host_path is not None:
            yield from bigfile.iter_local_blocks(self.host_path, limit=self.size)
        else:
            data = target.read_bytes(self.path)
            if data is None:
                notes.append(f"{self.name}: disappeared before it could be read")
                return
            yield from _split(data)


def _split(data: bytes, block: int = BLOCK) -> Iterator[bytes]:
    start = 0
    while start < len(data):
        end = data.find(b"\n", min(start + block, len(data)) - 1)
        end = len(data) if end == -1 else end + 1
        yield data[start:end]
        start = end


def _gunzip(target: Target, stream: Stream, notes: list[str]) -> Iterator[bytes]:
    """Decompress a .gz log; a truncated or corrupt archive yields what could be read and a note."""
    decomp = zlib.decompressobj(wbits=31)
    carry = b""
    problem = None
    if stream.host_path is not None:
        pieces: Iterator[bytes] = _file_pieces(stream.host_path)
    else:
        data = target.read_bytes(stream.path)
        pieces = iter(() if data is None else [data])
    try:
        for piece in pieces:
            out = carry + decomp.decompress(piece)
            cut = out.rfind(b"\n")
            carry = out[cut + 1:]
            if cut != -1:
                yield out[:cut + 1]
            while decomp.unused_data and decomp.eof:  # concatenated members
                rest = decomp.unused_data
                decomp = zlib.decompressobj(wbits=31)
                out = carry + decomp.decompress(rest)
                cut = out.rfind(b"\n")
                carry = out[cut + 1:]
                if cut != -1:
                    yield out[:cut + 1]
        if not decomp.eof:
            problem = "truncated (the archive ends early)"
    except zlib.error as exc:
        problem = f"corrupt ({exc})"
    if carry:
        yield carry + b"\n"
    if problem:
        notes.append(f"{stream.name}: .gz archive {problem}; the lines before that point are used")


def _file_pieces(host_path: str, size: int = 1 << 20) -> Iterator[bytes]:
    with open(host_path, "rb") as fh:
        while True:
            piece = fh.read(size)
            if not piece:
                return
            yield piece


def _docker_text(target: Target, name: str, since: float | None, notes: list[str], label: str) -> bytes:
    try:
        docker = target.adapter("docker")
        if since is not None and bigfile.local_path(target, "/") is not None:
            text = docker.logs(name, DOCKER_TAIL, int(since), True)
        else:
            text = docker.logs(name, DOCKER_TAIL, None, True)
    except (AdapterUnavailable, NotCaptured, TargetError) as exc:
        notes.append(f"{label}: not read: {exc}")
        return b""
    if text is None:
        notes.append(f"{label}: no such container")
        return b""
    return text.encode("utf-8", "replace")


def _journal_text(target: Target, unit: str, since: float | None, notes: list[str], label: str) -> bytes:
    argv = ["journalctl", "-o", "json", "--no-pager", "-u", unit]
    if since is not None and bigfile.local_path(target, "/") is not None:
        argv += ["--since", f"@{int(since)}"]
    try:
        result = target.run(argv, timeout=60)
    except (NotCaptured, TargetError) as exc:
        notes.append(f"{label}: not read: {exc}")
        return b""
    if result.not_found:
        notes.append(f"{label}: journalctl is not installed on {target.name}")
        return b""
    if not result.ok and not result.stdout:
        notes.append(f"{label}: journalctl failed: {(result.stderr or '').strip()[:200]}")
        return b""
    return result.stdout.encode("utf-8", "replace")


def _service_of(filename: str) -> str:
    m = ROTATED.match(filename)
    base = m.group("base") if m else filename
    for ext in (".log", ".jsonl", ".json", ".ndjson", ".txt", ".out", ".err"):
        if base.endswith(ext):
            return base[: -len(ext)] or base
    return base


def _rotation_key(filename: str) -> tuple[str, int, str]:
    """Oldest first: app.log.3.gz, app.log.2, app.log.1, app.log."""
    m = ROTATED.match(filename)
    if not m:
        return filename, 0, ""
    num = int(m.group("num")) if m.group("num") else 0
    return m.group("base"), -num, m.group("date") or "~"


def _file_stream(target: Target, path: str, service: str, kind: str, spec: SourceSpec) -> Stream | None:
    st = target.stat(path)
    if st is None or st.kind != "file":
        return None
    host = bigfile.local_path(target, path)
    return Stream(name=path, kind=kind, service=service, path=path, host_path=host, size=st.size,
                  gz=path.endswith(".gz"), spec=spec)


def _with_rotated(target: Target, path: str) -> list[str]:
    parent, name = posixpath.split(path)
    try:
        entries = target.listdir(parent) or []
    except (NotCaptured, TargetError):
        return [path]
    matches = [(e, ROTATED.match(e)) for e in entries if e != name]
    siblings = [e for e, m in matches if m is not None and m.group("base") == name and (m.group("num") or m.group("date"))]
    return [posixpath.join(parent, e) for e in sorted(siblings, key=_rotation_key)] + [path]


_KIND_NAMES = {"fifo": "FIFO", "char": "character device", "block": "block device", "socket": "socket",
               "link": "symbolic link"}


def resolve(target: Target, specs: list[SourceSpec], notes: list[str]) -> list[Stream]:
    """Turn specs into streams; what cannot be read becomes a note, never an exception."""
    streams: list[Stream] = []
    for spec in specs:
        label = str(spec)
        if spec.kind == "docker":
            streams.append(Stream(name=f"docker:{spec.value}", kind="docker", service=spec.service or spec.value, spec=spec))
            continue
        if spec.kind == "journald":
            unit = spec.value[:-8] if spec.value.endswith(".service") else spec.value
            streams.append(Stream(name=f"journald:{spec.value}", kind="journald", service=spec.service or unit, spec=spec))
            continue
        path = spec.value if spec.kind == "file" else f"{LIBVIRT_QEMU_LOGS}/{spec.value}.log"
        kind = "libvirt" if spec.kind == "libvirt" else "file"
        try:
            st = target.stat(path)
        except (NotCaptured, TargetError) as exc:
            notes.append(f"{label}: not read: {exc}")
            continue
        if st is None:
            notes.append(f"{label}: {path} does not exist")
            continue
        if st.kind not in ("dir", "file"):
            notes.append(f"{label}: {path} is a {_KIND_NAMES.get(st.kind, st.kind)}, not a log file: refused")
            continue
        if path.split("/")[1:2] in (["proc"], ["sys"], ["dev"]):
            notes.append(f"{label}: {path} is in /{path.split('/')[1]} (kernel state, not a log): refused")
            continue
        if st.kind == "dir":
            try:
                entries = target.listdir(path) or []
            except (NotCaptured, TargetError) as exc:
                notes.append(f"{label}: directory not listed: {exc}")
                continue
            names = sorted((e for e in entries if LOG_NAME.search(e)), key=_rotation_key)
            if not names:
                notes.append(f"{label}: no log files in {path}")
            for entry in names:
                stream = _file_stream(target, posixpath.join(path, entry), spec.service or _service_of(entry), kind, spec)
                if stream:
                    streams.append(stream)
            continue
        default = spec.service or (spec.value if spec.kind == "libvirt" else _service_of(posixpath.basename(path)))
        for member in _with_rotated(target, path):
            stream = _file_stream(target, member, default, kind, spec)
            if stream:
                streams.append(stream)
    return streams


def default_specs(profile: Any) -> list[SourceSpec]:
    configured = profile.get("logs_sources")
    if configured:
        return [parse_source_spec(s) for s in configured]
    return [SourceSpec("docker", name) for name in profile.get("logs_services")]


def reference_time(target: Target, stream: Stream, settings: ScanSettings) -> float | None:
    """A time no line of the stream was written after, for its yearless times: the file's mtime, else
    the end of the window, else the target's now (a snapshot's capture time)."""
    if stream.host_path is not None:
        ident = bigfile.identity(stream.host_path)
        if ident is not None:
            return ident.mtime_ns / 1e9
    if settings.until is not None:
        return settings.until
    now = target.now()
    return float(now) if isinstance(now, (int, float)) else None


def skip_old(stream: Stream, settings: ScanSettings) -> bool:
    """A local file last modified before ``since`` holds no line of the window."""
    if settings.since is None or stream.host_path is None or stream.kind == "docker":
        return False
    ident = bigfile.identity(stream.host_path)
    return ident is not None and ident.mtime_ns / 1e9 < settings.since - 1
