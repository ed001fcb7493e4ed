"""The console report in a real terminal: the doctor runs inside tmux at 80 and 120 columns and the
screen is read back with capture-pane, so wrapping, colour and layout are what a user sees."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
import pytest

from tests.helpers import ROOT, require

pytestmark = pytest.mark.live

EXE = ROOT / ".venv" / "bin" / "autoglm-doctor"
SNAP = ROOT / "tests" / "scenarios" / "host-old-amd"
ONLY = ("host.kernel.*", "host.cpu.*", "host.kvm.*", "host.cgroup.*", "host.resources.*")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


SOCKET = os.path.join(tempfile.gettempdir(), f"adt-verdicts-tmux-{os.getpid()}")


def tmux(*argv: str) -> str:
    return subprocess.run(["tmux", "-S", SOCKET, "-f", "/dev/null", *argv], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def screen(width: int, *args: str, env: str = "") -> str:
    """Run the doctor in a tmux pane of ``width`` columns; return the whole pane (with colours) once it ends."""
    require(shutil.which("tmux") is not None, "tmux (installed by .ci/services.sh)")
    session = f"adt-verdicts-{uuid.uuid4().hex[:8]}"
    done = f"{session}-done"
    cmd = " ".join([env, shlex.quote(str(EXE)), "check", "--target", shlex.quote(f"snapshot:{SNAP}"),
                    *(f"--only {shlex.quote(p)}" for p in ONLY), *args])
    tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", "50", "bash --norc --noprofile")
    try:
        tmux("set-option", "-t", session, "history-limit", "20000")
        tmux("send-keys", "-t", session, f"clear; {cmd} 2>/dev/null; tmux -S {SOCKET} wait-for -S {done}", "Enter")
        subprocess.run(["tmux", "-S", SOCKET, "wait-for", done], check=True, timeout=120)
        return tmux("capture-pane", "-t", session, "-p", "-e", "-J", "-S", "-", "-E", "-")
    finally:
        subprocess.run(["tmux", "-S", SOCKET, "kill-session", "-t", session], capture_output=True, timeout=30)


def report_lines(pane: str) -> list[str]:
    lines = pane.rstrip("\n").splitlines()
    start = next(i for i, line in enumerate(lines) if "autoglm-doctor 0" in ANSI.sub("", line))
    end = max(i for i, line in enumerate(lines) if "GATE" in ANSI.sub("", line) or "plans" in ANSI.sub("", line))
    return lines[start:end + 1]


@pytest.fixture(scope="module", autouse=True)
def _server():
    """One tmux server for the module, held open by an idle session: a server whose last session ends
    exits, and a new-session racing that exit fails."""
    require(shutil.which("tmux") is not None, "tmux (installed by .ci/services.sh)")
    tmux("new-session", "-d", "-s", "adt-verdicts-keep", "-x", "80", "-y", "24", "sleep 3600")
    yield
    subprocess.run(["tmux", "-S", SOCKET, "kill-server"], capture_output=True, timeout=30)
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_layout_fits_the_width_with_colour(width):
    lines = report_lines(screen(width))
    plain = [ANSI.sub("", line).rstrip() for line in lines]
    assert any("\x1b[" in line for line in lines)  # a terminal gets colour
    assert all(len(line) <= width for line in plain)
    first = next(i for i, line in enumerate(plain) if line.startswith(("FAIL", "WARN", "ERROR")))
    assert plain[first] == "FAIL  critical host.kvm.device [/dev/kvm]"
    # a wrapped message or fix continues under its own indent, never at column 0
    body = plain[first:plain.index("", first)]
    assert all(line.startswith(("FAIL ", "WARN ", "ERROR ", "      ")) for line in body), body
    assert any(line.startswith("      fix: ") for line in body)
    areas = [line for line in plain if line.startswith("host.") and ("passed" in line or "failed" in line)]
    assert len(areas) == 5 and not any(line.lstrip().startswith(("PASS", "SKIP")) for line in plain)
    tail = " ".join(plain[-3:])
    assert "1 critical, 6 high and 5 warnings in 4 areas" in tail and "autoglm-doctor fix" in tail
    if width == 120:
        assert len(body) < 50  # every failure and warning with its fix on one 50-line screen


def test_no_color_in_a_terminal_is_plain_and_still_wrapped():
    lines = report_lines(screen(80, env="NO_COLOR=1"))
    assert not any("\x1b[" in line for line in lines)
    assert all(len(line.rstrip()) <= 80 for line in lines)
    assert any(line.startswith("      ") and len(line.rstrip()) > 70 for line in lines)  # wrapped under the indent


def test_quiet_and_verbose_in_a_terminal():
    quiet = [ANSI.sub("", line) for line in report_lines(screen(120, "-q"))]
    verbose = [ANSI.sub("", line) for line in report_lines(screen(120, "-v"))]
    assert sum(1 for line in quiet if line.startswith(("FAIL", "WARN"))) == 7
    assert sum(1 for line in verbose if line.startswith("  PASS  ")) == 26
    assert len(quiet) < len(verbose)
