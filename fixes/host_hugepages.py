"""Plan for too few hugepages for the VM's memory (host.resources.hugepages).

Where the pages are reserved depends on their size:
- 2M pages of the default size: ``vm.nr_hugepages`` now (the kernel gathers free 2M blocks) and in
  /etc/sysctl.d, which systemd-sysctl applies early at boot, before memory fragments;
- 1G pages (and any size that is not the default): on the kernel command line, ``hugepagesz=1G
  hugepages=N`` (with ``default_hugepagesz=1G`` when no other size is configured, so the
  /dev/hugepages mount libvirt uses holds 1G pages). A running host rarely has N free, aligned 1G
  blocks, so nothing is reserved now: the plan needs a reboot and stays pending until then;
- pages on one NUMA node (profile.vm_numa_node): the node's own nr_hugepages now for 2M pages, and
  ``hugepages=NODE:N`` on the command line (Linux 5.16 and later read the node form).
The command line goes through the detected boot loader's tool (update-grub, grubby, grub2-mkconfig
-o, /etc/kernel/cmdline). Hugepage parameters for other sizes already on the command line are kept.
"""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.bootloader import detect
from autoglm_doctor.facts.cmdline import kernel_cmdline
from autoglm_doctor.facts.cmdline_plan import cmdline_changes
from autoglm_doctor.facts.kernel import kernel_release
from autoglm_doctor.facts.meminfo import hugepage_pools, meminfo
from autoglm_doctor.facts.numa import node_hugepage_pool
from autoglm_doctor.facts.sysctl_plan import persist_sysctl
from autoglm_doctor.facts.vm_memory import hugepages_needed, vm_memory_gib
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Change, Fix, Plan, SetValue
from autoglm_doctor.targets.base import TargetError

HUGEPAGES_CONF = "/etc/sysctl.d/90-autoglm-doctor-hugepages.conf"
POOL = "/sys/kernel/mm/hugepages/hugepages-{kb}kB/nr_hugepages"
NODE_POOL = "/sys/devices/system/node/node{node}/hugepages/hugepages-{kb}kB/nr_hugepages"
GIB_KB = 1024 * 1024
HUGE_KEYS = ("default_hugepagesz", "hugepagesz", "hugepages")


def size_kb(label: str) -> int | None:
    """hugepagesz values as the kernel takes them (memparse): 2M, 2048K, 1G, 1073741824."""
    text = label.strip().upper().rstrip("B")
    units = {"K": 1, "M": 1024, "G": GIB_KB}
    if text and text[-1] in units and text[:-1].isdigit():
        return int(text[:-1]) * units[text[-1]]
    return int(text) // 1024 if text.isdigit() else None


def size_label(kb: int) -> str:
    return f"{kb // GIB_KB}G" if kb >= GIB_KB and kb % GIB_KB == 0 else f"{kb // 1024}M"


def cmdline_pairs(params: Sequence[tuple[str, str | None]]) -> tuple[str | None, dict[int, str]]:
    """(default_hugepagesz, {size kB: hugepages value}) from kernel parameters, in the kernel's
    pairing: each hugepages= belongs to the hugepagesz= before it (the default size without one)."""
    default = None
    pairs: dict[int, str] = {}
    current: int | None = None
    for name, value in params:
        if name == "default_hugepagesz" and value:
            default = value
        elif name == "hugepagesz" and value:
            current = size_kb(value)
        elif name == "hugepages" and value is not None:
            kb = current if current is not None else (size_kb(default) if default else 2048)
            if kb:
                pairs[kb] = value
    return default, pairs


def hugepage_args(default: str | None, pairs: dict[int, str]) -> tuple[str, ...]:
    words = [f"default_hugepagesz={default}"] if default else []
    for kb in sorted(pairs):
        words += [f"hugepagesz={size_label(kb)}", f"hugepages={pairs[kb]}"]
    return tuple(words)


def _meminfo(ctx: Context) -> dict[str, int]:
    """/proc/meminfo, or nothing (a snapshot that never recorded it: the default size is 2M on x86)."""
    try:
        return ctx.fact(meminfo)
    except TargetError:
        return {}


