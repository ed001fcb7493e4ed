"""Plan for a running SELinux mode that differs from /etc/selinux/config.

The host was checked (and the deployment tested) in the mode it runs now; at the next boot it comes
up in the configured one. The fix writes the running mode into SELINUX= of /etc/selinux/config (the
file keeps its mode and label, SELINUXTYPE and comments are untouched) and never calls setenforce:
changing the running mode of a production host is the operator's decision, and a config matching
what runs changes nothing until the next boot, when it keeps the host as it was tested.

Not planned: SELinux configured but not running (booted with selinux=0, or never relabelled) —
turning it on needs ``touch /.autorelabel`` and a reboot that relabels every file, and keeping it off
is done with selinux=0 on the kernel command line (RHEL 9 ignores SELINUX=disabled); both are policy
decisions. A kernel command line with ``enforcing=`` overrides the file at boot: the plan says so.
"""

from __future__ import annotations

from typing import Sequence

from autoglm_doctor.check import Context
from autoglm_doctor.facts.cmdline import kernel_cmdline
from autoglm_doctor.facts.selinux import SELINUX_CONFIG, selinux_state
from autoglm_doctor.model import Finding, FixMeta, Severity
from autoglm_doctor.plan import EnsureLine, Fix, Plan
from autoglm_doctor.targets.base import TargetError


class SelinuxConfigMode(Fix):
    meta = FixMeta(
        id="fix.selinux.config_mode",
        title="Make /etc/selinux/config say the mode SELinux runs in (never setenforce)",
        fixes=("container.selinux.mode",),
        risk=Severity.MEDIUM,
        description=f"SELINUX= in {SELINUX_CONFIG} set to the running mode (enforcing or permissive), so the next "
                    "boot keeps the mode the host runs and was checked in. The running mode is never changed. "
                    "SELinux configured but not running is not planned (relabel and reboot, a policy decision).",
    )

    def plan(self, ctx: Context, findings: Sequence[Finding]) -> Plan:
        s = ctx.fact(selinux_state)
        if not s.loaded:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings), notes=(
                f"SELinux is not running but {SELINUX_CONFIG} says {s.configured}: to turn it on, touch "
                "/.autorelabel and reboot (every file is relabelled); to keep it off, boot with selinux=0. "
                "Either is a policy decision: not planned",))
        if s.configured == s.running:
            return Plan(self.meta.id, self.meta.title, (), tuple(findings),
                        notes=(f"{SELINUX_CONFIG} already says {s.running}",))
        notes = [f"SELinux runs {s.running} and {SELINUX_CONFIG} says {s.configured or '(nothing: no file)'}: the "
                 f"file is made to say {s.running}; the running mode is not changed (no setenforce)"]
        if s.running == "permissive":
            notes.append("this keeps the host permissive after reboots (denials only logged): if permissive was a "
                         "temporary measure, review the denials (ausearch -m avc -ts recent) and run setenforce 1 "
                         "yourself instead of applying this fix")
        try:
            enforcing_arg = ctx.fact(kernel_cmdline).last("enforcing")
        except TargetError:
            enforcing_arg = None
        if enforcing_arg is not None:
            notes.append(f"the kernel command line has enforcing={enforcing_arg}, which decides the mode at boot "
                         "over the file: remove it from the boot loader's configuration for the file to count")
        change = EnsureLine(SELINUX_CONFIG, f"SELINUX={s.running}", r"^\s*SELINUX\s*=")
        return Plan(self.meta.id, self.meta.title, (change,), tuple(findings), notes=tuple(notes))


FIXES = (SelinuxConfigMode,)
