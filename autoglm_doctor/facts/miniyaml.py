"""A strict reader for the YAML subset netplan files use (PyYAML is not a dependency of the doctor).

Supported: block mappings and sequences (including ``- key: value`` items), one-line flow sequences and
mappings (``[a, b]``, ``{a: 1}``), plain and quoted scalars, comments, a leading ``---``. Scalars are
returned as strings; the caller interprets booleans and numbers the way netplan does.

``YamlError`` is raised for text that is not valid YAML (tabs in indentation, broken indentation,
unclosed brackets or quotes, duplicate keys) — netplan rejects those too. ``YamlUnsupported`` is raised
for valid YAML outside the subset (anchors, aliases, tags, block scalars, multi-line flow collections):
the doctor then says it could not evaluate the file, never that the file is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class YamlError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class YamlUnsupported(YamlError):
    pass


@dataclass
class _Line:
    indent: int
    text: str
    no: int


def _strip_comment(raw: str) -> str:
    quote = ""
    for i, ch in enumerate(raw):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"" and (i == 0 or raw[i - 1] in " \t[{,:-"):
            quote = ch
        elif ch == "#" and (i == 0 or raw[i - 1] in " \t"):
            return raw[:i]
    return raw


def _lines(text: str) -> list[_Line]:
    out = []
    for no, raw in enumerate(text.splitlines(), 1):
        body = _strip_comment(raw).rstrip()
        if not body.strip():
            continue
        if "\t" in body[: len(body) - len(body.lstrip(" \t"))]:
            raise YamlError(no, "tab character in indentation (YAML allows spaces only)")
        stripped = body.lstrip(" ")
        if stripped in ("---", "...") and not out and stripped == "---":
            continue
        if stripped in ("---", "..."):
            if stripped == "---":
                raise YamlUnsupported(no, "more than one YAML document in the file")
            continue
        out.append(_Line(len(body) - len(stripped), stripped, no))
    return out


def _split_key(text: str, no: int) -> tuple[str, str] | None:
    """'key: rest' -> (key, rest); None when the line is not a mapping entry."""
    quote, depth = "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"" and i == 0:
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == ":" and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            return _scalar(text[:i].strip(), no), text[i + 1:].strip()
    return None


def _scalar(text: str, no: int) -> str:
    if not text:
        return ""
    if text[0] in "&*!":
        raise YamlUnsupported(no, f"anchors, aliases and tags are not supported ({text[:20]!r})")
    if text[0] in "|>":
        raise YamlUnsupported(no, "block scalars (| or >) are not supported")
    if text[0] in "'\"":
        q = text[0]
        if len(text) < 2 or text[-1] != q:
            raise YamlError(no, f"unterminated quoted string {text[:30]!r}")
        body = text[1:-1]
        if q == "'":
            return body.replace("''", "'")
        return body.encode("latin-1", "backslashreplace").decode("unicode_escape") if "\\" in body else body
    if text[0] in "@`":
        raise YamlError(no, f"a plain scalar cannot start with {text[0]!r}")
    return text


class _Flow:
    def __init__(self, text: str, no: int) -> None:
        self.s, self.i, self.no = text, 0, no

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1

    def value(self) -> Any:
        self.ws()
        if self.i >= len(self.s):
            raise YamlUnsupported(self.no, "flow collection continues on the next line (not supported)")
        ch = self.s[self.i]
        if ch == "[":
            return self.seq()
        if ch == "{":
            return self.map()
        if ch in "'\"":
            end = self.s.find(ch, self.i + 1)
            if end < 0:
                raise YamlError(self.no, "unterminated quoted string in a flow collection")
            token = self.s[self.i:end + 1]
            self.i = end + 1
            return _scalar(token, self.no)
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in ",]}" and not (
            self.s[self.i] == ":" and self.s[self.i + 1:self.i + 2] in (" ", "")
        ):
            self.i += 1
        return _scalar(self.s[start:self.i].strip(), self.no)

    def seq(self) -> list:
        self.i += 1
        out: list = []
        while True:
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == "]":
                self.i += 1
                return out
            out.append(self.value())
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
            elif self.i >= len(self.s):
                raise YamlUnsupported(self.no, "flow sequence continues on the next line (not supported)")
            elif self.s[self.i] != "]":
                raise YamlError(self.no, f"unexpected {self.s[self.i]!r} in a flow sequence")

    def map(self) -> dict:
        self.i += 1
        out: dict = {}
        while True:
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == "}":
                self.i += 1
                return out
            key = self.value()
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ":":
                raise YamlError(self.no, "flow mapping entry without ':'")
            self.i += 1
            if key in out:
                raise YamlError(self.no, f"duplicate key {key!r}")
            out[key] = self.value()
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
            elif self.i >= len(self.s) or self.s[self.i] != "}":
                raise YamlError(self.no, "flow mapping not closed with '}'")


def _inline(text: str, no: int) -> Any:
    if text[0] in "[{":
        flow = _Flow(text, no)
        value = flow.value()
        flow.ws()
        if flow.i != len(text):
            raise YamlError(no, f"unexpected text after a flow collection: {text[flow.i:][:30]!r}")
        return value
    if _split_key(text, no) is not None and text[0] not in "'\"":
        raise YamlError(no, f"mapping values are not allowed here ({text[:40]!r})")
    return _scalar(text, no)


class _Parser:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines

    def block(self, i: int, indent: int) -> tuple[Any, int]:
        if self.lines[i].text == "-" or self.lines[i].text.startswith("- "):
            return self.seq(i, indent)
        return self.map(i, indent)

    def nested(self, i: int, indent: int, allow_seq_same: bool) -> tuple[Any, int]:
        """The value of a key/item whose text is empty: a deeper block, or nothing."""
        if i < len(self.lines):
            nxt = self.lines[i]
            if nxt.indent > indent:
                return self.block(i, nxt.indent)
            if allow_seq_same and nxt.indent == indent and (nxt.text == "-" or nxt.text.startswith("- ")):
                return self.seq(i, indent)
        return None, i

    def map(self, i: int, indent: int) -> tuple[dict, int]:
        out: dict = {}
        while i < len(self.lines) and self.lines[i].indent == indent:
            line = self.lines[i]
            if line.text == "-" or line.text.startswith("- "):
                raise YamlError(line.no, "a sequence item where a mapping key was expected")
            kv = _split_key(line.text, line.no)
            if kv is None:
                raise YamlError(line.no, f"expected 'key: value', got {line.text[:40]!r}")
            key, rest = kv
            if key in out:
                raise YamlError(line.no, f"duplicate key {key!r}")
            if rest:
                out[key], i = _inline(rest, line.no), i + 1
            else:
                out[key], i = self.nested(i + 1, indent, allow_seq_same=True)
        if i < len(self.lines) and self.lines[i].indent > indent:
            raise YamlError(self.lines[i].no, "bad indentation (deeper than the mapping it follows)")
        return out, i

    def seq(self, i: int, indent: int) -> tuple[list, int]:
        out: list = []
        while i < len(self.lines) and self.lines[i].indent == indent:
            line = self.lines[i]
            if not (line.text == "-" or line.text.startswith("- ")):
                break
            rest = line.text[1:].lstrip(" ")
            if not rest:
                value, i = self.nested(i + 1, indent, allow_seq_same=False)
                out.append(value)
                continue
            col = indent + len(line.text) - len(rest)
            if rest[0] not in "[{'\"" and _split_key(rest, line.no) is not None:
                self.lines[i] = _Line(col, rest, line.no)
                value, i = self.map(i, col)
            elif rest.startswith("- "):
                self.lines[i] = _Line(col, rest, line.no)
                value, i = self.seq(i, col)
            else:
                value, i = _inline(rest, line.no), i + 1
            out.append(value)
        if i < len(self.lines) and self.lines[i].indent > indent:
            raise YamlError(self.lines[i].no, "bad indentation (deeper than the sequence it follows)")
        return out, i


def loads(text: str) -> Any:
    lines = _lines(text)
    if not lines:
        return None
    parser = _Parser(lines)
    value, i = parser.block(0, lines[0].indent)
    if i != len(lines):
        raise YamlError(lines[i].no, "bad indentation (less than the document's first line, or unexpected)")
    return value
