"""The fuzz suite: several hundred seeded hostile and broken inputs (tests/fuzz/generate.py) run through
the real CLI in-process (tests/fuzz/harness.py). Every count that matters must be zero; a failure lists
the variants, and ``python -m tests.fuzz.harness --only VARIANT`` replays one."""

import pytest

from tests.fuzz.harness import run_all


@pytest.fixture(scope="module")
def result():
    return run_all()


def _failing(result, kind):
    return [f for f in result["failures"] if any(p.startswith(kind) for p in f["problems"])]


def test_enough_variants_in_every_category(result):
    assert result["variants"] >= 500
    assert set(result["by_category"]) == {"archive", "side-folder", "content", "api-answers", "commands",
                                          "special-files", "config", "logs"}


@pytest.mark.parametrize("kind", [
    "internal error",
    "check crashed",
    "hang",
    "gate passed on a report in which nothing was evaluated",
    "expected a refusal",
    "exit 2 without exactly one error line",
    "refusal does not name",
    "a host file's content was printed",
    "temporary files left",
    "stdout is not the JSON report",
])
def test_no_variant_shows(result, kind):
    assert _failing(result, kind) == []


def test_no_host_file_touched(result):
    assert result["host_files_touched"] == 0


def test_nothing_else_went_wrong(result):
    assert result["failures"] == []
