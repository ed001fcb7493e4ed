"""Calls that may block inside C, run where they can be abandoned.

libvirt-python's calls block in C with the GIL released: a daemon that accepts the connection and never
answers holds ``openReadOnly`` (or any later call) for as long as the kernel keeps the socket, and no
Python-level timeout can interrupt it. So such a call runs in a daemon thread and the caller waits only
until its deadline; past it the call is abandoned (the thread ends with the process, whatever it is
blocked in) and the caller gets ``CallTimedOut``. An adapter that saw one abandoned call treats its
connection as dead, so later checks fail at once instead of each waiting out its own budget.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

from autoglm_doctor.targets.base import DeadlineExceeded


class CallTimedOut(DeadlineExceeded):
    """The call did not return within its deadline and was abandoned."""


def env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if 0 < value < 86400 else default


def call_abandonable(fn: Callable[..., Any], *args: Any, timeout: float, what: str) -> Any:
    """``fn(*args)`` in a daemon thread; its result or exception, or CallTimedOut after ``timeout`` s."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"abandonable:{what}", daemon=True).start()
    if not done.wait(timeout):
        raise CallTimedOut(f"{what}: no answer within {timeout:g}s (the call was abandoned)")
    if "error" in box:
        raise box["error"]
    return box.get("value")
