"""The registry index: a selective run imports only what it selects; any doubt means a full import."""

import json
import subprocess
import sys

PROBE = """
import json, sys
from autoglm_doctor.registry import load_registry
reg = load_registry({only!r}, fixes=False)
print(json.dumps({{
    "loaded": sorted(reg.checks),
    "known": sorted(reg.known_ids),
    "modules": sorted(m for m in sys.modules if m.startswith("autoglm_doctor.checks.")),
    "metadata_imported": "importlib.metadata" in sys.modules,
    "unloaded_keys": sorted(reg.unloaded_profile_keys),
}}))
"""


def probe(cache_home, only, env_extra=None):
    env = {"XDG_CACHE_HOME": str(cache_home), "PATH": "/usr/bin:/bin"}
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", PROBE.format(only=only)], capture_output=True, text=True, env=env,
                         cwd="/", timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_selective_run_imports_only_selected_modules(tmp_path):
    first = probe(tmp_path, ["host.kernel.*"])  # no index yet: everything is imported, the index written
    assert "autoglm_doctor.checks.host_kvm" in first["modules"]
    second = probe(tmp_path, ["host.kernel.*"])
    assert second["modules"] == ["autoglm_doctor.checks.host_kernel"]
    assert second["loaded"] == ["host.kernel.config", "host.kernel.release"]
    assert "host.kvm.device" in second["known"]  # still known, so --only patterns are validated
    assert second["metadata_imported"] is False
    assert "vm_user" not in second["unloaded_keys"]  # declared by the core config module itself


def test_a_changed_module_stamp_means_full_import(tmp_path):
    probe(tmp_path, ["host.kernel.*"])
    index_file = tmp_path / "autoglm-doctor" / "registry-v1.json"
    data = json.loads(index_file.read_text())
    data["modules"]["autoglm_doctor.checks.host_kvm"]["stamp"] = "/somewhere:1:1"
    index_file.write_text(json.dumps(data))
    after = probe(tmp_path, ["host.kernel.*"])
    assert "autoglm_doctor.checks.host_kvm" in after["modules"]


def test_garbage_index_is_ignored_and_disabled_by_env(tmp_path):
    (tmp_path / "autoglm-doctor").mkdir()
    (tmp_path / "autoglm-doctor" / "registry-v1.json").write_text("{not json")
    out = probe(tmp_path, ["host.kernel.*"])
    assert "autoglm_doctor.checks.host_kvm" in out["modules"]
    probe(tmp_path, ["host.kernel.*"])
    disabled = probe(tmp_path, ["host.kernel.*"], {"AUTOGLM_DOCTOR_NO_CACHE": "1"})
    assert "autoglm_doctor.checks.host_kvm" in disabled["modules"]


def test_requirements_pull_in_their_modules(tmp_path):
    probe(tmp_path, [])
    probe(tmp_path, ["host.kernel.*"])
    index = json.loads((tmp_path / "autoglm-doctor" / "registry-v1.json").read_text())["modules"]
    requiring = [(cid, reqs) for entry in index.values() for cid, reqs in entry["requires"].items() if reqs]
    if not requiring:
        return
    cid, reqs = requiring[0]
    out = probe(tmp_path, [cid])
    assert cid in out["loaded"] and set(reqs) <= set(out["loaded"])
