"""Secret redaction for everything a report, a log output or a snapshot carries: values of
secret-looking keys (``HF_TOKEN=…``, ``"api_key": "…"``, ``DB_PASS=…``, ``passwd='…'`` in domain
XML) and known token shapes wherever they stand (OpenAI ``sk-``, Hugging Face ``hf_``, GitHub
``ghp_``/``github_pat_``, AWS key ids, JWTs, ``Authorization:``/``Bearer`` credentials, URL
passwords). A quoted value keeps its quotes, so JSON and XML stay well-formed."""

from __future__ import annotations

import functools
import re
from typing import Any

MASK = "***REDACTED***"
_PATTERN_SOURCES = (
    # key=value / key: value / "key": "value" for secret-looking keys
    (
        r"""(?ix)
        (?P<key>["']?[\w.-]*(?:password|passwd|pass(?:phrase)?(?![a-z])|secret|token|api[_-]?key|access[_-]?key
                |private[_-]?key|credential)[\w.-]*["']?)
        (?P<sep>\s*[=:]\s*)
        (?P<value>"[^"]*"|'[^']*'|[^\s,;&}\x00"']+)
        """
    ),
    r"""(?i)(?P<key>authorization)(?P<sep>["']?\s*[=:]\s*)(?P<value>"[^"]*"|'[^']*'|(?:bearer|basic|token)\s+[^\s"',;]+|[^\s"',;]+)""",
)
_BARE_SOURCES = (
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}\b",  # OpenAI-style API keys
    r"\bhf_[A-Za-z0-9]{20,}\b",  # Hugging Face tokens
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids (long-term, temporary)
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",  # GitHub tokens
    r"\bgithub_pat_[A-Za-z0-9_]{22,}\b",  # GitHub fine-grained tokens
    r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",  # JWTs (base64url of '{"')
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
    r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)",  # user:password@ in URLs
)


@functools.lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
    """Compiled on first use: most runs redact little, and start-up time matters."""
    return tuple(re.compile(p) for p in _PATTERN_SOURCES), tuple(re.compile(p) for p in _BARE_SOURCES)


def _masked(m: re.Match[str]) -> str:
    value = m.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{m.group('key')}{m.group('sep')}{quote}{MASK}{quote}"


def redact(value: Any) -> Any:
    """Return ``value`` with secrets masked; walks dicts and lists, leaves non-strings alone."""
    if isinstance(value, str):
        text = value
        patterns, bare = _compiled()
        for pattern in patterns:
            text = pattern.sub(_masked, text)
        for pattern in bare:
            text = pattern.sub(MASK, text)
        return text
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
