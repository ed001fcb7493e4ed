"""The tool's own logs: structlog to stderr, JSON when stderr is not a terminal (or asked for),
every line bound to the run_id the report carries. stdout is only for the report."""

from __future__ import annotations

import logging
import sys
from typing import Any

_configured = False


def configure(run_id: str, fmt: str = "auto", level: str = "warning") -> Any:
    """Set up structlog once per process and return a logger bound to ``run_id``."""
    global _configured
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
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.WARNING)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)
    _configured = True
    return structlog.get_logger("autoglm_doctor")


def get_logger() -> Any:
    if not _configured:
        return _Null()
    import structlog

    return structlog.get_logger("autoglm_doctor")


class _Null:
    def __getattr__(self, _name: str) -> Any:
        return lambda *a, **k: None
