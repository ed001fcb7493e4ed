"""Secret redaction for everything a report or log carries."""

from __future__ import annotations

import re
from typing import Any

MASK = "***REDACTED***"
_PATTERNS = (
    # key=value / key: value / "key": "value" for secret-looking keys
    re.compile(
        r"""(?ix)
        (?P<key>["']?[\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)[\w.-]*["']?)
        (?P<sep>\s*[=:]\s*)
        (?P<value>"[^"]*"|'[^']*'|[^\s,;&}]+)
        """
    ),
    re.compile(r"(?i)(?P<key>authorization)(?P<sep>\s*[=:]\s*)(?P<value>(?:bearer|basic|token)\s+\S+|\S+)"),
)
_BARE = (
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}\b"),  # OpenAI-style API keys
    re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"),  # Hugging Face tokens
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),  # GitHub tokens
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
)


def redact(value: Any) -> Any:
    """Return ``value`` with secrets masked; walks dicts and lists, leaves non-strings alone."""
    if isinstance(value, str):
        text = value
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: f"{m.group('key')}{m.group('sep')}{MASK}", text)
        for pattern in _BARE:
            text = pattern.sub(MASK, text)
        return text
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
