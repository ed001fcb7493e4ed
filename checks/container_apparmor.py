"""AppArmor for the AutoGLM containers — what SELinux is on RHEL/Fedora, AppArmor is on Ubuntu and Debian
guests: Docker confines every container with the ``docker-default`` profile unless told otherwise.

- The kernel has AppArmor when /sys/module/apparmor/parameters/enabled says ``Y``; loaded profiles are
  listed in /sys/kernel/security/apparmor/profiles as ``NAME (enforce|complain|kill|unconfined)``.
- A container started with ``--security-opt apparmor=NAME`` for a profile that is not loaded does not
  start ("apparmor failed to apply profile: … no such file or directory"): after a reboot the profile must
  be loaded again (apparmor_parser -r in a unit, or /etc/apparmor.d + the apparmor service).
- ``apparmor=unconfined`` removes the confinement the rest of the deployment assumes.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from autoglm_doctor.check import Context, docs_link
from autoglm_doctor.facts.docker import Resolved
from autoglm_doctor.model import CheckMeta, Finding, Scope, Severity
from autoglm_doctor.per_resource import PerContainer

ENABLED = "/sys/module/apparmor/parameters/enabled"
PROFILES = "/sys/kernel/security/apparmor/profiles"


def loaded_profiles(text: str | None) -> dict[str, str]:
    """``docker-default (enforce)`` lines -> {name: mode}."""
    out = {}
    for line in (text or "").splitlines():
        name, _, mode = line.rstrip().rpartition(" (")
        if name and mode.endswith(")"):
            out[name] = mode[:-1]
    return out


def apparmor_profiles(ctx: Context) -> dict[str, str]:
    """The kernel's loaded AppArmor profiles: {name: mode}."""
    return loaded_profiles(ctx.target.read_text(PROFILES))


class ContainerProfiles(PerContainer):
    meta = CheckMeta(
        id="container.apparmor.profiles",
        title="AppArmor confines the AutoGLM containers with a loaded profile",
        severity=Severity.MEDIUM,
        scope=(Scope.CONTAINER,),
        remediation="keep Docker's docker-default profile (drop --security-opt apparmor=unconfined), or load the "
                    "container's own profile at boot: install it under /etc/apparmor.d and apparmor_parser -r it",
        docs=docs_link("container.apparmor.profiles"),
        description="Each expected container's AppArmorProfile (docker inspect) against the kernel's loaded "
                    "profiles; skipped where the kernel has no AppArmor (SELinux hosts: container.selinux.*).",
    )

    def run(self, ctx: Context) -> Iterable[Finding]:
        t = ctx.target
        enabled = (t.read_text(ENABLED) or "").strip()
        if enabled != "Y":
            yield self.skip(f"AppArmor is not enabled in this kernel ({ENABLED}: {enabled or 'absent'}): nothing "
                            "confines containers through it", resource="apparmor")
            return
        yield from super().run(ctx)

    def judge(self, ctx: Context, res: Resolved) -> Iterator[Finding]:
        assert res.inspect is not None
        loaded = ctx.fact(apparmor_profiles)
        profile = str(res.inspect.get("AppArmorProfile") or "")
        kw = dict(resource=res.name, observed=profile or "(none)", expected="a loaded, enforcing profile")
        if profile in ("", "unconfined"):
            yield self.warn(f"{res.name} runs unconfined by AppArmor "
                            f"({'--security-opt apparmor=unconfined' if profile else 'no profile applied'})", **kw)
        elif profile not in loaded:
            yield self.fail(f"{res.name} asks for AppArmor profile {profile!r}, which is not loaded: the container "
                            "will not start again (\"apparmor failed to apply profile\")", **kw)
        elif loaded[profile] != "enforce":
            yield self.warn(f"{res.name}'s profile {profile} is in {loaded[profile]} mode (logs, does not confine)",
                            **kw)
        else:
            yield self.passed(f"{res.name} is confined by {profile} (enforce)", **kw)


CHECKS = (ContainerProfiles,)
