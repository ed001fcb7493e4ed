"""host.resources.hugepages: pools per size against the VM's memory, and per NUMA node."""

import pytest

from tests.helpers import Case

A100_1G = {"hugepage_size": "1G", "vm_memory_gb": 64}

CASES = [
    Case("gpu-intel-a100", "host.resources.hugepages", {"hugepages": "pass"}, note="not-asked"),
    Case("gpu-intel-a100", "host.resources.hugepages", {"hugepages-1G": "pass"}, profile=A100_1G),
    Case("gpu-intel-a100", "host.resources.hugepages", {"hugepages-1G": "pass", "hugepages-1G@node0": "pass"},
         profile={**A100_1G, "vm_numa_node": 0}, note="node0"),
    Case("gpu-intel-a100", "host.resources.hugepages", {"hugepages-1G": "pass", "hugepages-1G@node1": "fail"},
         profile={**A100_1G, "vm_numa_node": 1}, note="pages-on-the-other-node"),
    Case("gpu-intel-a100", "host.resources.hugepages", {"hugepages-1G": "fail", "hugepages-1G@node0": "fail"},
         profile={"hugepage_size": "1G", "vm_memory_gb": 80, "vm_numa_node": 0}, note="too-few"),
    Case("gpu-intel-a100", "host.resources.hugepages", {"hugepages-1G": "pass", "hugepages-1G@node2": "fail"},
         profile={**A100_1G, "vm_numa_node": 2}, note="no-such-node"),
    Case("gpu-amd-rx6800", "host.resources.hugepages", {"hugepages-2M": "pass"},
         profile={"hugepage_size": "2M", "vm_memory_gb": 16}),
    Case("gpu-runtime-only", "host.resources.hugepages", {"hugepages-2M": "warn", "hugepages-2M@node0": "warn"},
         profile={"hugepage_size": "2M", "vm_memory_gb": 8, "vm_numa_node": 0}, note="in-use"),
    Case("gpu-nouveau", "host.resources.hugepages", {"hugepages-2M": "fail"},
         profile={"hugepage_size": "2M", "vm_memory_gb": 16}, note="none-reserved"),
    Case("gpu-nouveau", "host.resources.hugepages", {"hugepages": "error"}, profile={"hugepage_size": "3X"}),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    case.verify(tmp_path)


def _by_resource(scenario, profile):
    findings = Case(scenario, "host.resources.hugepages", {}, profile=profile).findings()
    return {f.resource: f for f in findings if f.check_id == "host.resources.hugepages"}


def test_shortfall_shows_the_arithmetic_and_a_boot_time_reservation():
    got = _by_resource("gpu-intel-a100", {"hugepage_size": "1G", "vm_memory_gb": 80, "vm_numa_node": 0})
    assert "64 1G pages reserved but 80 GiB / 1G = 80 pages needed (short by 16)" in got["hugepages-1G"].message
    assert "hugepagesz=1G hugepages=80" in got["hugepages-1G"].remediation
    assert "hugepages=0:80" in got["hugepages-1G@node0"].remediation


def test_pages_on_another_node_do_not_count():
    got = _by_resource("gpu-intel-a100", {**A100_1G, "vm_numa_node": 1})
    assert "node 1 holds 0 1G pages but 64 GiB / 1G = 64 pages needed on node 1" in got["hugepages-1G@node1"].message
