"""Holding the native scanner to the exact parser: scan the same bytes both ways and compare every field
of the result, and shrink a disagreement to the one line that shows it.

``ChunkScanner(settings, fast=True)`` reads files with the native scanner where it is built; where it
is not (a machine without a C compiler) the same tests hold the per-line orjson parser to json. CI
builds it: there a missing module fails the tests instead.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, Iterable

import pytest

from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.summary import Summary

FIELDS = ("lines", "outside", "undated", "error_lines", "first_ts", "last_ts", "services", "first_errors", "messages",
          "untraced_errors", "problems", "aliases", "traces", "spans", "service_order")


def native_module() -> ModuleType | None:
    """``logscan._native``, or None where it is not built (a failure in CI, which builds it)."""
    try:
        from autoglm_doctor.logscan import _native
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the native scanner is not built ({exc}); CI builds it (setup.py)")
        return None
    return _native


def pieces(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at each offset, moved to the end of its line (blocks end at line boundaries, as
    ``Stream.blocks`` gives them); empty pieces kept."""
    out = []
    start = 0
    for cut in sorted(cuts):
        cut = min(max(cut, 0), len(data))
        end = cut if cut == 0 or data[cut - 1:cut] == b"\n" else data.find(b"\n", cut) + 1 or len(data)
        end = max(start, end)
        out.append(data[start:end])
        start = end
    out.append(data[start:])
    return out


def scan(data: bytes, settings: ScanSettings, fast: bool, ref: float | None, cuts: Iterable[int] = (),
         service: str = "default", kind: str = "file") -> ChunkResult:
    """``data`` scanned as one stream of ``kind`` (cut into several ``scan`` calls at ``cuts``)."""
    return scan_with(ChunkScanner(settings, fast=fast), data, ref, cuts, service, kind)


def scan_with(scanner: ChunkScanner, data: bytes, ref: float | None, cuts: Iterable[int] = (),
              service: str = "default", kind: str = "file") -> ChunkResult:
    """``scan`` by a given scanner (whose ``native.stats`` the caller reads afterwards)."""
    res = ChunkResult("f")
    scanner.begin(ref)
    for piece in pieces(data, cuts):
        scanner.scan(piece, res, service, kind)
    scanner.finish(res)
    return res


def report(res: ChunkResult, settings: ScanSettings) -> dict:
    summary = Summary(settings)
    summary.merge(res, summary.source("f", "default", "file"))
    out = summary.report()
    for src in out["sources"]:
        src.pop("fast_path_share")
    return out


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) or repr(a) == repr(b)  # NaN is not NaN


def differences(res: ChunkResult, exact: ChunkResult, settings: ScanSettings) -> list[tuple[str, Any, Any]]:
    """(field, native's value, the exact parser's value) for every field that differs."""
    out = [(name, getattr(res, name), getattr(exact, name)) for name in FIELDS
           if not _same(getattr(res, name), getattr(exact, name))]
    if not out:
        mine, theirs = report(res, settings), report(exact, settings)
        if not _same(mine, theirs):
            out.append(("report", mine, theirs))
    return out


def compare(data: bytes, settings: ScanSettings, ref: float | None, cuts: Iterable[int] = (),
            kind: str = "file") -> list[tuple[str, Any, Any]]:
    return differences(scan(data, settings, True, ref, cuts, kind=kind), scan(data, settings, False, ref, kind=kind),
                       settings)


def shrink(data: bytes, settings: ScanSettings, ref: float | None, kind: str = "file") -> bytes:
    """The shortest run of ``data``'s lines (one line, else two, else three...) that still disagrees;
    ``data`` itself when none does."""
    lines = data.split(b"\n")
    for width in (1, 2, 3):
        for i in range(len(lines) - width + 1):
            piece = b"\n".join(lines[i:i + width]) + b"\n"
            if piece.strip() and compare(piece, settings, ref, kind=kind):
                return piece
    return data


def assert_identical(data: bytes, settings: ScanSettings, ref: float | None, cuts: Iterable[int] = (),
                     kind: str = "file") -> ChunkResult:
    exact = scan(data, settings, False, ref, kind=kind)
    diff = differences(scan(data, settings, True, ref, cuts, kind=kind), exact, settings)
    if diff:
        small = shrink(data, settings, ref, kind)
        small_diff = compare(small, settings, ref, kind=kind) if small is not data else diff
        name, mine, theirs = small_diff[0]
        raise AssertionError(f"{name} differs on {small[:600]!r}: native {mine!r:.600} != exact {theirs!r:.600}"
                             f" (fields: {[d[0] for d in diff]})")
    return exact
