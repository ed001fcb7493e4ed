"""The fast path's column work agrees with the exact parser: times captured loosely and checked
by columns, services spelled out in the regex, service masks ORed by counting, and layouts
handed over as hints."""

from __future__ import annotations

import json
import random

import pytest

from autoglm_doctor.logscan import fastcount, fastpath
from autoglm_doctor.logscan.scan import ChunkResult, ChunkScanner
from autoglm_doctor.logscan.settings import ScanSettings
from tests.logscan.test_fastpath_exact import assert_identical, both, join, summary_of, synth

TID = "4bf92f3577b34da6a3ce929d0e0e4736"


def timed(lines: list[str], at: int, stamp: str) -> bytes:
    """``lines`` with line ``at``'s timestamp replaced by ``stamp``."""
    obj = json.loads(lines[at])
    obj["timestamp"] = stamp
    out = list(lines)
    out[at] = json.dumps(obj, separators=(",", ":"))
    return join(out)


ODD_TIMES = [
    "2026-01-01T24:00:00.000000Z",  # hour 24
    "2026-01-01T10:60:00.000000Z",  # minute 60
    "2026-01-01T10:00:60.000000Z",  # leap second
    "2026-02-29T10:00:00.000000Z",  # not a leap year
    "2026-04-31T10:00:00.000000Z",  # April has 30 days
    "2026-13-01T10:00:00.000000Z",  # month 13
    "2026-00-10T10:00:00.000000Z",  # month 0
    "2026-01-00T10:00:00.000000Z",  # day 0
    "2026-01-01T10:00:00.00000Z",  # five fraction digits: another form
    "2026-01-01T10:00:00.000000+00:00",  # another zone
    "2026-01-01 10:00:00.000000Z",  # a space for the T
    "2026-01-01T10:00:00.000000z",  # lower-case zone
    "2026-01-01T1a:00:00.000000Z",  # a letter
    "２026-01-01T10:00:00.000000Z",  # a full-width digit (\d in the exact parser's regex)
    "2026-01-01T10:00:00.000000ZZ",
    "",
]


@pytest.mark.parametrize("stamp", ODD_TIMES)
def test_an_odd_time_among_fixed_form_times(stamp):
    lines = synth()
    fast = assert_identical(timed(lines, 50, stamp))
    assert fast.bytes_fast > 0.9 * fast.bytes_exact  # the rest of the block stayed fast


def test_times_across_an_hour_boundary_and_a_bad_hour_between():
    lines = synth()
    late = timed(lines, 10, "2026-01-01T11:30:00.000001Z")
    assert_identical(late)
    assert_identical(timed([x.decode() for x in late.splitlines()], 20, "2026-01-01T10:99:00.000001Z"))


def test_fixed_form_span_matches_the_strict_pattern_on_random_strings():
    """``fixed_form_span`` accepts a column exactly when every string matches the strict time
    pattern of that form (and then gives the parser's earliest and latest)."""
    import re

    from autoglm_doctor.logscan.fastgrammar import _time_body
    from autoglm_doctor.logscan.timeparse import parse_timestamp

    rnd = random.Random(5)
    for form in [(6, "Z"), (0, "Z"), (3, "+05:30"), (9, "-08:00")]:
        strict = re.compile(_time_body(form))
        for _ in range(400):
            times = []
            for _ in range(rnd.randint(1, 6)):
                digits = [rnd.choice("0123456789") for _ in range(30)]
                base = (f"20{digits[0]}{digits[1]}-{rnd.choice(['0', '1'])}{digits[2]}-{rnd.choice('0123')}{digits[3]}"
                        f"T{rnd.choice('0123')}{digits[4]}:{rnd.choice('0123456')}{digits[5]}:{rnd.choice('0123456')}{digits[6]}")
                frac = ("." + "".join(digits[7:7 + form[0]])) if form[0] else ""
                times.append((base + frac + form[1]).encode())
            span = fastcount.fixed_form_span(times, form)
            if all(strict.fullmatch(t) for t in times):
                values = [parse_timestamp(t.decode()) for t in times]
                assert span == (min(values), max(values)), times
            else:
                assert span is None, times


