"""Fixtures shared by every test directory."""

import pytest

from tests.guest import Guest, guest_fixture


@pytest.fixture(scope="session")
def ci_guest() -> Guest:
    """The CI test guest (tests/guest.py), booted once per test run, destroyed at the end."""
    yield from guest_fixture()
