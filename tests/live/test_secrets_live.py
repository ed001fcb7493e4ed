"""Secrets never leave the machine: a real container carries planted credentials in its environment and
logs them; a collected archive, every report format (live and replayed) and the trace/logs output are
searched byte for byte, and none of the planted values is found. Container logs in a snapshot are
bounded by the log checks' window, and ``collect --no-logs`` keeps none."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tarfile
import time
import uuid

import pytest

from autoglm_doctor.redact import MASK
from autoglm_doctor.targets.local import LocalTarget
from autoglm_doctor.targets.recorder import RecordingTarget
from tests.helpers import doctor, require

pytestmark = pytest.mark.live
IMAGE = "autoglm-doctor-test/busybox:latest"


def _docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=60)


def planted() -> dict[str, str]:
    alnum = lambda n: "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                              for _ in range(n))
    return {
        "HF_TOKEN": "hf_" + alnum(34),
        "OPENAI_API_KEY": "sk-" + alnum(40),
        "DB_PASS": "pw" + alnum(14),
        "GITHUB_TOKEN": "ghp_" + alnum(36),
        "AWS_ACCESS_KEY_ID": "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        "SESSION": "eyJ" + alnum(20) + "." + alnum(30) + "." + alnum(30),
        "BEARER": alnum(32),
    }


@pytest.fixture
def leaky(tmp_path):
    """A running container whose environment holds the secrets and whose log prints them: one old line,
    then (after 4 s) a line of trace ``tid`` with the bearer token."""
    require(_docker("info", check=False).returncode == 0, "a running dockerd (.ci/services.sh starts it)")
    values = planted()
    tid = uuid.uuid4().hex
    name = f"adt5-verdicts-sec-{uuid.uuid4().hex[:6]}"
    script = (f'echo "old-mark-$((6*7)) key=$OPENAI_API_KEY"; sleep 4; '
              f'echo "trace_id={tid} POST /v1/chat/completions status=500 error: boom Authorization: Bearer '
              f'{values["BEARER"]} hf=$HF_TOKEN jwt=$SESSION"; echo "new-mark-$((6*7+1))"; sleep 300')
    env = [x for k, v in values.items() if k != "BEARER" for x in ("-e", f"{k}={v}")]
    proc = _docker("run", "-d", "--name", name, *env, IMAGE, "sh", "-c", script, check=False)
    assert proc.returncode == 0, proc.stderr
    try:
        end = time.monotonic() + 30
        while "new-mark-43" not in _docker("logs", name, check=False).stdout and time.monotonic() < end:
            time.sleep(0.2)
        cfg = tmp_path / "doctor.toml"
        cfg.write_text(f'[profile]\ncontainers = [{{name = "{name}", role = "agent"}}]\n'
                       f'logs_sources = ["agent=docker:{name}"]\nlogs_services = ["agent"]\nlogs_window = "3s"\n')
        yield name, values, tid, cfg
    finally:
        _docker("rm", "-f", "-v", name, check=False)


def leaks(text: str | bytes, values: dict[str, str]) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [k for k, v in values.items() if v.encode() in data]


def archive_bytes(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_collected_archive_and_every_report_format_carry_no_secret(leaky, tmp_path):
    name, values, tid, cfg = leaky
    snap = tmp_path / "snap.tar.gz"
    proc = doctor("collect", "--config", str(cfg), "-o", str(snap), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    files = archive_bytes(snap)
    found = {f: leaks(data, values) for f, data in files.items() if leaks(data, values)}
    assert found == {}, found
    api = files[".autoglm-doctor/api.json"].decode()
    assert f"HF_TOKEN={MASK}" in api and f"DB_PASS={MASK}" in api  # recorded, and scrubbed
    log_keys = [k for k in json.loads(api) if k.startswith("docker.logs(")]
    assert log_keys, "the log checks read the container's log"
    logs = "".join(json.loads(api)[k].get("result") or "" for k in log_keys)
    assert "new-mark-43" in logs and "old-mark-42" not in logs  # only the checks' 3 s window is kept
    for target in ("local", f"snapshot:{snap}"):
        for fmt in ("console", "json", "junit", "prometheus"):
            out = doctor("check", "--config", str(cfg), "--target", target, "--format", fmt, "-v", cwd=str(tmp_path))
            assert out.returncode in (0, 1), out.stderr
            assert leaks(out.stdout + out.stderr, values) == [], (target, fmt)


def test_collect_no_logs_keeps_no_log(leaky, tmp_path):
    name, values, tid, cfg = leaky
    snap = tmp_path / "snap.tar.gz"
    assert doctor("collect", "--no-logs", "--config", str(cfg), "-o", str(snap), cwd=str(tmp_path)).returncode == 0
    files = archive_bytes(snap)
    api = json.loads(files[".autoglm-doctor/api.json"])
    assert not [k for k in api if k.startswith("docker.logs(")]
    assert not any(b"new-mark-43" in data or b"old-mark-42" in data for data in files.values())
    replay = doctor("check", "--config", str(cfg), "--target", f"snapshot:{snap}", "--format", "json",
                    cwd=str(tmp_path))
    judged = {f["check_id"]: (f["status"], f["message"]) for f in json.loads(replay.stdout)["findings"]
              if f["check_id"].startswith("logs.")}
    assert judged and all(status == "skip" and "not captured" in message for status, message in judged.values()), \
        judged  # never judged on an empty log


def test_trace_and_logs_output_redact_bearer_tokens_and_token_shapes(leaky, tmp_path):
    name, values, tid, cfg = leaky
    for args in (("trace", tid), ("logs", "--since", "10m")):
        for fmt in ("console", "json"):
            out = doctor(*args, "--config", str(cfg), "--source", f"agent=docker:{name}", "--format", fmt,
                         cwd=str(tmp_path))
            assert out.returncode in (0, 1), out.stderr
            assert leaks(out.stdout + out.stderr, values) == [], (args, fmt)
            if args[0] == "trace":
                assert "boom" in out.stdout and MASK in out.stdout, out.stdout


def test_domain_xml_graphics_password_is_scrubbed_when_recorded(tmp_path):
    """A real file read through a recording of the real machine: the domain XML's VNC/SPICE passwords
    are masked in the snapshot, the XML stays well-formed, and the check that read it saw the truth."""
    import xml.etree.ElementTree as ET

    xml = tmp_path / "autoglm.xml"
    xml.write_text("<domain type='kvm'><name>autoglm</name><devices>"
                   "<graphics type='vnc' port='5900' passwd='vnc-s3cret-pw'/>"
                   "<graphics type='spice' autoport='yes' passwd=\"spice-s3cret-pw\"/></devices></domain>\n")
    recorder = RecordingTarget(LocalTarget())
    try:
        assert b"vnc-s3cret-pw" in recorder.read_bytes(str(xml))
        out = tmp_path / "snap"
        recorder.save(str(out))
    finally:
        recorder.close()
    kept = (out / str(xml).lstrip("/")).read_text()
    assert "s3cret" not in kept and kept.count(MASK) == 2
    assert [g.get("passwd") for g in ET.fromstring(kept).iter("graphics")] == [MASK, MASK]
    assert not [p for p in out.rglob("*") if p.is_file() and b"s3cret" in p.read_bytes()]
    os.unlink(xml)
