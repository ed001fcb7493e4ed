"""NUMA facts: nodes and their hugepage pools (/sys/devices/system/node/nodeN/hugepages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from autoglm_doctor.facts.meminfo import HugepagePool, read_count

if TYPE_CHECKING:
    from autoglm_doctor.check import Context

NODE_ROOT = "/sys/devices/system/node"


def _validate_node(value: int) -> int:
    if value < 0:
        raise ValueError("must be a NUMA node number (0, 1, ...)")
    return value


def numa_nodes(ctx: Context) -> list[int]:
    """Node numbers; [] when the kernel has no NUMA sysfs (CONFIG_NUMA off)."""
    names = ctx.target.listdir(NODE_ROOT) or []
    return sorted(int(n[4:]) for n in names if n.startswith("node") and n[4:].isdigit())


def node_hugepage_pool(ctx: Context, node: int, size_kb: int) -> HugepagePool | None:
    """The pool of ``size_kb`` pages on one node, or None when the node or size does not exist."""
    d = f"{NODE_ROOT}/node{node}/hugepages/hugepages-{size_kb}kB"
    if ctx.target.listdir(d) is None:
        return None
    return HugepagePool(size_kb, read_count(ctx, f"{d}/nr_hugepages"), read_count(ctx, f"{d}/free_hugepages"),
                        0)
