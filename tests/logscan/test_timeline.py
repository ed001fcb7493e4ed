"""One request across the agent's file, the model server's container, the gateway's journal and the
VM's QEMU log, read from a hand-made snapshot (Docker API and journalctl answers replayed)."""

from __future__ import annotations

import pytest

from autoglm_doctor.logscan.engine import summarize
from autoglm_doctor.logscan.settings import ScanSettings
from autoglm_doctor.logscan.sources import SourceSpec, SourceSpecError, parse_source_spec, resolve
from autoglm_doctor.logscan.timeline import find_trace
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.logscan import scenarios as sc


@pytest.fixture()
def snap(tmp_path):
    target = SnapshotTarget(str(sc.build(tmp_path)))
    notes: list[str] = []
    streams = resolve(target, [parse_source_spec(s) for s in sc.SOURCES], notes)
    yield target, streams, notes
    target.close()


def trace(snap, tid: str, settings: ScanSettings | None = None) -> dict:
    target, streams, _notes = snap
    return find_trace(target, streams, settings or ScanSettings(), tid, jobs=1)


def test_sources_resolve(snap):
    _target, streams, notes = snap
    assert notes == []
    assert [(s.name, s.service, s.kind) for s in streams] == [
        ("/var/log/autoglm/auto-glm.log", "auto-glm", "file"),
        ("docker:vllm", "vllm", "docker"),
        ("journald:autoglm-gateway.service", "gateway", "journald"),
        ("/var/log/libvirt/qemu/autoglm-vm.log", "autoglm-vm", "libvirt"),
    ]


def test_completed_trace_follows_the_request_id_into_the_model_server(snap):
    t = trace(snap, sc.T_OK)
    assert t["aliases"] == [sc.R_OK]
    assert [(e["time"], e["service"]) for e in t["events"]] == [
        ("2026-01-01T09:59:59.990Z", "gateway"), ("2026-01-01T10:00:00.000Z", "auto-glm"),
        ("2026-01-01T10:00:00.010Z", "auto-glm"), ("2026-01-01T10:00:00.020Z", "vllm"),
        ("2026-01-01T10:00:01.500Z", "vllm"), ("2026-01-01T10:00:02.000Z", "auto-glm")]
    assert t["events"][3]["message"] == f"Received request chatcmpl-{sc.R_OK}: prompt: 'hi'"
    assert t["events"][3]["via"] == sc.R_OK
    assert (t["first_error"], t["lost_hops"], t["gaps"], t["notes"]) == (None, [], [], [])
    assert t["last_hop"]["service"] == "auto-glm" and t["duration_ms"] == 2010.0


def test_failing_trace_names_the_first_error(snap):
    t = trace(snap, sc.T_FAIL)
    assert t["services"] == ["auto-glm", "vllm", "gateway"]
    assert t["first_error"] == {"service": "vllm", "time": "2026-01-01T10:00:01.800Z",
                                "message": f"request chatcmpl-{sc.R_FAIL}: CUDA out of memory. Tried to allocate 20.00 GiB"}
    assert [e["error"] for e in t["events"]] == [False, False, True, True, True]


def test_lost_trace_shows_the_gap_and_the_hop_never_reached(snap):
    t = trace(snap, sc.T_LOST)
    assert t["services"] == ["auto-glm"]
    assert t["lost_hops"] == [{"hop": "auto-glm>vllm", "message": "seen at auto-glm, never reached vllm"}]
    assert t["gaps"] == [{"after": "2026-01-01T10:00:03.000Z", "seconds": 30.0, "from": "auto-glm", "to": "auto-glm"}]
    assert t["events"][1]["gap_before_s"] == 30.0


def test_disagreeing_clocks_are_reported_and_corrected(snap):
    """vllm's clock is 40 s behind: its line (whole seconds: any moment of 10:00:20) is moved by the
    least that puts it inside its caller's span, and keeps the time it logged."""
    t = trace(snap, sc.T_SKEW)
    assert [(e["service"], e["time"], e["logged_time"]) for e in t["events"]] == [
        ("vllm", "2026-01-01T10:00:59.000Z", "2026-01-01T10:00:20.000Z"),
        ("auto-glm", "2026-01-01T10:01:00.000Z", None), ("auto-glm", "2026-01-01T10:01:01.000Z", None)]
    assert t["notes"] == ["clocks disagree: vllm logged this request as if its clock were 39.000 s behind auto-glm's; "
                          "its times are shown corrected (logged_time keeps what it wrote)"]


