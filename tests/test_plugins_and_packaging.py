"""Third-party plugins through entry points (a tiny package installed for the test), and packaging:
checks/ and fixes/ install as autoglm_doctor.checks / autoglm_doctor.fixes in normal and editable installs."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import ROOT, doctor

PLUGIN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "adt-plugin-demo"
version = "1.0"

[tool.setuptools]
py-modules = ["adt_plugin_demo", "adt_plugin_broken"]

[project.entry-points."autoglm_doctor.checks"]
demo = "adt_plugin_demo"
broken = "adt_plugin_broken"
"""

PLUGIN_CODE = '''
from autoglm_doctor.check import Check
from autoglm_doctor.model import CheckMeta, Scope, Severity


class Hello(Check):
    meta = CheckMeta(id="thirdparty.demo.hello", title="Demo plugin check", severity=Severity.LOW,
                     scope=(Scope.HOST,), remediation="none needed", docs="https://example.invalid/demo")

    def run(self, ctx):
        release = ctx.target.read_text("/proc/sys/kernel/osrelease")
        yield self.passed(f"hello from a plugin on {release.strip()}", resource="demo")


class Impostor(Check):
    meta = CheckMeta(id="host.kvm.device", title="Impostor", severity=Severity.LOW,
                     scope=(Scope.HOST,), remediation="x", docs="x")

    def run(self, ctx):
        yield self.passed("impostor ran")


CHECKS = (Hello, Impostor)
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    src = tmp_path_factory.mktemp("plugin-src")
    (src / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (src / "adt_plugin_demo.py").write_text(PLUGIN_CODE)
    (src / "adt_plugin_broken.py").write_text("raise RuntimeError('this plugin is broken on purpose')\n")
    target = tmp_path_factory.mktemp("plugin-site")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return str(target)


def test_third_party_check_runs_and_builtin_wins_the_clash(plugin_path):
    env = {"PYTHONPATH": plugin_path}
    out = doctor("check", "--only", "thirdparty.*", "--only", "host.kvm.device", "--format", "json", env=env)
    report = json.loads(out.stdout)
    by_id = {f["check_id"]: f for f in report["findings"]}
    assert by_id["thirdparty.demo.hello"]["status"] == "pass"
    assert by_id["thirdparty.demo.hello"]["message"].startswith("hello from a plugin on ")
    assert by_id["host.kvm.device"]["message"] != "impostor ran"  # the built-in won
    clash = [n for n in report["notes"] if "clashes with" in n]
    assert clash == ["check id 'host.kvm.device' from demo = adt_plugin_demo clashes with "
                     "host_kvm = autoglm_doctor.checks.host_kvm; the built-in is kept"]
    broken = by_id["doctor.plugins.load"]
    assert broken["status"] == "error"
    assert "adt_plugin_broken" in broken["message"] and "this plugin is broken on purpose" in broken["message"]
    assert out.returncode == 1  # a broken plugin is an error: the gate fails, loudly
    listing = doctor("list", env=env)
    assert "thirdparty.demo.hello" in listing.stdout
    assert "failed to load" in listing.stderr


def _venv(path: Path) -> Path:
    """A fresh venv that borrows only the build tools (setuptools, wheel) of the test venv, appended at the
    end of sys.path, so that the install under test builds offline and is the one imported."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=300)
    site = next((path / "lib").glob("python3*/site-packages"))
    import setuptools

    (site / "zz_build_tools.pth").write_text(str(Path(setuptools.__file__).parent.parent) + "\n")
    return path / "bin" / "python"


IMPORT_PROBE = textwrap.dedent("""
    import importlib.util, json, autoglm_doctor.checks.host_kvm, autoglm_doctor.fixes.host_basics
    from autoglm_doctor.registry import load_registry
    reg = load_registry()
    from autoglm_doctor.datafiles import load_table
    import os
    import autoglm_doctor
    schema = os.path.join(os.path.dirname(autoglm_doctor.__file__), "schema", "report.schema.json")
    print(json.dumps({
        "kernel_rows": len(load_table("kernel.json")["release"]), "schema": os.path.isfile(schema),
        "checks_pkg": importlib.util.find_spec("checks") is not None,
        "fixes_pkg": importlib.util.find_spec("fixes") is not None,
        "n_checks": len(reg.checks), "problems": reg.problems,
        "kvm_file": autoglm_doctor.checks.host_kvm.__file__,
    }))
""")


@pytest.mark.parametrize("editable", [False, True], ids=["normal", "editable"])
def test_install_maps_checks_and_fixes_under_the_package(tmp_path, editable):
    py = _venv(tmp_path / "venv")
    args = [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps", "--no-build-isolation"]
    if editable:
        args += ["-e", str(ROOT)]
    else:  # build from a copy: an in-tree build would leave build/ and *.egg-info in the repository
        src = tmp_path / "src"
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                                  "scenarios", ".pytest_cache"))
        args += [str(src)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    probe = subprocess.run([str(py), "-c", IMPORT_PROBE], capture_output=True, text=True, cwd=str(tmp_path), timeout=120,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert probe.returncode == 0, probe.stderr
    info = json.loads(probe.stdout)
    assert info["checks_pkg"] is False and info["fixes_pkg"] is False  # no generic top-level names
    assert info["problems"] == [] and info["n_checks"] >= 12
    assert info["kernel_rows"] >= 5 and info["schema"] is True  # package data ships
    if editable:
        assert info["kvm_file"] == str(ROOT / "checks" / "host_kvm.py")
    else:
        assert info["kvm_file"] == str(next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
                                       / "autoglm_doctor" / "checks" / "host_kvm.py")
