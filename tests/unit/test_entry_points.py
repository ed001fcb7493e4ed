"""The start-up path reads entry points from the dist-info directories itself; it must find exactly
what importlib.metadata finds."""

from importlib import metadata

from autoglm_doctor.registry import CHECK_GROUP, FIX_GROUP, _scan_entry_points


def test_scan_agrees_with_importlib_metadata():
    for group in (CHECK_GROUP, FIX_GROUP, "console_scripts"):
        expected = sorted({(ep.name, ep.value) for ep in metadata.entry_points(group=group)})
        assert sorted(set(_scan_entry_points(group) or [])) == expected
        assert expected, group