def test_time_after_the_service_field():
    """The time comes after the service: each service branch captures its own time group."""
    rnd = random.Random(2)
    lines = []
    for i in range(400):
        svc = rnd.choice(["auto-glm", "vllm", "gateway"])
        stamp = f"2026-01-01T10:{i // 60:02d}:{i % 60:02d}.{i:06d}Z"
        lines.append(json.dumps({"service": svc, "level": "info", "timestamp": stamp,
                                 "trace_id": f"{rnd.getrandbits(20):05x}", "message": "m"}, separators=(",", ":")))
    lines.insert(200, json.dumps({"service": "vllm", "level": "info", "timestamp": "2026-01-01T25:00:00.000000Z",
                                  "trace_id": "abc", "message": "m"}, separators=(",", ":")))
    fast = assert_identical(join(lines))
    assert fast.bytes_fast > 0.9 * len(join(lines))


def test_an_empty_service_in_the_sample_is_not_spelled_out():
    """``"service":""`` names no service (the exact parser uses the source's): it must not be
    learned as a service of its own."""
    lines = synth()
    head = [json.loads(x) for x in lines[:20]]
    for obj in head:
        obj["service"] = ""
    lines[:20] = [json.dumps(obj, separators=(",", ":")) for obj in head]
    fast, exact = both(join(lines))
    assert "" not in fast.services
    assert_identical(join(lines))


@pytest.mark.parametrize("n_services", [1, 2, 3, 6])
def test_masks_of_many_services_sharing_ids(n_services):
    """Two or three services: masks by counting; six (bits summing past the limit): by groups."""
    rnd = random.Random(n_services)
    services = [f"svc{i}" for i in range(n_services)]
    lines = []
    for i in range(3000):
        trace = f"{rnd.randrange(400):032x}"
        obj = {"timestamp": f"2026-01-01T10:00:{i % 60:02d}.{i:06d}Z", "level": "info",
               "service": rnd.choice(services), "trace_id": trace, "message": "m"}
        if rnd.random() < 0.1:
            del obj["trace_id"]
        lines.append(json.dumps(obj, separators=(",", ":")))
    fast = assert_identical(join(lines))
    assert fast.bytes_fast > 0.9 * len(join(lines))
    assert len(fast.services) == n_services


def test_traceparent_ids_on_the_fast_path():
    rnd = random.Random(4)
    lines = [json.dumps({"timestamp": f"2026-01-01T10:00:{i % 60:02d}.{i:06d}Z", "level": "info",
                         "service": rnd.choice(["auto-glm", "vllm"]),
                         "traceparent": f"00-{rnd.randrange(50):032x}-00f067aa0ba902b7-01", "message": "m"},
                        separators=(",", ":")) for i in range(500)]
    fast = assert_identical(join(lines))
    assert fast.bytes_fast > 0.9 * len(join(lines))
    assert all(len(t) == 32 for t in fast.traces)


def test_a_zone_with_digits_is_a_fixed_form_too():
    lines = [json.dumps({"timestamp": f"2026-01-01T10:00:{i % 60:02d}.{i:03d}+05:30", "level": "info",
                         "service": "vllm", "trace_id": f"{i % 77:x}", "message": "m"}, separators=(",", ":"))
             for i in range(300)]
    assert_identical(join(lines))
    lines[100] = lines[100].replace("+05:30", "+05:45")
    lines[120] = lines[120].replace("+05:30", "+25:30")
    fast = assert_identical(join(lines))
    assert fast.bytes_fast > 0.9 * len(join(lines))


