"""A tiny HTTP GET adapter (standard library only) so that endpoint probes go through the Target:
a recorder captures the answer and a snapshot replays it. Failures are *results*, not exceptions:
``{"status": None, "error": {"kind": "refused"|"timeout"|"reset"|"dns"|"unreachable"|"other", ...}}``.

``timeout`` is the budget of the whole request, not of one socket read: urllib's timeout applies to each
``recv``, so a server trickling a byte every 2 s would hold a 5 s probe for ever. The request runs in a
thread that can be abandoned (adapters/abandon.py), the body is read in chunks against the same deadline,
and past it the answer is a "timeout" error."""

from __future__ import annotations

import errno
import os
import socket
import time
import urllib.error
import urllib.request
from typing import Any

from autoglm_doctor.adapters.abandon import CallTimedOut, call_abandonable

MAX_BODY = 64 * 1024


def _error(kind: str, message: str, elapsed: float) -> dict[str, Any]:
    return {"status": None, "body": None, "elapsed_ms": round(elapsed * 1000, 1),
            "error": {"kind": kind, "message": message}}


def _classify(reason: Any) -> str:
    if isinstance(reason, socket.timeout) or isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "timeout"
    if isinstance(reason, ConnectionRefusedError) or getattr(reason, "errno", None) == errno.ECONNREFUSED:
        return "refused"
    if isinstance(reason, ConnectionResetError) or getattr(reason, "errno", None) == errno.ECONNRESET:
        return "reset"
    if isinstance(reason, socket.gaierror):
        return "dns"
    if getattr(reason, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return "other"


def _read_until(resp: Any, deadline: float) -> bytes:
    """Up to MAX_BODY + 1 bytes, in chunks, giving up at the deadline."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY:
        if time.monotonic() > deadline:
            raise socket.timeout("the answer did not complete in time (overall)")
        chunk = resp.read1(min(16384, MAX_BODY + 1 - size)) if hasattr(resp, "read1") else resp.read(1024)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _fetch(request: Any, timeout: float, deadline: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            return resp.status, _read_until(resp, deadline)
    except urllib.error.HTTPError as exc:
        return exc.code, (_read_until(exc, deadline) if exc.fp else b"")


class HttpAdapter:
    API = ("get",)

    @classmethod
    def connect(cls) -> "HttpAdapter":
        return cls()

    def get(self, url: str, timeout: float = 5.0, auth_env: str | None = None) -> dict[str, Any]:
        """GET ``url``; with ``auth_env`` the value of that environment variable (of the process running
        the probe) is sent as a Bearer token — only the variable's name is an argument, so a recorded
        call never holds the key."""
        if not url.startswith(("http://", "https://")):
            return _error("other", f"not an http(s) URL: {url!r}", 0.0)
        headers = {"Accept": "application/json", "User-Agent": "autoglm-doctor"}
        key = os.environ.get(auth_env, "") if auth_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(url, headers=headers)
        start = time.monotonic()
        deadline = start + timeout
        try:
            status, body = call_abandonable(_fetch, request, timeout, deadline, timeout=timeout + 0.2,
                                            what=f"GET {url}")
        except CallTimedOut:
            return _error("timeout", f"no complete answer within {timeout:g}s (overall)", time.monotonic() - start)
        except urllib.error.URLError as exc:
            return _error(_classify(exc.reason), str(exc.reason), time.monotonic() - start)
        except (OSError, ValueError) as exc:
            return _error(_classify(exc), f"{type(exc).__name__}: {exc}", time.monotonic() - start)
        return {
            "status": status,
            "body": body[:MAX_BODY].decode("utf-8", "replace"),
            "truncated": len(body) > MAX_BODY,
            "elapsed_ms": round((time.monotonic() - start) * 1000, 1),
            "error": None,
            "key_sent": bool(key),
        }

    def close(self) -> None:
        return None
