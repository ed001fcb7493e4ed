"""``autoglm-doctor fix`` end to end on writable sysroot copies of scenario trees: the kernel
command line through each distribution family's boot loader, byte for byte; recorded argv; dry run
writes nothing; pending_reboot in every output; history; rollback; SIGKILL mid-apply recovered;
non-root refused."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.remedy.sysroots import DEBIAN_GRUB, RHEL_GRUB, sysroot
from tests.remedy.treestate import tree_state

JOURNAL = "var/lib/autoglm-doctor/journal"


def doctor(*args, env=None, user=None, timeout=120):
    argv = [sys.executable, "-m", "autoglm_doctor", *args]
    if user:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    full_env = {**os.environ, "AUTOGLM_DOCTOR_JOURNAL": "", **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env,
                          stdin=subprocess.DEVNULL)


def fix(root, *extra, **kw):
    return doctor("fix", "--target", f"local:{root}", "--only", "host.iommu.*", *extra, **kw)


def journal(root, run_id):
    return json.loads((root / JOURNAL / run_id / "journal.json").read_text())


def outside_journal(root):
    return {k: v for k, v in tree_state(str(root)).items() if not k.startswith("var")}


def validate(doc):
    import importlib.resources

    import jsonschema

    schema = json.loads(importlib.resources.files("autoglm_doctor").joinpath("schema/fix.schema.json").read_text())
    jsonschema.validate(doc, schema)
    return doc


def test_dry_run_writes_nothing_anywhere_in_the_tree(tmp_path):
    root = sysroot("gpu-iommu-kernel-off", tmp_path / "sr", "debian")
    os.setxattr(root / "etc" / "default" / "grub", "user.mark", b"1")
    before = tree_state(str(root))
    res = fix(root)
    assert res.returncode == 0, res.stderr
    assert "DRY RUN" in res.stdout and '+GRUB_CMDLINE_LINUX="intel_iommu=on"' in res.stdout
    assert "#   risk: needs reboot" in res.stdout
    res = fix(root, "--format", "json")
    plan = validate(json.loads(res.stdout))["plans"][0]
    assert plan["risk"] == ["needs reboot"] and plan["reboot_required"] is True
    assert tree_state(str(root)) == before


def test_debian_grub_apply_pending_history_second_apply_and_rollback(tmp_path):
    root = sysroot("gpu-iommu-kernel-off", tmp_path / "sr", "debian")
    before = outside_journal(root)
    res = fix(root, "--apply", "--yes", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    out = validate(json.loads(res.stdout))
    run_id = out["run_id"]
    assert out["state"] == "applied" and out["reboot_pending"] is True
    assert (root / "etc/default/grub").read_text() == DEBIAN_GRUB.replace('GRUB_CMDLINE_LINUX=""',
                                                                          'GRUB_CMDLINE_LINUX="intel_iommu=on"')
    steps = journal(root, run_id)["steps"]
    assert steps[1]["info"]["argv"] == ["update-grub"] and steps[1]["info"]["recorded"] is True
    pending = json.loads((root / JOURNAL / "pending.json").read_text())
    assert pending[0]["run_id"] == run_id and pending[0]["resources"] == ["host.iommu.active|iommu"]

    # the check now says pending_reboot, naming the run; it gates unless allowed
    res = doctor("check", "--target", f"local:{root}", "--only", "host.iommu.active", "--format", "json")
    finding = json.loads(res.stdout)["findings"][0]
    assert (res.returncode, finding["status"], finding["staged_by"]) == (1, "pending_reboot", run_id)
    res = doctor("check", "--target", f"local:{root}", "--only", "host.iommu.active", "--allow-pending-reboot")
    assert res.returncode == 0
    res = doctor("check", "--target", f"local:{root}", "--only", "host.iommu.active", "--format", "junit")
    assert 'type="pending-reboot"' in res.stdout
    res = doctor("check", "--target", f"local:{root}", "--only", "host.iommu.active", "--format", "prometheus")
    assert 'autoglm_doctor_check_status{check_id="host.iommu.active",resource="iommu",severity="critical"} 4\n' \
        in res.stdout

    # a second apply changes nothing and says so
    applied = outside_journal(root)
    res = fix(root, "--apply", "--yes", "--fix", "fix.iommu.enable")
    assert res.returncode == 0
    assert outside_journal(root) == applied

    validate(json.loads(fix(root, "--history", "--format", "json").stdout))
    validate(json.loads(fix(root, "--apply", "--yes", "--format", "json").stdout))
    res = fix(root, "--history")
    assert run_id in res.stdout and "applied" in res.stdout and "reboot pending" in res.stdout

    res = fix(root, "--rollback", run_id, "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert validate(json.loads(res.stdout))["state"] == "rolled_back"
    assert outside_journal(root) == before
    assert json.loads((root / JOURNAL / "pending.json").read_text()) == []
    assert journal(root, run_id)["state"] == "rolled_back"


@pytest.mark.parametrize("family,argv,files", [
    ("rhel", ["grubby", "--update-kernel=ALL", "--args=intel_iommu=on"], {"etc/default/grub": RHEL_GRUB}),
    ("fedora-mkconfig", ["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"],
     {"etc/default/grub": RHEL_GRUB.replace("GRUB_ENABLE_BLSCFG=true", "GRUB_ENABLE_BLSCFG=false").replace(
         'rhgb quiet"', 'rhgb quiet intel_iommu=on"')}),
    ("systemd-boot", None, {"etc/kernel/cmdline": "root=UUID=5d3f0c1e-7a21-4f8e-9a53-0d2b8c7e4f11 rw quiet "
                                                   "intel_iommu=on\n"}),
])
def test_each_boot_loader_family_gets_its_own_tool(tmp_path, family, argv, files):
    root = sysroot("gpu-iommu-kernel-off", tmp_path / "sr", family)
    res = fix(root, "--apply", "--yes", "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    recorded = [s["info"]["argv"] for s in journal(root, out["run_id"])["steps"]
                if (s.get("info") or {}).get("recorded")]
    assert recorded == ([argv] if argv else [])
    for path, text in files.items():
        assert (root / path).read_text() == text


def test_sigkill_between_steps_is_detected_and_rolled_back(tmp_path):
    root = sysroot("gpu-iommu-kernel-off", tmp_path / "sr", "debian")
    before = outside_journal(root)
    proc = subprocess.Popen([sys.executable, "-m", "autoglm_doctor", "fix", "--target", f"local:{root}", "--only",
                             "host.iommu.*", "--apply", "--yes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "AUTOGLM_DOCTOR_STEP_DELAY": "30"}, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    run_id = None
    while time.monotonic() < deadline:
        runs = [n for n in os.listdir(root / JOURNAL) if not n.startswith(".") and n != "pending.json"] \
            if (root / JOURNAL).exists() else []
        try:
            if runs and journal(root, runs[0])["steps"][0]["status"] == "applied":
                run_id = runs[0]
                break
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert run_id, "the apply never reached its first step"
    assert (root / "etc/default/grub").read_text() != DEBIAN_GRUB  # step 1 really happened
    res = fix(root)
    assert f"run {run_id} (fix.iommu.enable) was interrupted while applying" in res.stderr
    assert f"fix --rollback {run_id}" in res.stderr
    res = fix(root, "--apply", "--yes")
    assert res.returncode == 2 and "interrupted" in res.stderr
    assert f"autoglm-doctor fix --rollback {run_id}" in res.stderr
    # on a terminal the run is offered for rollback; declined, a new apply is still refused
    argv = [sys.executable, "-m", "autoglm_doctor", "fix", "--target", f"local:{root}", "--only", "host.iommu.*"]
    code, out = in_pty([*argv, "--apply", "--yes"], b"n")
    assert f"roll back interrupted run {run_id}? [y/N] " in out
    assert f"left as it is; roll it back later with: autoglm-doctor fix --rollback {run_id}" in out
    assert code == 2 and "(before applying anything new)" in out
    assert (root / "etc/default/grub").read_text() != DEBIAN_GRUB
    # accepted: every applied step is reverted, then the dry run goes on and plans the fix again
    code, out = in_pty(argv, b"y")
    assert f"roll back interrupted run {run_id}? [y/N] " in out
    assert f"rolled back run {run_id}: every applied step reverted" in out
    assert code == 0 and "DRY RUN" in out and "intel_iommu=on" in out
    assert outside_journal(root) == before
    assert journal(root, run_id)["state"] == "rolled_back"
    assert fix(root).stderr.count("interrupted") == 0


def in_pty(argv, answer: bytes, timeout: float = 120):
    """Run argv with a pseudo-terminal as stdin/stdout/stderr; answer the first [y/N] prompt."""
    import pty
    import select

    master, slave = pty.openpty()
    env = {**os.environ, "AUTOGLM_DOCTOR_JOURNAL": "", "COLUMNS": "300"}
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    out, sent, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if not sent and b"[y/N] " in out:
                os.write(master, answer + b"\n")
                sent = True
        return proc.wait(timeout=30), out.decode("utf-8", "replace").replace("\r\n", "\n")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


@pytest.fixture
def world_readable_dir():
    import shutil
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp(prefix="remedy-nonroot-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def test_non_root_is_refused_with_the_missing_privileges(world_readable_dir):
    root = sysroot("gpu-iommu-kernel-off", world_readable_dir / "sr", "debian")
    before = tree_state(str(root))
    res = fix(root, "--apply", "--yes", user="65534")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "missing privileges (nothing was changed)" in res.stderr
    assert "write access to /etc/default (for /etc/default/grub)" in res.stderr
    assert tree_state(str(root)) == before


def test_a_snapshot_cannot_be_applied(tmp_path):
    from tests.helpers import scenario_path

    res = doctor("fix", "--target", f"snapshot:{scenario_path('gpu-iommu-kernel-off')}", "--apply", "--yes")
    assert res.returncode == 2 and "read-only" in res.stderr
