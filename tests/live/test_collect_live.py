"""collect on this host, check on the snapshot: the same findings as the live run."""

import json

import pytest

from autoglm_doctor.app import RunOptions, build_report
from autoglm_doctor.config import Config
from autoglm_doctor.registry import load_registry
from autoglm_doctor.targets.local import LocalTarget
from autoglm_doctor.targets.recorder import RecordingTarget
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import doctor

pytestmark = pytest.mark.live


def comparable(report):
    return [(f.check_id, f.status, f.resource, f.message, repr(f.observed), repr(f.expected)) for f in report.findings]


def test_recorded_snapshot_replays_the_live_run_exactly(tmp_path):
    registry = load_registry()
    opts = RunOptions(timeout=60)
    recorder = RecordingTarget(LocalTarget())
    live = build_report(recorder, Config(), opts, registry=registry)
    path = recorder.save(str(tmp_path / "host.tar.gz"))
    recorder.close()
    snap = SnapshotTarget(path)
    try:
        replay = build_report(snap, Config(), opts, registry=registry)
    finally:
        snap.close()
    assert comparable(replay) == comparable(live)
    assert not any(f.message.startswith("not captured") for f in replay.findings)


def test_collect_command_then_check_on_the_archive(tmp_path):
    archive = tmp_path / "host.tar.gz"
    out = doctor("collect", "-o", str(archive), "--only", "host.*")
    assert out.returncode == 0, out.stderr
    assert f"into {archive}" in out.stderr
    live = json.loads(doctor("check", "--only", "host.*", "--skip", "host.resources.disk", "--format", "json").stdout)
    replay_run = doctor("check", "--target", f"snapshot:{archive}", "--only", "host.*", "--skip", "host.resources.disk",
                        "--format", "json")
    replay = json.loads(replay_run.stdout)
    key = lambda r: [(f["check_id"], f["status"], f["resource"], f["message"]) for f in r["findings"]]  # noqa: E731
    assert key(replay) == key(live)
    assert replay["target"] == f"snapshot:{archive}"


def test_collect_into_a_directory_and_refuse_non_empty(tmp_path):
    out = doctor("collect", "-o", str(tmp_path / "snapdir"), "--only", "host.kernel.*")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "snapdir" / ".autoglm-doctor" / "manifest.json").is_file()
    assert (tmp_path / "snapdir" / "proc" / "config.gz").is_file()
    again = doctor("collect", "-o", str(tmp_path / "snapdir"), "--only", "host.kernel.*")
    assert again.returncode == 2 and "exists and is not empty" in again.stderr
