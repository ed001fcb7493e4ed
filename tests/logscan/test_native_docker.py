"""``docker:`` sources through the native scanner: each line as ``docker logs --timestamps`` gives it,
dockerd's time first (the default time of a line without its own, and of vLLM's yearless header), is
read exactly as the per-line parser reads it - including prefixes that are not times, impossible
dates, JSON and traceback lines, and a stream cut into several scans."""

from __future__ import annotations

import random

from autoglm_doctor.logscan.scan import ChunkScanner
from autoglm_doctor.logscan.settings import ScanSettings
from tests.logscan.differential import FIELDS, native_module, scan, scan_with
from tests.logscan.test_scan import BREAKERS, REF, SETTINGS, synth

STAMPS = ("2026-12-31T23:00:0{d}.{n:09d}Z ", "2026-12-31T23:00:00+08:00 ", "", "2026-13-31T23:00:00Z ",
          "2026-12-31T23:00:00.5Z", "2026-12-31T23:00:00Z  ", "2026-12-31T23:00:00.{n:060d}Z ")


def _stream(realistic: dict[str, bytes], seed: int) -> bytes:
    rnd = random.Random(seed)
    pool = [line for data in realistic.values() for line in data.decode("utf-8", "surrogateescape").split("\n") if line]
    pool += synth(40) + BREAKERS + ["Traceback (most recent call last):", '  File "x.py", line 1', "ValueError: boom"]
    lines = []
    for _ in range(600):
        stamp = rnd.choice(STAMPS).format(d=rnd.randint(0, 9), n=rnd.randint(0, 999_999_999))
        lines.append(stamp + rnd.choice(pool))
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def test_docker_streams_read_natively_agree_with_the_per_line_parser(realistic):
    native = native_module()
    window = ScanSettings(services=SETTINGS.services, hops=SETTINGS.hops, since=REF - 7 * 86400, until=REF)
    for seed in range(6):
        data = _stream(realistic, seed)
        for settings in (SETTINGS, window):
            exact = scan(data, settings, False, REF, kind="docker")
            scanner = ChunkScanner(settings, fast=True)
            res = scan_with(scanner, data, REF, (len(data) // 3, len(data) // 2), kind="docker")
            assert [f for f in FIELDS if getattr(res, f) != getattr(exact, f)] == [], seed
            assert res.lines + res.outside == exact.lines + exact.outside > 500
            if native is not None:
                assert scanner.native is not None
                assert scanner.native.stats["fallbacks"] < 0.1 * data.count(b"\n")  # BREAKERS, non-ASCII lines
