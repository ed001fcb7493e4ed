"""Per-resource bases: a check is its metadata plus ``judge``; the base says what to do when there
is nothing to judge."""

from autoglm_doctor.check import Context
from autoglm_doctor.config import Profile
from autoglm_doctor.model import CheckMeta, Scope, Severity, Status
from autoglm_doctor.per_resource import PerDomain
from autoglm_doctor.runner import run_checks


class Libvirt:
    def __init__(self, domains):
        self._domains = domains

    def domains(self):
        return self._domains


class Hypervisor:
    name, kind, role, can_run, writable = "test", "local", "host", True, False

    def __init__(self, domains):
        self._lv = Libvirt(domains)

    def adapter(self, kind):
        assert kind == "libvirt"
        return self._lv

    def now(self):
        return 0.0


class Named(PerDomain):
    meta = CheckMeta(id="t.vm.named", title="t", severity=Severity.LOW, scope=(Scope.VM,), remediation="r", docs="d")

    def judge(self, ctx, domain):
        ok = domain["name"].startswith("autoglm")
        yield (self.passed if ok else self.fail)(domain["name"], resource=domain["name"])


def test_per_domain_judges_each_domain_and_skips_when_there_is_none():
    fs = run_checks([Named], Context(Hypervisor([{"name": "autoglm-vm", "xml": "<domain/>"}, {"name": "other"},
                                                 "garbage"]), Profile({})))
    assert [(f.resource, f.status) for f in fs] == [("autoglm-vm", Status.PASS), ("other", Status.FAIL)]
    [none] = run_checks([Named], Context(Hypervisor([]), Profile({})))
    assert (none.status, none.message) == (Status.SKIP, "no libvirt domain is defined here")