def test_a_hint_is_used_when_it_fits_and_relearned_when_it_does_not():
    settings = ScanSettings()
    scanner = ChunkScanner(settings)
    data = join(synth())
    hint = scanner.layout_hint(data[:4096])
    assert hint is not None
    res = ChunkResult("f")
    assert scanner.scan(data, res, "default", hint=hint) is hint  # fits: used as is
    other = join([json.dumps(json.loads(x)) for x in synth()])  # ", " and ": " separators: another layout
    res_other, exact = ChunkResult("f"), ChunkResult("f")
    used = scanner.scan(other, res_other, "default", hint=hint)
    assert used is not None and used != hint and used.spaced
    scanner.exact(other, exact, "default")
    assert summary_of(res_other, settings) == summary_of(exact, settings)
    assert res_other.bytes_fast > 0.9 * len(other)


def test_grammar_spells_out_the_sampled_services():
    scanner = ChunkScanner(ScanSettings())
    layout = fastpath.learn_layout(scanner, join(synth()))
    assert layout is not None and set(layout.services) == {"auto-glm", "vllm"}
    grammar = fastpath.grammar(scanner, layout, clean=True)
    assert [b.service for b in grammar.branches] == [b"auto-glm", b"vllm"]  # every sampled service: no generic branch
    assert b'auto\\-glm(?P<k0>")' in grammar.rx.pattern and b"(?P<s>" not in grammar.rx.pattern
    many = join([json.dumps({**json.loads(x), "service": f"svc{i % 6}"}, separators=(",", ":")) for i, x in enumerate(synth())])
    layout = fastpath.learn_layout(scanner, many)
    assert layout is not None and len(layout.services) == fastpath.MAX_SERVICES and layout.other_services
    assert [b.service for b in fastpath.grammar(scanner, layout, clean=True).branches][-1] is None
    fast = assert_identical(many)
    assert fast.bytes_fast > 0.9 * len(many)


def test_a_service_the_sample_did_not_show_goes_to_the_exact_parser():
    lines = synth()
    lines[300] = json.dumps({**json.loads(lines[300]), "service": "late-comer"}, separators=(",", ":"))
    fast = assert_identical(join(lines))
    assert "late-comer" in fast.services


def test_blocks_scanned_into_one_result_keep_or_ing_masks():
    """The in-process scan adds every block of a stream to one result: the second block's masks
    must be ORed into the first's (a Counter there would add them: 1 + 3 = 4)."""
    clean = [x for x in synth(300) if '"error"' not in x and '"status":5' not in x]
    first, second = join(clean[: len(clean) // 2]), join(clean[len(clean) // 2:])
    scanner = ChunkScanner(ScanSettings())
    fast, exact = ChunkResult("f"), ChunkResult("f")
    hint = scanner.scan(first, fast, "default")
    assert hint is not None and scanner.scan(second, fast, "default", hint=hint) is hint
    scanner.exact(first + second, exact, "default")
    assert fast.bytes_exact == 0  # both blocks wholly on the fast path
    assert summary_of(fast, ScanSettings()) == summary_of(exact, ScanSettings())


def test_a_hint_that_fits_most_lines_is_kept():
    """Lines the hint does not fit go to the exact parser; only when they are over a quarter of the
    block's lines is the block's own layout learned."""
    def line(i: int, extra: dict) -> str:
        return json.dumps({"timestamp": f"2026-01-01T10:00:{i % 60:02d}.{i:06d}Z", "level": "info", "service": "vllm",
                           "trace_id": f"{i % 50:032x}", "message": "m", **extra}, separators=(",", ":"))

    scanner = ChunkScanner(ScanSettings())
    hint = scanner.layout_hint(join([line(i, {}) for i in range(40)]))
    assert hint is not None
    for share, kept in ((10, True), (50, False)):  # every 10th / every 2nd line has a tail the hint lacks
        data = join([line(i, {"status": 200} if i % (100 // share) == 0 else {}) for i in range(400)])
        fast, exact = ChunkResult("f"), ChunkResult("f")
        used = scanner.scan(data, fast, "default", hint=hint)
        assert (used is hint) is kept
        scanner.exact(data, exact, "default")
        assert summary_of(fast, ScanSettings()) == summary_of(exact, ScanSettings())
