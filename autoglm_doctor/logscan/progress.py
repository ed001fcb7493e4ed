"""Progress of a long scan: a callback ``(bytes done, bytes in all)`` and the terminal bar that
``trace`` and ``logs`` show on stderr."""

from __future__ import annotations

import time
from typing import Any, Callable

Progress = Callable[[int, int], Any]


class TerminalProgress:
    """A progress bar on stderr, only on a terminal and only once a scan has run for a second."""

    def __init__(self, label: str, stream: Any = None) -> None:
        import sys

        self.out = stream or sys.stderr
        self.enabled = self.out.isatty()
        self.start = time.monotonic()
        self.label = label
        self.shown = False
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.start < 1.0 or now - self.last < 0.1:
            return
        self.last = now
        self.shown = True
        frac = min(1.0, done / total) if total else 0.0
        bar = "#" * int(frac * 30)
        rate = done / (now - self.start) / 1e6
        self.out.write(f"\r{self.label} [{bar:<30}] {frac * 100:5.1f}% {rate:7.1f} MB/s")
        self.out.flush()

    def finish(self) -> None:
        if self.shown:
            self.out.write("\r\033[K")
            self.out.flush()
