"""Base classes for checks that judge one resource at a time: each expected container, each
passthrough GPU, each bridge that matters, each libvirt domain under review.

The base finds the resources and says what to say when there are none or one cannot be judged
(absent, unreadable); a check is its metadata plus ``judge(ctx, resource)``. Facts are imported
inside the methods, so a check module that uses one base does not load every family's facts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from autoglm_doctor.check import Check, Context
from autoglm_doctor.model import Finding

if TYPE_CHECKING:
    from autoglm_doctor.facts.docker import Resolved
    from autoglm_doctor.facts.domain import Domain, DomainRecord
    from autoglm_doctor.facts.pci import PciDevice
    from autoglm_doctor.facts.vmnet import BridgeView


class PerContainer(Check):
    """Each expected container (``profile.containers``) that exists: ``judge``; one that does not is
    ``absent`` (by default a skip: container.deploy.present reports the absence itself).

    ``none_expected`` is the skip when no container is expected (None: say nothing, the check has
    more to judge after the containers); ``nothing_judged`` the skip when containers exist but
    ``judge`` found nothing in them to judge (no mounts, no ports)."""

    none_expected: str | None = "no container is expected here"  # the skip when ``containers`` is empty
    none_resource = "containers"
    nothing_judged: str | None = None
    nothing_resource = "containers"

    def containers(self, ctx: Context) -> Sequence["Resolved"]:
        from autoglm_doctor.facts.docker import resolve_containers

        return resolve_containers(ctx)

    def run(self, ctx: Context) -> Iterable[Finding]:
        found = self.containers(ctx)
        if not found:
            if self.none_expected:
                yield self.skip(self.none_expected, resource=self.none_resource)
            return
        judged = False
        for res in found:
            if res.inspect is None:
                yield from self.absent(ctx, res)
                continue
            for finding in self.judge(ctx, res):
                judged = True
                yield finding
        if not judged and self.nothing_judged:
            yield self.skip(self.nothing_judged, resource=self.nothing_resource)

    def absent(self, ctx: Context, res: "Resolved") -> Iterator[Finding]:
        yield res.skip_absent(self)

    def judge(self, ctx: Context, res: "Resolved") -> Iterator[Finding]:
        raise NotImplementedError


class PerModelContainer(PerContainer):
    """Each expected model-server container (role ``model``)."""

    none_expected = "no model-server container is expected here"
    none_resource = "model"

    def containers(self, ctx: Context) -> Sequence["Resolved"]:
        return [r for r in super().containers(ctx) if r.spec["role"] == "model"]


class PerGpu(Check):
    """Each passthrough GPU (``profile.gpus``, or every NVIDIA/AMD GPU that is not the boot VGA)."""

    def run(self, ctx: Context) -> Iterable[Finding]:
        from autoglm_doctor.facts.pci import passthrough_gpus

        gpus = ctx.fact(passthrough_gpus).gpus
        if not gpus:
            yield self.skip("no passthrough GPU (see host.pci.gpus)", resource="gpus")
        for gpu in gpus:
            yield from self.judge(ctx, gpu)

    def judge(self, ctx: Context, gpu: "PciDevice") -> Iterator[Finding]:
        raise NotImplementedError


NO_BRIDGE = "network_mode is 'nat' and no libvirt guest uses a host bridge"


class PerBridge(Check):
    """Each bridge that matters (``profile.bridge`` and every bridge a libvirt guest attaches to): an
    unreadable one is an error, one that is absent or not a bridge is ``absent`` (a skip pointing to
    host.bridge.present, which overrides it), a usable one is judged."""

    def run(self, ctx: Context) -> Iterable[Finding]:
        from autoglm_doctor.facts.vmnet import bridge_views, bridges_to_check

        views = ctx.fact(bridge_views)
        if not views:
            yield self.skip("no bridge to check: " + (ctx.fact(bridges_to_check).note or NO_BRIDGE))
            return
        for view in views.values():
            if view.error:
                yield self.error(f"could not read {view.name}: {view.error}", resource=view.name)
            elif not view.usable:
                yield from self.absent(ctx, view)
            else:
                yield from self.judge(ctx, view)

    def absent(self, ctx: Context, view: "BridgeView") -> Iterator[Finding]:
        state = "does not exist" if view.iface is None else f"is a {view.iface.kind} interface, not a bridge"
        yield self.skip(f"{view.name} {state} (see host.bridge.present)", resource=view.name)

    def judge(self, ctx: Context, view: "BridgeView") -> Iterator[Finding]:
        raise NotImplementedError


NO_DOMAINS = ("no libvirt domain has a PCI hostdev: no GPU VM to review (name the AutoGLM VM in "
              "profile.vm_domains to review it anyway)")


class PerDomain(Check):
    """Each libvirt domain under review (``domain_set``: profile.vm_domains, else every domain with a PCI
    hostdev): ``judge(ctx, dom, rec)``. What cannot be reviewed (libvirt unreachable, a missing domain,
    XML that does not parse) skips with a pointer to vm.domain.defined, which reports it once; a domain
    in which the check found nothing to review skips with ``nothing_judged`` (``{name}``) - never silence."""

    nothing_judged = "{name} has nothing this check reviews"

    def run(self, ctx: Context) -> Iterable[Finding]:
        from autoglm_doctor.facts.domain import domain_set

        ds = ctx.fact(domain_set)
        if ds.unavailable:
            yield self.skip(f"{ds.unavailable} (see vm.domain.defined)", resource="libvirt")
            return
        if not ds.records:
            yield self.skip(NO_DOMAINS if not ds.missing else
                            f"none of the profile's domains is defined at {ds.uri} (see vm.domain.defined)",
                            resource="domains")
            return
        for rec in ds.records:
            if rec.domain is None:
                yield self.skip(f"{rec.problem} (see vm.domain.defined)", resource=rec.name)
                continue
            judged = False
            for finding in self.judge(ctx, rec.domain, rec):
                judged = True
                yield finding
            if not judged:
                yield self.skip(self.nothing_judged.format(name=rec.name), resource=rec.name)

    def judge(self, ctx: Context, dom: "Domain", rec: "DomainRecord") -> Iterable[Finding]:
        raise NotImplementedError
