"""The CLI as a user meets it: exit codes, selection, config and ignores, bad input as one-line errors."""

import json
import tarfile

import pytest

from tests.helpers import ROOT, doctor

OLD = str(ROOT / "tests" / "scenarios" / "host-old-amd")
HEALTHY = str(ROOT / "tests" / "scenarios" / "host-healthy-intel")
GARBAGE = str(ROOT / "tests" / "scenarios" / "host-garbage")


def one_line_error(out):
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autoglm-doctor: error: "), out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


def test_version_is_exact():
    from autoglm_doctor import __version__

    out = doctor("--version")  # its speed is measured by bench/bench_host_basics.py, not here
    assert (out.returncode, out.stdout) == (0, f"autoglm-doctor {__version__}\n")


def test_gate_passes_on_healthy_host_and_fails_on_broken():
    ok = doctor("check", "--target", f"snapshot:{HEALTHY}", "--only", "host.kvm.*", "--only", "host.kernel.*")
    assert ok.returncode == 0, ok.stdout
    bad = doctor("check", "--target", f"snapshot:{OLD}", "--only", "host.kvm.*")
    assert bad.returncode == 1


def test_fail_on_threshold():
    # host-old-amd's kvm family: /dev/kvm (critical) and tun (high) fail, vhost-net warns (medium)
    assert doctor("check", "--target", f"snapshot:{OLD}", "--only", "host.kvm.tun", "--fail-on", "critical").returncode == 0
    assert doctor("check", "--target", f"snapshot:{OLD}", "--only", "host.kvm.tun", "--fail-on", "high").returncode == 1
    assert doctor("check", "--target", f"snapshot:{OLD}", "--only", "host.kvm.vhost_net", "--fail-on", "info").returncode == 0


def test_errors_always_fail_the_gate():
    out = doctor("check", "--target", f"snapshot:{GARBAGE}", "--only", "host.kernel.release", "--fail-on", "critical")
    assert out.returncode == 1
    assert "unexpected content: kernel release" in out.stdout


def test_skip_and_only_globs():
    out = doctor("check", "--target", f"snapshot:{HEALTHY}", "--only", "host.*", "--skip", "host.kernel.*",
                 "--skip", "host.resources.*", "--format", "json")
    ids = {f["check_id"] for f in json.loads(out.stdout)["findings"]}
    assert "host.kvm.device" in ids and not any(i.startswith(("host.kernel.", "host.resources.")) for i in ids)


@pytest.mark.parametrize("args, fragment", [
    (["check", "--only", "no.such.check"], "no check matches 'no.such.check'"),
    (["check", "--target", "ftp://x"], "unknown target 'ftp://x'"),
    (["check", "--target", "snapshot:/nonexistent/snap"], "/nonexistent/snap: no such snapshot"),
    (["check", "--config", "/nonexistent.toml"], "/nonexistent.toml: config file not found"),
    (["check", "--timeout", "0"], "--timeout must be positive"),
    (["check", "--timeout", "nan"], "--timeout must be positive (seconds), got nan"),
    (["check", "--deadline", "-1"], "--deadline must be positive (seconds), got -1"),
    (["explain", "no.such.id"], "no check or fix with id 'no.such.id'"),
    (["fix", "--apply", "--only", "host.kvm.*"], "stdin is not a terminal: pass --yes"),
])
def test_usage_errors_are_one_line_exit_2(args, fragment):
    out = doctor(*args)
    assert out.returncode == 2
    assert fragment in one_line_error(out)


def test_argparse_usage_error_exit_2():
    out = doctor("check", "--format", "yaml")
    assert out.returncode == 2 and "invalid choice" in out.stderr and "Traceback" not in out.stderr


def test_corrupt_tarball_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "host.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00 this is not gzip data")
    out = doctor("check", "--target", f"snapshot:{bad}")
    assert out.returncode == 2
    assert "not a readable snapshot archive" in one_line_error(out)


@pytest.mark.parametrize("text, fragment", [
    ("[profile\nsize=", "invalid TOML"),
    ("[profile]\nsize = 'huge'\n", "profile.size 'huge' is not one of small, standard, performance, gpu-host"),
    ("[profile]\ncpus = 'four'\n", "profile.cpus must be int, got str"),
    ("[profile]\nbridg = 'br0'\n", "unknown profile key 'bridg'"),
    ("[nonsense]\n", "unknown section(s) nonsense"),
    ("[[ignore]]\ncheck = 'host.kvm.device'\n", "needs a non-empty 'reason'"),
    ("[[ignore]]\ncheck = 'host.kvm.device'\nreason = 'x'\nexpires = 'tomorrow'\n", "is not YYYY-MM-DD"),
])
def test_invalid_config_is_one_line_exit_2(tmp_path, text, fragment):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    out = doctor("check", "--target", f"snapshot:{HEALTHY}", "--config", str(cfg))
    assert out.returncode == 2
    assert fragment in one_line_error(out)


