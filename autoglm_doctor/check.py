"""Base classes for checks and the context they run in."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping, TypeVar

from autoglm_doctor.model import CheckMeta, Finding, Severity, Status
from autoglm_doctor.targets.base import DeadlineExceeded, Target

if TYPE_CHECKING:
    from autoglm_doctor.config import Profile

T = TypeVar("T")


class Context:
    """What a check receives: the target, the deployment profile and a shared, lazily computed,
    thread-safe cache of facts (parsed views of the target)."""

    def __init__(self, target: Target, profile: Profile, peers: Mapping[str, Target] | None = None) -> None:
        self.target: Target = target
        self.profile: Profile = profile
        # the other systems of this run (the guests of a host run, by target name): cross checks (xcheck.*)
        # read them through their own contexts, each with its own fact cache
        self.peers: dict[str, Context] = {name: Context(t, profile) for name, t in (peers or {}).items()}
        # one "now" for the whole run, taken from the target: a snapshot answers with its capture time,
        # so time windows (e.g. "logs of the last hour") replay exactly; ``clock_known`` is False for a
        # hand-made snapshot that records no time (its "now" is the reader's)
        self.now: float = target.now()
        self.clock_known: bool = bool(target.has_clock)
        self._facts: dict[Callable[..., Any], tuple[bool, Any]] = {}
        self._locks: dict[Callable[..., Any], threading.Lock] = {}
        self._guard = threading.Lock()

    def view(self, target: Target) -> "Context":
        """The same run (profile, now, fact cache) seen through another target: the runner gives each
        check the run's target wrapped in that check's deadline."""
        other = object.__new__(Context)
        other.__dict__.update(self.__dict__)
        other.target = target
        return other

    def fact(self, producer: Callable[["Context"], T]) -> T:
        """Compute ``producer(ctx)`` once per run; later calls get the same value (or exception)."""
        with self._guard:
            lock = self._locks.setdefault(producer, threading.Lock())
        with lock:
            if producer not in self._facts:
                try:
                    self._facts[producer] = (True, producer(self))
                except DeadlineExceeded:
                    raise  # the reading check's budget ran out: the next reader computes it afresh
                except BaseException as exc:  # noqa: BLE001 - cached and re-raised to every reader
                    self._facts[producer] = (False, exc)
            ok, value = self._facts[producer]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]  # what ``producer`` returned for this run


def docs_link(check_id: str) -> str:
    """Where a check is documented: its section of the generated catalogue."""
    return f"docs/checks.md#{check_id.replace('.', '-')}"


class Check(ABC):
    """A check is pure: ``run(ctx)`` reads through ``ctx.target`` and yields findings. It never
    prints, exits or keeps state. Raising ``NotCaptured``/``AdapterUnavailable`` means skip;
    ``TargetError`` or anything else becomes an ``error`` finding (done by the runner)."""

    meta: ClassVar[CheckMeta]

    @abstractmethod
    def run(self, ctx: Context) -> Iterable[Finding]: ...

    # -- finding helpers --------------------------------------------------------------------
    def finding(
        self,
        status: Status,
        message: str,
        *,
        resource: str = "",
        observed: Any = None,
        expected: Any = None,
        remediation: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        meta = self.meta
        failing = status in (Status.FAIL, Status.WARN)
        return Finding(
            check_id=meta.id,
            status=status,
            severity=severity or meta.severity,
            title=meta.title,
            message=message,
            resource=resource,
            observed=observed,
            expected=expected,
            remediation=remediation if remediation is not None else (meta.remediation if failing else ""),
            fix_id=meta.fix if failing else None,
        )

    def passed(self, message: str, **kw: Any) -> Finding:
        return self.finding(Status.PASS, message, **kw)

    def warn(self, message: str, **kw: Any) -> Finding:
        return self.finding(Status.WARN, message, **kw)

    def fail(self, message: str, **kw: Any) -> Finding:
        return self.finding(Status.FAIL, message, **kw)

    def skip(self, message: str, **kw: Any) -> Finding:
        return self.finding(Status.SKIP, message, **kw)

    def error(self, message: str, **kw: Any) -> Finding:
        return self.finding(Status.ERROR, message, **kw)

    def pass_or_fail(self, ok: bool, passed: str, failed: str | None = None, **kw: Any) -> Finding:
        """The common tail of a threshold check: ``passed`` when ``ok``, else a failure saying
        ``failed`` (the same message when None); ``kw`` (resource, observed, expected) for both."""
        return self.passed(passed, **kw) if ok else self.fail(passed if failed is None else failed, **kw)
