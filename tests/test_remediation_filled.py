"""Every remediation the doctor emits is filled in with the real values the check knows: a fix that
says "ip addr del ADDR dev PORT" makes the reader guess what the check already knew. All checks run on
every scenario tree (and with profiles that turn on the VM, hugepage and VLAN paths); no emitted
remediation may hold a placeholder word."""

from __future__ import annotations

import re
import sys

import pytest

from autoglm_doctor.app import RunOptions, build_report
from autoglm_doctor.config import Config, Profile
from autoglm_doctor.registry import load_registry
from autoglm_doctor.targets.snapshot import SnapshotTarget
from tests.helpers import SCENARIOS

sys.path.insert(0, str(SCENARIOS))
from declare_empty_dirs import scenario_roots  # noqa: E402

# the words catalogue texts use for "fill in yours": a finding knows the real value
PLACEHOLDER = re.compile(r"(?<![\w.$/-])(ADDR|PORT|BRIDGE|UPLINK|VID|NAME|PATH|IMAGE|IFACE|DEVICE|CONTAINER|"
                         r"HOST|USER|GROUP|FILE|DIR|PID|N|SIZE|VALUE|MODULE|DOMAIN|ABSOLUTE|BDF|UNIT|KEY)(?![\w-])")
PROFILES = (
    {},
    {"size": "gpu-host", "vm_memory_gb": 64, "hugepage_size": "1G", "vm_numa_node": 0, "vlans": [100, 200]},
    {"vm_memory_gb": 8, "hugepage_size": "2M", "network_mode": "nat"},
)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def test_the_pattern_sees_placeholders_and_passes_real_values():
    assert placeholders("ip addr del ADDR dev PORT; ip addr add ADDR dev BRIDGE") == ["ADDR", "PORT", "ADDR", "BRIDGE"]
    assert placeholders("hugepagesz=1G hugepages=N") == ["N"]
    assert placeholders("ip addr del 10.0.0.2/24 dev eth0; CONFIG_VFIO_PCI=m; NVIDIA_VISIBLE_DEVICES=all; "
                        "--gpus all; /dev/kvm; HOST_PORT; $PATH") == []


@pytest.mark.parametrize("root", scenario_roots(), ids=lambda p: p.name)
def test_no_emitted_remediation_holds_a_placeholder(root, registry):
    bad = set()
    for values in PROFILES:
        target = SnapshotTarget(str(root))
        try:
            report = build_report(target, Config(profile=Profile(dict(values))), RunOptions(timeout=60),
                                  registry=registry)
        finally:
            target.close()
        for f in report.findings:
            if f.remediation and placeholders(f.remediation):
                bad.add((f.check_id, f.resource, f.remediation))
    assert not bad, "\n".join(f"{c} [{r}]: {t}" for c, r, t in sorted(bad))
