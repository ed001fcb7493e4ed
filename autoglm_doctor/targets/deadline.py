"""A check's view of the target, bounded in time.

Python cannot interrupt a thread, so a check past its budget used to be *abandoned*: the runner
reported it timed out while its thread kept reading (and, during ``collect``, kept writing into the
recorder). Every check now reads through a ``DeadlineTarget``: each call first compares the clock
with the check's deadline (the earlier of its own budget and the whole run's) and raises
``DeadlineExceeded`` instead of reading, and a command's timeout is cut to what is left. A check
that overruns therefore stops at its next read. Adapter calls are bounded the same way.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from autoglm_doctor.targets.base import (
    CommandResult,
    DeadlineExceeded,
    DiskUsage,
    StatResult,
    Target,
    TargetError,
)

Clock = Callable[[], float]


class DeadlineTarget:
    """Wraps ``inner`` so that no call starts after ``deadline`` (a ``clock()`` value)."""

    def __init__(self, inner: Target, deadline: float, *, clock: Clock = time.monotonic,
                 what: str = "the check's time budget") -> None:
        self.inner = inner
        self.deadline = deadline
        self.clock = clock
        self.what = what
        self.name: str = inner.name
        self.kind: str = inner.kind
        self.role: str = inner.role
        self.can_run: bool = inner.can_run
        self.writable = False  # checks only read: the fix engine gets the target itself
        self.has_clock: bool = inner.has_clock
        self.adapters: frozenset[str] = inner.adapters

    def remaining(self) -> float:
        left = self.deadline - self.clock()
        if left <= 0:
            raise DeadlineExceeded(f"{self.what} ran out")
        return left

    # -- the Target protocol, each call bounded -----------------------------------------------
    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes | None:
        self.remaining()
        return self.inner.read_bytes(path, limit=limit)

    def read_text(self, path: str) -> str | None:
        self.remaining()
        return self.inner.read_text(path)

    def read_range(self, path: str, offset: int, length: int) -> bytes | None:
        self.remaining()
        return self.inner.read_range(path, offset, length)

    def read_many(self, paths: Sequence[str], *, limit: int | None = None) -> dict[str, bytes | None | TargetError]:
        self.remaining()
        return self.inner.read_many(paths, limit=limit)

    def host_path(self, path: str) -> str | None:
        self.remaining()
        return self.inner.host_path(path)

    def listdir(self, path: str) -> list[str] | None:
        self.remaining()
        return self.inner.listdir(path)

    def readlink(self, path: str) -> str | None:
        self.remaining()
        return self.inner.readlink(path)

    def stat(self, path: str, *, follow: bool = True) -> StatResult | None:
        self.remaining()
        return self.inner.stat(path, follow=follow)

    def getxattr(self, path: str, name: str) -> bytes | None:
        self.remaining()
        return self.inner.getxattr(path, name)

    def disk_usage(self, path: str) -> DiskUsage | None:
        self.remaining()
        return self.inner.disk_usage(path)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        left = self.remaining()
        return self.inner.run(argv, timeout=min(timeout, max(left, 0.001)))

    def adapter(self, kind: str) -> Any:
        self.remaining()
        return _DeadlineAdapter(self.inner.adapter(kind), self)

    def now(self) -> float:
        return self.inner.now()

    def hostname(self) -> str:
        self.remaining()
        return self.inner.hostname()

    def ready(self) -> None:
        self.inner.ready()

    def close(self) -> None:
        """A check does not close the run's target."""

    def __getattr__(self, name: str) -> Any:
        # anything else a target offers (e.g. a sysroot's ``root``): passed through, calls bounded
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self.inner, name)
        if not callable(value):
            return value

        def bounded(*args: Any, **kwargs: Any) -> Any:
            self.remaining()
            return value(*args, **kwargs)

        return bounded


class _DeadlineAdapter:
    def __init__(self, inner: Any, owner: DeadlineTarget) -> None:
        self._inner = inner
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or not callable(value):
            return value

        def bounded(*args: Any, **kwargs: Any) -> Any:
            self._owner.remaining()
            return value(*args, **kwargs)

        return bounded
