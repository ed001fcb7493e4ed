"""A tiny HTTP GET adapter (standard library only) so that endpoint probes go through the Target:
a recorder captures the answer and a snapshot replays it. Failures are *results*, not exceptions:
``{"status": None, "error": {"kind": "refused"|"timeout"|"reset"|"dns"|"unreachable"|"other", ...}}``."""

from __future__ import annotations

import errno
import socket
import time
import urllib.error
import urllib.request
from typing import Any

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


class HttpAdapter:
    API = ("get",)

    @classmethod
    def connect(cls) -> "HttpAdapter":
        return cls()

    def get(self, url: str, timeout: float = 5.0) -> dict[str, Any]:
        if not url.startswith(("http://", "https://")):
            return _error("other", f"not an http(s) URL: {url!r}", 0.0)
        request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                        "User-Agent": "autoglm-doctor"})
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - http(s) only
                body = resp.read(MAX_BODY + 1)
                status = resp.status
        except urllib.error.HTTPError as exc:
            body = exc.read(MAX_BODY + 1) if exc.fp else b""
            status = exc.code
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
        }

    def close(self) -> None:
        return None
