"""The process table of the local host through psutil: listening sockets with the process that owns
each one, processes; and the CPU and memory counts.

Finding the owner of a socket from /proc means reading every /proc/PID/fd link of every process (one
readlink per descriptor: tens of thousands on a busy host). psutil does that walk in one call, in
its C extension. Answers are plain JSON, so a recorder captures them and a snapshot replays them like
the docker answers; a target without this adapter (a hand-made snapshot, a remote system) keeps
reading /proc/net/tcp through the Target. Imported lazily: psutil is never loaded by a check, and
only by the calls that need it: the counts are the kernel's own (sysconf: the online CPUs, and the
physical pages that /proc/meminfo's MemTotal counts, the very numbers psutil reports), so the
host.resources checks do not pay psutil's import at start-up.
"""

from __future__ import annotations

import os
from typing import Any

from autoglm_doctor.targets.base import AdapterUnavailable, TargetError

MAX_PROCESSES = 20_000


class ProcAdapter:
    API = ("listeners", "processes", "counts")

    def __init__(self) -> None:
        self._psutil: Any = None

    @classmethod
    def connect(cls) -> "ProcAdapter":
        return cls()

    @property
    def _ps(self) -> Any:
        if self._psutil is None:
            try:
                import psutil
            except ImportError as exc:
                raise AdapterUnavailable("psutil is not installed", hint="pip install psutil",
                                         reason="missing") from exc
            self._psutil = psutil
        return self._psutil

    def listeners(self) -> list[dict[str, Any]]:
        """Listening TCP sockets: address, port, owning pid and process name (None when not visible)."""
        ps = self._ps
        try:
            conns = ps.net_connections(kind="tcp")
        except (ps.Error, OSError) as exc:
            raise TargetError(f"listening sockets: {exc}") from exc
        names: dict[int, str] = {}
        out = []
        for c in conns:
            if c.status != ps.CONN_LISTEN or not c.laddr:
                continue
            name = None
            if c.pid is not None:
                if c.pid not in names:
                    try:
                        names[c.pid] = ps.Process(c.pid).name()
                    except (ps.Error, OSError):
                        names[c.pid] = "?"
                name = names[c.pid]
            out.append({"address": c.laddr.ip, "port": c.laddr.port, "pid": c.pid, "name": name})
        return sorted(out, key=lambda d: (d["port"], d["address"], d["pid"] or 0))

    def processes(self) -> list[dict[str, Any]]:
        """pid, name, user and command line of every process (at most MAX_PROCESSES)."""
        ps = self._ps
        out = []
        for proc in ps.process_iter(["pid", "name", "username", "cmdline"]):
            info = proc.info
            out.append({"pid": info["pid"], "name": info["name"], "user": info["username"],
                        "cmdline": list(info["cmdline"] or [])[:64]})
            if len(out) >= MAX_PROCESSES:
                break
        return out

    def counts(self) -> dict[str, Any]:
        """Online logical CPUs and total memory in bytes (sysinfo's totalram: /proc/meminfo's MemTotal)."""
        try:
            return {"cpus": os.sysconf("SC_NPROCESSORS_ONLN"),
                    "memory_total": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")}
        except (OSError, ValueError) as exc:
            raise TargetError(f"CPU and memory counts: {exc}") from exc
