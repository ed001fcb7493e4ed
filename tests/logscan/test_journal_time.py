"""A journald entry's ``__REALTIME_TIMESTAMP`` is microseconds in ASCII digits; anything else (a Unicode
digit, thousands of digits, a number too big for a float) leaves the entry undated instead of stopping
the scan."""

from __future__ import annotations

import pytest

from autoglm_doctor.logscan.extract import LineParser
from autoglm_doctor.logscan.settings import ScanSettings


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("stamp, expected", [
    ("1798758000123456", 1798758000.123456),
    ("\u00b2", None),
    ("\u0663" * 16, None),
    ("9" * 400, None),
    ("9" * 5000, None),
    ("", None),
])
def test_realtime_timestamps(stamp, expected, fast):
    parser = LineParser(ScanSettings(), fast=fast)
    line = ('{"__REALTIME_TIMESTAMP":"%s","MESSAGE":"plain words","_SYSTEMD_UNIT":"gw.service"}' % stamp).encode()
    rec, problem = parser.parse(line, "default", "journald")
    assert problem is None
    assert rec is not None and rec.service == "gw" and rec.ts == expected