class ReserveHugepages(Fix):
    meta = FixMeta(
        id="fix.hugepages.reserve",
        title="Reserve the hugepages the VM's memory needs, at boot (and now where the kernel can)",
        fixes=("host.resources.hugepages",),
        risk=Severity.MEDIUM,
        description=f"2M pages: vm.nr_hugepages now and in {HUGEPAGES_CONF}. 1G pages: hugepagesz=1G hugepages=N "
                    "on the kernel command line through the boot loader's own tool (reboot). Pages on one NUMA "
                    "node: the node's nr_hugepages now (2M) and hugepages=NODE:N on the command line. Reserved "
                    "pages are memory the host's processes can no longer use.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        wanted = str(ctx.profile.get("hugepage_size") or "")
        kb = size_kb(wanted) if wanted else None
        mine = [f for f in findings if (f.resource or "").startswith("hugepages-")]
        if not kb or not mine:
            return Plan(self.meta.id, self.meta.title, (), (), notes=("no hugepage size to reserve",))
        need = hugepages_needed(vm_memory_gib(ctx), kb)
        pool = next((p for p in ctx.fact(hugepage_pools) if p.size_kb == kb), None)
        if pool is None:
            return Plan(self.meta.id, self.meta.title, (), tuple(mine), notes=(
                f"the kernel offers no {wanted} pool (1G pages need the pdpe1gb CPU flag): reserving is impossible; "
                "choose a size the CPU offers in profile.hugepage_size",))
        node = ctx.profile.get("vm_numa_node") if ctx.profile.is_set("vm_numa_node") else None
        node_finding = next((f for f in mine if "@node" in (f.resource or "")), None)
        info = _meminfo(ctx)
        default_kb = info.get("Hugepagesize", 2048 * 1024) // 1024
        cmdline = ctx.fact(kernel_cmdline)
        default, pairs = cmdline_pairs(cmdline.params)
        changes: list[Change] = []
        notes: list[str] = []
        if node is not None and node_finding is not None:
            npool = node_hugepage_pool(ctx, node, kb)
            if npool is None:
                return Plan(self.meta.id, self.meta.title, (), tuple(mine),
                            notes=(f"node {node} has no {wanted} pool: set profile.vm_numa_node to a host node",))
            count = need if npool.total < need else npool.total + need - npool.free
            extra = count - npool.total
            if kb == 2048:
                changes.append(SetValue(NODE_POOL.format(node=node, kb=kb), str(count), risk="disruptive"))
            try:
                release = ctx.fact(kernel_release).version
            except TargetError:
                release = (0, 0, 0)
            if release < (5, 16, 0):
                notes.append(f"Linux {'.'.join(map(str, release))} predates the hugepages=NODE:N form (5.16) and "
                             f"would spread a boot reservation over all nodes: reserve {count} pages on node {node} "
                             f"from a boot unit (echo {count} > {NODE_POOL.format(node=node, kb=kb)})")
                return self._finish(ctx, changes, mine, notes, count, extra, kb, reboot=False)
            pairs[kb] = f"{node}:{count}"
        else:
            count = need if pool.total < need else pool.total + need - pool.free
            extra = count - pool.total
            on_cmdline = kb in pairs
            pairs[kb] = str(count)
            if kb == 2048:
                changes.append(SetValue(POOL.format(kb=kb), str(count), risk="disruptive"))
                notes.append(f"{count} x {wanted} are reserved now: if memory is too fragmented for the kernel to "
                             "find them, the read-back fails and the plan is rolled back (reboot, then apply again)")
            if kb == 2048 and kb == default_kb and not on_cmdline:
                persist, persist_notes = persist_sysctl(ctx, "vm.nr_hugepages", count, HUGEPAGES_CONF,
                                                        f"{count} x 2M pages for the AutoGLM VM's memory")
                changes += persist
                notes += persist_notes
                return self._finish(ctx, changes, mine, notes, count, extra, kb, reboot=False)
        if kb == GIB_KB and default is None and set(pairs) == {kb}:
            default = wanted
        if len(pairs) > 1 and detect(ctx.target).kind == "grubby":
            notes.append(f"hugepage parameters for several sizes ({' '.join(hugepage_args(default, pairs))}): grubby "
                         "keeps only one value per parameter name, so they are not planned; set them by hand")
            return self._finish(ctx, changes, mine, notes, count, extra, kb, reboot=False)
        args = hugepage_args(default, pairs)
        drop = tuple(k for k in HUGE_KEYS if not any(a.startswith(k + "=") for a in args))
        cl, cl_notes, _bl = cmdline_changes(ctx.target, args, drop)
        changes += cl
        notes += cl_notes
        if kb != 2048:
            notes.append(f"{wanted} pages are reserved at boot only: a running host rarely has {count} free, aligned "
                         f"{wanted} blocks")
        return self._finish(ctx, changes, mine, notes, count, extra, kb, reboot=bool(cl))

    def _finish(self, ctx: Context, changes: list[Change], mine: list[Finding], notes: list[str], count: int,
                extra: int, kb: int, *, reboot: bool) -> Plan:
        gib = count * kb / GIB_KB
        notes.append(f"{count} x {size_label(kb)} = {gib:g} GiB is set aside for hugepages: the host's own processes "
                     "cannot use it (see host.resources.memory)")
        available = _meminfo(ctx).get("MemAvailable")
        if available is not None and extra * kb * 1024 > available:
            notes.append(f"{extra} more pages need {extra * kb / GIB_KB:g} GiB but only {available / (1 << 30):.1f} "
                         "GiB is available now: the reservation will come up short until memory is freed")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(mine), reboot_required=reboot,
                    notes=tuple(notes))


FIXES = (ReserveHugepages,)
