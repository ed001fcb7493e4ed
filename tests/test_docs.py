"""The README's catalogue and config reference, docs/checks.md and docs/config.md match the code."""

import subprocess
import sys

from tests.helpers import ROOT, doctor


def test_generated_docs_are_current():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_listed_check_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    listed = [line.split()[0] for line in doctor("list").stdout.splitlines() if line.strip()]
    assert listed
    missing = [cid for cid in listed if f"`{cid}`" not in readme]
    assert not missing
