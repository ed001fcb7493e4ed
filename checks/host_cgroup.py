"""Host basics: cgroup version and the controllers VMs and containers need."""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.facts.cgroup import cgroup_info
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity

# What libvirt and Docker use. On v2, 'devices' is not a controller: device access is enforced with
# BPF programs (CONFIG_CGROUP_BPF, see host.kernel.config), so it is never asked for there; the
# freezer is built into every v2 cgroup (cgroup.freeze).
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "blkio", "pids", "freezer")
V2_CONTROLLERS = ("cpu", "cpuset", "memory", "io", "pids")


class CgroupControllers(Check):
    meta = CheckMeta(
        id="host.cgroup.controllers",
        title="cgroup version and controllers for VMs and containers",
        severity=Severity.HIGH,
        scope=(Scope.HOST, Scope.GUEST),
        remediation="enable the controller: remove cgroup_disable=NAME from the kernel command line, or mount its v1 hierarchy",
        docs=docs_link("host.cgroup.controllers"),
        description="v2: /sys/fs/cgroup/cgroup.controllers; v1: mounted hierarchies in /proc/mounts, enabled in /proc/cgroups.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        cg = ctx.fact(cgroup_info)
        if cg.version == 2:
            yield self.passed("cgroup v2 (unified hierarchy at /sys/fs/cgroup)", resource="version",
                              observed="v2", expected="v2")
            wanted: tuple[str, ...] = V2_CONTROLLERS
        else:
            extra = f", cgroup2 also mounted at {cg.hybrid_v2_mount} (hybrid)" if cg.hybrid_v2_mount else ""
            yield self.warn(
                f"cgroup v1{extra}: deprecated; current Docker, runc and systemd releases are dropping v1 support",
                resource="version", observed="v1", expected="v2", severity=Severity.LOW,
                remediation="boot with systemd.unified_cgroup_hierarchy=1 (and without cgroup_no_v1 overrides) to use cgroup v2",
            )
            wanted = V1_CONTROLLERS
        for name in wanted:
            if name in cg.disabled:
                yield self.fail(f"controller {name} is disabled (/proc/cgroups enabled=0, e.g. cgroup_disable={name})",
                                resource=name, observed="disabled", expected="enabled",
                                remediation=f"enable the controller: remove cgroup_disable={name} from the kernel "
                                            "command line, or mount its v1 hierarchy")
            elif name in cg.controllers:
                where = f" at {cg.mounts[name]}" if name in cg.mounts else ""
                yield self.passed(f"controller {name} is available{where}", resource=name,
                                  observed="available", expected="available")
            else:
                how = "not listed in cgroup.controllers" if cg.version == 2 else "no cgroup v1 hierarchy mounts it"
                yield self.fail(f"controller {name} is missing: {how}", resource=name,
                                observed="missing", expected="available",
                                remediation=f"enable the {name} controller: remove cgroup_disable={name} from the "
                                            "kernel command line, or mount its v1 hierarchy")


CHECKS = (CgroupControllers,)
