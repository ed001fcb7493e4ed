"""The tool's own logs: structlog to stderr, JSON when stderr is not a terminal (or asked for), every
line bound to the run_id the report carries. stdout is only for the report.

structlog (and through it rich) costs tens of milliseconds to import, so the logger returned here is
lazy: events below the configured level are dropped without importing anything, and structlog is set
up on the first event that is actually emitted.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

def new_run_id() -> str:
    """The id a run's report and every one of its log lines carry."""
    import os

    return os.urandom(6).hex()  # 12 hex digits; os.urandom, not uuid (which imports platform, ~3 ms)


DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40  # the logging module's numbers, without importing it
LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR}


class LazyLogger:
    def __init__(self, run_id: str, fmt: str = "auto", level: str = "warning") -> None:
        self.run_id = run_id
        self.fmt = fmt
        self.threshold = LEVELS.get(level, WARNING)
        self._logger: Any = None
        self._lock = threading.Lock()

    def _real(self) -> Any:
        with self._lock:
            if self._logger is None:
                self._logger = _configure_structlog(self.run_id, self.fmt, self.threshold)
            return self._logger

    def _emit(self, level: int, name: str, event: str, **kw: Any) -> None:
        if level < self.threshold:
            return
        getattr(self._real(), name)(event, **kw)

    def debug(self, event: str, **kw: Any) -> None:
        self._emit(DEBUG, "debug", event, **kw)

    def info(self, event: str, **kw: Any) -> None:
        self._emit(INFO, "info", event, **kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._emit(WARNING, "warning", event, **kw)

    def error(self, event: str, **kw: Any) -> None:
        self._emit(ERROR, "error", event, **kw)


def _configure_structlog(run_id: str, fmt: str, threshold: int) -> Any:
    import structlog

    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)
    return structlog.get_logger("autoglm_doctor")


def configure(run_id: str, fmt: str = "auto", level: str = "warning") -> LazyLogger:
    """A logger bound to ``run_id`` (structlog is imported on the first emitted event)."""
    return LazyLogger(run_id, fmt, level)
