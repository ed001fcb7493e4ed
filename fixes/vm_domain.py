"""One plan per VM for the mechanical vm.* findings: the domain XML edited (fixes/vm_xml.py) and redefined
through the remediation engine, which journals the old definition (RedefineDomain).

All edits of one domain go into one redefinition: two plans each holding a whole new XML made from the same
old one would undo each other. What needs the host changed first (more hugepages reserved, a bridge that does
not exist) is left as a note, never edited into a definition that could then not start.
"""

from __future__ import annotations

from typing import Callable, Sequence

from autoglm_doctor.adapters.libvirt_api import DEFAULT_URI
from autoglm_doctor.check import Context
from autoglm_doctor.checks.host_resources import hugepages_needed
from autoglm_doctor.facts.bars import human, read_bars, window_need
from autoglm_doctor.facts.domain import DomainRecord, domain_set
from autoglm_doctor.facts.meminfo import hugepage_pools
from autoglm_doctor.facts.pci import pci_inventory
from autoglm_doctor.fixes import vm_xml
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import Fix, Plan, RedefineDomain

FIXED = ("vm.hostdev.managed", "vm.hostdev.functions", "vm.cpu.mode", "vm.memory.hugepages", "vm.hostdev.bars",
         "vm.agent.channel")
Edit = Callable[[str], str]


def _pow2_mib(need: int) -> int:
    mib = max(need >> 20, 1)
    return 1 << (mib - 1).bit_length()


class DomainXml(Fix):
    meta = FixMeta(
        id="fix.vm.domain_xml",
        title="Edit the VM's libvirt definition: managed hostdevs, the card's missing functions, host-passthrough "
              "CPU, hugepage backing, a 64-bit MMIO window, the guest-agent channel",
        fixes=FIXED,
        risk=Severity.MEDIUM,
        description="Builds the new domain XML from the definition libvirt holds (ElementTree edits) and redefines "
                    "the domain with it; the engine journals the old XML for rollback. A running guest keeps its "
                    "configuration until it is shut down and started again.",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        ds = ctx.fact(domain_set)
        uri = ctx.profile.get("libvirt_uri") if ctx.profile.is_set("libvirt_uri") else DEFAULT_URI
        changes: list[RedefineDomain] = []
        notes: list[str] = []
        for rec in ds.records:
            mine = [f for f in findings if f.resource == rec.name or f.resource.startswith(rec.name + ":")]
            if not mine or rec.domain is None:
                continue
            edits: list[tuple[str, Edit]] = []
            for f in mine:
                edit = self._edit(ctx, rec, f, notes)
                if edit is not None and edit[0] not in (e[0] for e in edits):
                    edits.append(edit)
            new = rec.xml
            for _what, apply_edit in edits:
                new = apply_edit(new)
            if edits and new != rec.xml:
                changes.append(RedefineDomain(uri, rec.name, new))
                notes.append(f"{rec.name}: " + "; ".join(w for w, _e in edits))
                if "<graphics" in rec.xml:
                    notes.append(f"{rec.name}: a VNC/SPICE password is not visible on the read-only connection "
                                 "this plan was made from; the engine journals the full old definition, but set "
                                 "the password again if the guest has one")
                if rec.active:
                    notes.append(f"{rec.name} is running: the new definition applies at its next cold start "
                                 f"(virsh shutdown {rec.name}; virsh start {rec.name})")
        return Plan(self.meta.id, self.meta.title, tuple(changes), tuple(findings), notes=tuple(notes))

    def _edit(self, ctx: Context, rec: DomainRecord, f: Finding, notes: list[str]) -> tuple[str, Edit] | None:
        dom = rec.domain
        assert dom is not None
        cid = f.check_id
        if cid == "vm.hostdev.managed":
            unmanaged = [h.address for h in dom.hostdevs if not h.managed]
            return "managed='yes' on " + ", ".join(unmanaged), lambda x: vm_xml.set_managed(x, unmanaged)
        if cid == "vm.hostdev.functions":
            return self._functions(ctx, rec, f)
        if cid == "vm.cpu.mode":
            return "host-passthrough CPU", vm_xml.cpu_host_passthrough
        if cid == "vm.agent.channel":
            return "guest-agent channel", vm_xml.agent_channel
        if cid == "vm.memory.hugepages":
            return self._hugepages(ctx, rec, notes)
        if cid == "vm.hostdev.bars":
            bars = []
            for h in dom.hostdevs:
                if ctx.fact(pci_inventory).get(h.address) is not None:
                    bars += [b for b in (read_bars(ctx.target, h.address) or []) if b.mem64]
            mib = _pow2_mib(window_need(bars))
            how = f"OVMF X-PciMmio64Mb={mib}" if dom.uefi else f"pcihole64 {human(mib << 20)}"
            return f"64-bit MMIO window {human(mib << 20)} ({how})", lambda x: vm_xml.mmio64_window(x, mib, dom.uefi)
        return None

    def _functions(self, ctx: Context, rec: DomainRecord, f: Finding) -> tuple[str, Edit] | None:
        inv = ctx.fact(pci_inventory)
        passed = {h.address for h in rec.domain.hostdevs} if rec.domain else set()
        slot = f.resource[len(rec.name) + 1:]
        gpu = next((d for d in (inv.get(a) for a in passed) if d is not None and d.slot == slot), None)
        if gpu is None:
            return None
        missing = sorted(d.address for d in inv.same_card(gpu) if d.address not in passed)
        return (f"add {', '.join(missing)} (functions of {gpu.address})",
                lambda x: vm_xml.add_functions(x, gpu.address, missing))

    def _hugepages(self, ctx: Context, rec: DomainRecord, notes: list[str]) -> tuple[str, Edit] | None:
        dom = rec.domain
        assert dom is not None
        if dom.hugepages:
            notes.append(f"{rec.name}: its hugepage pool is too small; reserve more pages on the host "
                         "(host.resources.hugepages, fix.hugepages.reserve where available), not in the domain")
            return None
        pools = [p for p in ctx.fact(hugepage_pools) if p.total > 0]
        fits = [p for p in pools if p.total >= hugepages_needed(dom.memory_bytes / (1 << 30), p.size_kb)]
        if not fits:
            notes.append(f"{rec.name}: no reserved hugepage pool holds its {human(dom.memory_bytes)}; reserve more "
                         "pages first (host.resources.hugepages), then plan again")
            return None
        pool = max(fits, key=lambda p: p.size_kb)
        return f"hugepage backing ({pool.label} pages)", lambda x: vm_xml.hugepage_backing(x, pool.size_kb)


FIXES = (DomainXml,)
