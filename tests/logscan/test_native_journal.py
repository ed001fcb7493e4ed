"""journald entries (``journalctl -o json``) through the native scanner: the entry's MESSAGE read as a line
of its own under the entry's time, service and PRIORITY, exactly as the per-line parser reads it - with
odd times, priorities, units and messages that are not text, and an entry stream cut into several scans.
Realistic entries are read natively (none left to the per-line parser)."""

from __future__ import annotations

import json
import random

from autoglm_doctor.logscan.scan import ChunkScanner
from tests.logscan.differential import FIELDS, native_module, scan, scan_with
from tests.logscan.test_scan import BREAKERS, REF, SETTINGS, synth


def _pool(realistic: dict[str, bytes]) -> list[str]:
    lines = [line for data in realistic.values() for line in data.decode("utf-8", "replace").split("\n")]
    return lines + synth(30) + BREAKERS + ["", '  File "x.py", line 3', "Traceback (most recent call last):",
                                           "ValueError: x", "\u4e2d\u6587 message"]


def _entries(pool: list[str], seed: int, odd: bool) -> bytes:
    rnd = random.Random(seed)
    out = []
    for i in range(800):
        entry: dict[str, object] = {"__CURSOR": f"s=1;i={i}", "__REALTIME_TIMESTAMP": str(1798758000000000 + i * 1000),
                                    "PRIORITY": rnd.choice(["6", "3", "4", "7"]), "_SYSTEMD_UNIT": "autoglm-gateway.service",
                                    "_PID": "12", "MESSAGE": rnd.choice(pool)}
        if odd:
            if rnd.random() < 0.5:
                entry["__REALTIME_TIMESTAMP"] = rnd.choice(["", "\u00b2", "12x", str(10 ** 25), 17, None])
            if rnd.random() < 0.5:
                entry["PRIORITY"] = rnd.choice([6, 3, "8", " 3", None, True, 3.5, "-1", "\u0663"])
            key = rnd.choice(["_SYSTEMD_UNIT", "UNIT", "SYSLOG_IDENTIFIER", "CONTAINER_NAME"])
            entry[key] = rnd.choice(["gateway.service", ".service", "plain", "", 5, "vllm", "c\u00e9"])
            if rnd.random() < 0.1:
                entry["MESSAGE"] = rnd.choice([[104, 105], 7, None, {"a": 1}])
            if rnd.random() < 0.1:
                del entry["__CURSOR"]
        items = list(entry.items())
        rnd.shuffle(items)
        out.append(json.dumps(dict(items), ensure_ascii=rnd.random() < 0.5))
    return ("\n".join(out) + "\n").encode()


def test_journald_entries_read_natively_agree_with_the_per_line_parser(realistic):
    native = native_module()
    pool = _pool(realistic)
    for seed in range(4):
        for odd in (False, True):
            data = _entries(pool, seed, odd)
            exact = scan(data, SETTINGS, False, REF, kind="journald")
            scanner = ChunkScanner(SETTINGS, fast=True)
            res = scan_with(scanner, data, REF, (len(data) // 4, len(data) // 2), kind="journald")
            assert [f for f in FIELDS if getattr(res, f) != getattr(exact, f)] == [], (seed, odd)
            assert exact.lines > 500
            if native is not None and not odd:
                assert scanner.native is not None
                # the pool's BREAKERS and non-ASCII lines go to the per-line parser; the rest is read natively
                assert scanner.native.stats["fallbacks"] < 0.05 * data.count(b"\n")