def test_config_files_merge_in_order_and_profile_applies(tmp_path):
    (tmp_path / "autoglm-doctor.toml").write_text("[profile]\nsize = 'small'\ncpus = 100\n")
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("[profile]\ncpus = 2\n")
    out = doctor("check", "--target", f"snapshot:{OLD}", "--only", "host.resources.*", "--format", "json",
                 "--config", str(explicit), cwd=str(tmp_path))
    findings = {f["check_id"]: f for f in json.loads(out.stdout)["findings"]}
    assert findings["host.resources.cpu"]["status"] == "pass"  # explicit cpus=2 wins over cwd file's 100
    assert findings["host.resources.memory"]["status"] == "pass"  # cwd file's size=small still applies (4 GB)
    assert "profile size 'small'" in findings["host.resources.memory"]["message"]


def test_ignores_mark_findings_and_expired_ones_stop_working(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[[ignore]]\ncheck = 'host.kvm.device'\nreason = 'lab box, kvm handled by ops'\nexpires = 2999-01-01\n"
        "[[ignore]]\ncheck = 'host.kvm.tun'\nresource = '/dev/net/*'\nreason = 'old waiver'\nexpires = 2020-01-01\n")
    out = doctor("check", "--target", f"snapshot:{OLD}", "--only", "host.kvm.device", "--only", "host.kvm.tun",
                 "--format", "json", "--config", str(cfg))
    report = json.loads(out.stdout)
    by_id = {f["check_id"]: f for f in report["findings"]}
    assert by_id["host.kvm.device"]["ignored"] is True
    assert by_id["host.kvm.device"]["ignore_reason"] == "lab box, kvm handled by ops"
    assert by_id["host.kvm.tun"]["ignored"] is False
    assert by_id["host.kvm.tun"]["ignore_reason"] == "ignore expired on 2020-01-01: old waiver"
    assert report["notes"] == ["ignore for host.kvm.tun expired on 2020-01-01 and no longer applies (old waiver)"]
    assert report["summary"]["ignored"] == 1
    assert out.returncode == 1  # the expired ignore no longer protects the gate
    cfg.write_text("[[ignore]]\ncheck = 'host.kvm.*'\nreason = 'lab box'\n")
    assert doctor("check", "--target", f"snapshot:{OLD}", "--only", "host.kvm.*", "--config", str(cfg)).returncode == 0




def test_list_json_and_explain():
    rows = json.loads(doctor("list", "--format", "json").stdout)
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and "host.kvm.device" in ids
    kvm = next(r for r in rows if r["id"] == "host.kvm.device")
    assert kvm["fix"] == "fix.kvm.device_access" and kvm["severity"] == "critical"
    cpu = next(r for r in rows if r["id"] == "host.cpu.virtualization")
    assert cpu["fix"] is None and cpu["no_fix"].startswith("firmware setting")
    listing = doctor("list").stdout
    assert "[fix: fix.iommu.enable]" in next(ln for ln in listing.splitlines() if ln.startswith("host.iommu.active"))
    assert "[no fix: firmware setting" in next(ln for ln in listing.splitlines()
                                              if ln.startswith("host.cpu.virtualization"))
    text = doctor("explain", "host.kvm.device").stdout
    assert "host.kvm.device: /dev/kvm exists and the VM user can read and write it" in text
    assert "fix: fix.kvm.device_access" in text
    assert "fixes: host.kvm.device" in doctor("explain", "fix.kvm.device_access").stdout


def test_fix_prints_plans_as_a_dry_run_and_changes_nothing():
    out = doctor("fix", "--target", f"snapshot:{OLD}", "--only", "host.kvm.*")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("DRY RUN: nothing below has been applied.")
    assert "# fix fix.kvm.device_access" in text
    assert "+++ b/etc/udev/rules.d/65-autoglm-doctor-kvm.rules" in text
    assert "chown :kvm /dev/kvm" in text and "chmod 0660 /dev/kvm" in text
    assert "# fix fix.kvm.vhost_net" in text and "built without CONFIG_VHOST_NET" in text  # nothing to load there
    loadable = doctor("fix", "--target", f"snapshot:{ROOT / 'tests' / 'scenarios' / 'host-bios-virt-off'}",
                      "--only", "host.kvm.*", "--fix", "fix.kvm.vhost_net")
    assert "run: modprobe vhost_net  (undo: modprobe -r vhost_net)" in loadable.stdout
    assert "fix.kvm.device_access" not in loadable.stdout  # --fix selects
    ok = doctor("fix", "--target", f"snapshot:{HEALTHY}", "--only", "host.kvm.*")
    assert ok.stdout == "nothing to fix: no failing finding has a fix\n"


def test_no_command_prints_help_exit_2():
    out = doctor()
    assert out.returncode == 2 and "usage:" in out.stderr


def test_garbage_snapshot_never_tracebacks():
    out = doctor("check", "--target", f"snapshot:{GARBAGE}", "--format", "json")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout
    report = json.loads(out.stdout)
    assert report["summary"]["error"] >= 5


def test_snapshot_archive_of_a_scenario_works(tmp_path):
    archive = tmp_path / "old.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(OLD, arcname="host-old-amd")
    a = json.loads(doctor("check", "--target", f"snapshot:{archive}", "--format", "json", "--only", "host.kvm.*").stdout)
    b = json.loads(doctor("check", "--target", f"snapshot:{OLD}", "--format", "json", "--only", "host.kvm.*").stdout)
    assert [(f["check_id"], f["status"], f["message"]) for f in a["findings"]] == \
           [(f["check_id"], f["status"], f["message"]) for f in b["findings"]]