def test_unknown_trace_and_window(snap):
    t = trace(snap, "ffffffffffffffffffffffffffffffff")
    assert (t["found"], t["lines"], t["last_hop"]) == (False, 0, None)
    from tests.logscan.synth import START

    t = trace(snap, sc.T_OK, ScanSettings(since=START + 1.0))
    assert [e["time"] for e in t["events"]] == ["2026-01-01T10:00:01.500Z", "2026-01-01T10:00:02.000Z"]
    assert "4 lines of this trace are outside the time window" in t["notes"]


def test_summary_of_the_snapshot(snap):
    target, streams, notes = snap
    r = summarize(target, streams, ScanSettings(), jobs=1, notes=notes).report()
    assert r["traces"] == {"seen": 4, "failing": 2, "untracked": 0, "lost": 1}
    assert r["failing_by_service"] == {"auto-glm": 1, "vllm": 1}
    assert [(f["trace"], f["service"]) for f in r["failing"]] == [(sc.T_FAIL, "vllm"), (sc.T_LOST, "auto-glm")]
    assert r["lost_hops"][0]["examples"] == [sc.T_LOST]
    assert {p["service"]: (p["lines"], p["without_id"]) for p in r["propagation"]} == {
        "auto-glm": (10, 1), "vllm": (7, 2), "gateway": (2, 0), "autoglm-vm": (2, 2)}
    assert r["errors"]["without_trace_id"] == {"autoglm-vm": 1}


def test_missing_sources_are_notes(tmp_path):
    target = SnapshotTarget(str(sc.build(tmp_path)))
    notes: list[str] = []
    specs = [parse_source_spec(s) for s in ("docker:ghost", "/var/log/nothing.log", "journald:other.service")]
    streams = resolve(target, specs, notes)
    r = summarize(target, streams, ScanSettings(), jobs=1, notes=notes).report()
    assert r["lines"] == 0
    assert notes == ["/var/log/nothing.log: /var/log/nothing.log does not exist"]
    assert "docker:ghost: no such container" in r["notes"]
    assert any(n.startswith("journald:other.service: not read: command 'journalctl -o json") for n in r["notes"])


@pytest.mark.parametrize("text, spec", [
    ("/var/log/app/", SourceSpec("file", "/var/log/app")),
    ("agent=/var/log/a.log", SourceSpec("file", "/var/log/a.log", "agent")),
    ("docker:vllm", SourceSpec("docker", "vllm")),
    ("model=docker:vllm-0", SourceSpec("docker", "vllm-0", "model")),
    ("journald:vllm.service", SourceSpec("journald", "vllm.service")),
    ("libvirt:autoglm-vm", SourceSpec("libvirt", "autoglm-vm")),
])
def test_source_specs(text, spec):
    assert parse_source_spec(text) == spec


@pytest.mark.parametrize("text", ["relative/path", "docker:", "x=", "ftp:thing"])
def test_bad_source_specs(text):
    with pytest.raises(SourceSpecError):
        parse_source_spec(text)


def test_a_captured_journal_export_is_a_file_source(tmp_path):
    """`journalctl -o json > export.json` copied off a machine: the entries parse like the live query."""
    export = tmp_path / "gateway-journal.json"
    export.write_text(sc._journal())
    target = SnapshotTarget(str(sc.build(tmp_path / "snap")))
    from autoglm_doctor.targets.local import LocalTarget

    local = LocalTarget()
    notes: list[str] = []
    streams = resolve(local, [parse_source_spec(str(export))], notes)
    r = summarize(local, streams, ScanSettings(), jobs=1, notes=notes).report()
    assert {p["service"]: (p["lines"], p["with_id"]) for p in r["propagation"]} == {"gateway": (2, 2)}
    assert r["errors"]["lines"] == 1 and r["traces"]["seen"] == 2
    target.close()


def test_progress_bar_only_on_a_terminal_after_a_second(monkeypatch):
    import io

    from autoglm_doctor.logscan.progress import TerminalProgress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = TerminalProgress("scanning", out)
    bar(10, 100)
    assert out.getvalue() == ""  # not yet a second
    bar.start -= 2
    bar(50, 100)
    assert "scanning [###############" in out.getvalue() and "50.0%" in out.getvalue()
    bar.finish()
    assert out.getvalue().endswith("\r\033[K")
    plain = io.StringIO()
    quiet = TerminalProgress("scanning", plain)
    quiet.start -= 2
    quiet(50, 100)
    quiet.finish()
    assert plain.getvalue() == ""
