"""Host basics: kernel release against the requirement table, kernel build options."""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Check, Context, docs_link
from autoglm_doctor.datafiles import load_table
from autoglm_doctor.facts.cgroup import cgroup_info
from autoglm_doctor.facts.cpu import cpu_info
from autoglm_doctor.facts.kernel import kernel_config, kernel_release, parse_release
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.targets.base import TargetError


def _applies(row: dict, cgroup_version: int | None) -> bool:
    when = row.get("when", "always")
    if when == "always":
        return True
    if cgroup_version is None:
        return False
    return when == f"cgroup{cgroup_version}"


def _cgroup_version(ctx: Context) -> int | None:
    try:
        return ctx.fact(cgroup_info).version
    except TargetError:
        return None


class KernelRelease(Check):
    meta = CheckMeta(
        id="host.kernel.release",
        title="Kernel release meets the requirement table",
        severity=Severity.HIGH,
        scope=(Scope.HOST, Scope.GUEST),
        remediation="upgrade the kernel (e.g. Ubuntu: apt install linux-generic-hwe-22.04; RHEL/CentOS: dnf update kernel) and reboot",
        docs=docs_link("host.kernel.release"),
        description="Compares the running kernel release with the minimum each feature of the deployment needs.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        release = ctx.fact(kernel_release)
        cg = _cgroup_version(ctx)
        for row in load_table("kernel.json")["release"]:
            if not _applies(row, cg):
                continue
            need = parse_release(row["min"])
            expected = f">= {row['min']}"
            if release.version >= need.version:
                yield self.passed(f"{release} >= {row['min']}: {row['why']}", resource=row["feature"],
                                  observed=release.text, expected=expected)
            elif row["level"] == "fail":
                yield self.fail(f"{release} is older than {row['min']}: {row['why']}", resource=row["feature"],
                                observed=release.text, expected=expected)
            else:
                yield self.warn(f"{release} is older than {row['min']}: {row['why']}", resource=row["feature"],
                                observed=release.text, expected=expected, severity=Severity.MEDIUM)


class KernelConfigOptions(Check):
    meta = CheckMeta(
        id="host.kernel.config",
        title="Kernel build options for KVM, VFIO, bridges and containers",
        severity=Severity.HIGH,
        scope=(Scope.HOST, Scope.GUEST),
        remediation="use a distribution kernel that enables the option (y or m), or rebuild the kernel with it",
        docs=docs_link("host.kernel.config"),
        description="Reads /proc/config.gz or /boot/config-RELEASE; a module (=m) counts as available.",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        config = ctx.fact(kernel_config)
        if config.source is None:
            yield self.skip(
                "kernel build configuration not found (looked at " + ", ".join(config.tried) + ")",
                remediation="load the 'configs' module (modprobe configs) for /proc/config.gz, or install the kernel's "
                            "config file in /boot",
            )
            return
        try:
            vendor = ctx.fact(cpu_info).vendor
        except TargetError:
            vendor = ""
        cg = _cgroup_version(ctx)
        modules = config.state("CONFIG_MODULES") == "y"
        for row in load_table("kernel.json")["config"]:
            if row.get("vendor") and row["vendor"] != vendor:
                continue
            if not _applies(row, cg):
                continue
            name, state = row["name"], config.state(row["name"])
            if state in ("y", "m"):
                how = "built in" if state == "y" else "a module"
                yield self.passed(f"{name}={state} ({how}): {row['why']}", resource=name, observed=state,
                                  expected="y or m")
                continue
            tail = "" if modules else "; this kernel cannot load modules (CONFIG_MODULES is not set), so it must be built in"
            message = f"{name} is not set in {config.source}: {row['why']}{tail}"
            if row["level"] == "fail":
                yield self.fail(message, resource=name, observed=state, expected="y or m")
            else:
                yield self.warn(message, resource=name, observed=state, expected="y or m", severity=Severity.MEDIUM)


CHECKS = (KernelRelease, KernelConfigOptions)
