"""The start-up path reads entry points from the dist-info directories itself; it must find exactly
what importlib.metadata finds."""

from importlib import metadata

from autoglm_doctor.registry import CHECK_GROUP, FIX_GROUP, _scan_entry_points


def test_scan_agrees_with_importlib_metadata():
    for group in (CHECK_GROUP, FIX_GROUP, "console_scripts"):
        expected = sorted({(ep.name, ep.value) for ep in metadata.entry_points(group=group)})
        assert sorted(set(_scan_entry_points(group) or [])) == expected
        assert expected, group


def test_a_selective_run_imports_only_the_modules_it_needs():
    import subprocess
    import sys

    code = ("import sys\nfrom autoglm_doctor.registry import load_registry\n"
            "reg = load_registry(['host.kernel.release'], fixes=False)\n"
            "print(sorted(reg.checks), 'autoglm_doctor.checks.container_deploy' in sys.modules,\n"
            "      reg.unmatched(['container.deploy.*', 'no.such.check']), sorted(reg.skipped(['container.deploy.gpu'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ("['host.kernel.config', 'host.kernel.release'] False ['no.such.check'] ['container.deploy.gpu']")
