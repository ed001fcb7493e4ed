"""Secret redaction for everything a report, a log output or a snapshot carries: values of
secret-looking keys (``HF_TOKEN=…``, ``"api_key": "…"``, ``DB_PASS=…``, ``passwd='…'`` in domain
XML) and known token shapes wherever they stand (OpenAI ``sk-``, Hugging Face ``hf_``, GitHub
``ghp_``/``github_pat_``, AWS key ids, JWTs, ``Authorization:``/``Bearer`` credentials, URL
passwords). A quoted value keeps its quotes, so JSON and XML stay well-formed.

Redaction runs after the per-check timeouts stop applying (when a report is rendered), on text that came
from the outside world (a model server's model list, a log line), so it must take time linear in the
text whatever the text is. A pattern like ``[\\w.-]*(?:password|token)[\\w.-]*`` is quadratic: the regex
engine tries the leading ``[\\w.-]*`` at every position of a long word (5 KB of word characters took 1 s,
50 KB 104 s). So:

- ``key = value`` secrets are found from the *keyword* (``token``, ``password``…), a literal the engine
  rejects in one step almost everywhere; the rest of the key, the separator and the value are matched
  from there with bounded or possessive quantifiers, so an attempt costs a bounded number of steps
  (the key's start, which the old pattern searched for, is kept as it was and needs no matching);
- the bare-token patterns (API keys, bearer tokens, ``user:password@``) use possessive quantifiers and
  lookaheads that cannot fail after consuming a long run.
"""

from __future__ import annotations

import functools
import re
from typing import Any

MASK = "***REDACTED***"
_KEY_TAIL = 128  # key characters after the keyword ("token_for_prod")
_QUOTED = 8192  # a quoted value longer than this is treated as unquoted
_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}  # ASCII only: keeps every position

# Patterns run on an ASCII-lowered copy of the text (a case-insensitive regex costs ~1 us a character in
# CPython's engine, a case-sensitive one a tenth of that); the masks are applied to the original text.
# ``head`` is kept, ``value`` (or the whole match, without those groups) becomes MASK. Each entry has
# the literals that must all be in the text for it to match, so a clean text skips the regex entirely.
_SOURCES = (
    # key=value / key: value / "key": "value" for secret-looking keys, found from the keyword
    (rf"""(?P<head>(?:password|passwd|pass(?:phrase)?(?![a-z])|secret|token|api[_-]?key|access[_-]?key"""
     rf"""|private[_-]?key|credential)[\w.-]{{0,{_KEY_TAIL}}}+["']?\s{{0,16}}+[=:]\s{{0,16}}+)"""
     rf"""(?P<value>"[^"]{{0,{_QUOTED}}}+"|'[^']{{0,{_QUOTED}}}+'|[^\s,;&}}\x00"']++)""",
     True, ()),
    (rf"""(?P<head>authorization["']?\s{{0,16}}+[=:]\s{{0,16}}+)"""
     rf"""(?P<value>"[^"]{{0,{_QUOTED}}}+"|'[^']{{0,{_QUOTED}}}+'|(?:bearer|basic|token)\s{{1,16}}+[^\s"',;]++"""
     r"""|[^\s"',;]++)""",
     True, ("authorization",)),
    (r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}+(?![A-Za-z0-9_-])", False, ("k-",)),  # OpenAI-style API keys
    (r"\bhf_[A-Za-z0-9]{20,}+\b", False, ("hf_",)),  # Hugging Face tokens
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", False, ("IA",)),  # AWS access key ids (long-term, temporary)
    (r"\bgh[pousr]_[A-Za-z0-9]{30,}+\b", False, ("gh",)),  # GitHub tokens
    (r"\bgithub_pat_[A-Za-z0-9_]{22,}+\b", False, ("github_pat_",)),  # GitHub fine-grained tokens
    (r"\beyJ[A-Za-z0-9_-]{10,}+\.[A-Za-z0-9_-]{10,}+\.[A-Za-z0-9_-]{10,}+", False, ("eyJ",)),  # JWTs
    (r"\bbearer\s{1,16}+[A-Za-z0-9._~+/=-]{8,}+", True, ("bearer",)),
    (r"(?<=://)[^/\s:@]++:[^/\s@]++(?=@)", False, ("://", "@")),  # user:password@ in URLs
)
_KEY_STEMS = ("pass", "secret", "token", "key", "credential")  # every keyword of the first pattern holds one
# In a run of key characters only its last _KEY_TAIL + 32 can hold a keyword that reaches a separator:
# the rest is blanked in the scanned copy, so "tokentoken…" (10 MB) costs one pass, not one per keyword.
_LONG_RUN = re.compile(rf"(?<![\w.-])[\w.-]{{{_KEY_TAIL + 256},}}+")


def _blank_long_runs(scan: str) -> str:
    keep = _KEY_TAIL + 32
    return _LONG_RUN.sub(lambda m: "#" * (len(m.group()) - keep) + m.group()[-keep:], scan)


@functools.lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[re.Pattern[str], bool, tuple[str, ...]], ...]:
    """Compiled on first use: most runs redact little, and start-up time matters."""
    return tuple((re.compile(src), lowered, needles or _KEY_STEMS) for src, lowered, needles in _SOURCES)


def _mask(pattern: re.Pattern[str], text: str, scan: str) -> str:
    out: list[str] = []
    done = 0
    has_value = "value" in pattern.groupindex
    for m in pattern.finditer(scan):
        start, end = m.span("value") if has_value else m.span()
        quote = text[start] if has_value and text[start] in "'\"" else ""  # JSON and XML stay well-formed
        out.append(text[done:start])
        out.append(f"{quote}{MASK}{quote}")
        done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def redact_text(text: str) -> str:
    for pattern, lowered, needles in _compiled():
        scan = text.translate(_LOWER) if lowered else text
        present = any if needles is _KEY_STEMS else all
        if present(n in scan for n in needles):
            if needles is _KEY_STEMS:
                scan = _blank_long_runs(scan)
            text = _mask(pattern, text, scan)
    return text


def redact(value: Any) -> Any:
    """Return ``value`` with secrets masked; walks dicts and lists, leaves non-strings alone."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
