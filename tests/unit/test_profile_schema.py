"""The profile schema is data: complete without importing any check, and every bad value is refused
with the key named, before a check runs."""

import subprocess
import sys

import pytest

from autoglm_doctor.config import PROFILE_KEYS, ConfigError, load_config, parse_config_text
from tests.helpers import ROOT, doctor

HEALTHY = ROOT / "tests" / "scenarios" / "host-healthy-intel"


def test_schema_is_complete_without_any_check_module():
    code = ("import sys; from autoglm_doctor.config import PROFILE_KEYS; "
            "print(len(PROFILE_KEYS), any(m.startswith('autoglm_doctor.checks') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(PROFILE_KEYS)), "False"]
    assert {"gpus", "bridge", "containers", "logs_window", "selinuxfs", "vm_numa_node"} <= set(PROFILE_KEYS)


@pytest.mark.parametrize("toml, message", [
    ("cpus = -1", "profile.cpus: must be between 1 and 65536, got -1"),
    ("memory_gb = nan", "profile.memory_gb: must be a finite number, got nan"),
    ("disk_gb = -5.0", "profile.disk_gb: must be positive and at most 1e+06, got -5"),
    ("vm_memory_gb = -64", "profile.vm_memory_gb: must be positive and at most 65536, got -64"),
    ("hugepage_size = '3M'", "profile.hugepage_size: '3M' is not one of 2M, 1G"),
    ("model_endpoint = 'http://127.0.0.1:99999'", "profile.model_endpoint: must be an http(s) URL"),
    ("model_endpoint = 'localhost:8000'", "profile.model_endpoint: must be an http(s) URL"),
    ("served_model_name = ''", "profile.served_model_name: '' is not a served model name"),
    ("vm_user = ''", "profile.vm_user: '' is not a user name"),
    ("logs_window = '0s'", "profile.logs_window: '0s' is not a positive duration"),
    ("logs_trace_patterns = ['(\\\\w+)+x']", "nests a repeat inside a repeat"),
    ("bridge = 'br/0'", "profile.bridge: 'br/0' is not a network interface name"),
    ("network_mode = 'host'", "profile.network_mode: 'host' is not one of bridged, nat"),
    ("gpus = ['not-an-address']", "profile.gpus: 'not-an-address' is not a PCI address"),
])
def test_bad_values_are_refused_with_the_key(toml, message):
    with pytest.raises(ConfigError) as err:
        parse_config_text(f"[profile]\n{toml}\n", "t.toml")
    assert message in str(err.value)


def test_good_values_are_normalised():
    profile, _ = parse_config_text("[profile]\nmodel_endpoint = 'https://model.lan:8443/'\nvm_memory_gb = 64\n"
                                   "hugepage_size = '1G'\nlogs_window = '15m'\n", "t.toml")
    assert profile == {"model_endpoint": "https://model.lan:8443", "vm_memory_gb": 64, "hugepage_size": "1G",
                       "logs_window": "15m"}


def test_utf8_bom_and_dev_null(tmp_path):
    cfg = tmp_path / "bom.toml"
    cfg.write_bytes(b"\xef\xbb\xbf[profile]\ncpus = 2\n")
    assert load_config(str(cfg), search=[]).profile.values == {"cpus": 2}
    assert load_config("/dev/null", search=[]).profile.values == {}


def test_a_bad_value_fails_the_run_whatever_is_selected(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[profile]\ngpus = ["not-an-address"]\n')
    for only in (["--only", "host.kernel.*"], []):
        out = doctor("check", "--target", f"snapshot:{HEALTHY}", "--config", str(cfg), *only)
        assert out.returncode == 2 and "profile.gpus" in out.stderr


def test_an_ignore_that_matches_no_check_is_an_error_with_a_suggestion(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[[ignore]]\ncheck = 'host.kvm.tunn'\nreason = 'lab'\n")
    out = doctor("check", "--target", f"snapshot:{HEALTHY}", "--config", str(cfg), "--only", "host.kvm.*")
    assert out.returncode == 2
    assert out.stderr.strip() == ("autoglm-doctor: error: [[ignore]] check 'host.kvm.tunn' matches no check "
                                  "(did you mean host.kvm.tun?) (see: autoglm-doctor list)")
    ok = doctor("check", "--target", f"snapshot:{HEALTHY}", "--config", "/dev/null", "--only", "host.kvm.device")
    assert ok.returncode == 0, ok.stderr
