"""What a run selects and where a check may run: ``--scope`` filters on what a check inspects,
``runs_on`` (or what the scope implies) decides applicability per target role, and ``--skip`` keeps a
check out even when another requires it."""

import json
import shutil

from autoglm_doctor.app import RunOptions, select
from autoglm_doctor.check import Check, Context
from autoglm_doctor.config import Profile
from autoglm_doctor.model import CheckMeta, Scope, Severity, Status
from autoglm_doctor.registry import load_registry
from autoglm_doctor.runner import run_checks
from autoglm_doctor.targets.base import TargetDefaults
from tests.helpers import ROOT, doctor

HEALTHY = ROOT / "tests" / "scenarios" / "host-healthy-intel"


def make(cid, scope, runs_on=(), requires=()):
    meta = CheckMeta(id=cid, title=cid, severity=Severity.HIGH, scope=scope, remediation="r", docs="d",
                     runs_on=runs_on, requires=requires)
    return type(cid.replace(".", "_"), (Check,), {"meta": meta, "run": lambda self, ctx: [self.passed("ran")]})


class Role(TargetDefaults):
    kind, can_run, writable = "local", True, False

    def __init__(self, role):
        self.role = role
        self.name = f"test-{role}"

    def now(self):
        return 0.0


def test_roles_come_from_runs_on_or_from_scope():
    assert make("t.a.h", (Scope.HOST,)).meta.roles == (Scope.HOST,)
    assert make("t.a.v", (Scope.VM,)).meta.roles == (Scope.HOST,)
    assert make("t.a.c", (Scope.CONTAINER,)).meta.roles == (Scope.HOST, Scope.GUEST)
    assert make("t.a.d", (Scope.DEVICE,)).meta.roles == (Scope.HOST, Scope.GUEST)
    assert make("t.a.g", (Scope.HOST, Scope.GUEST)).meta.roles == (Scope.HOST, Scope.GUEST)
    assert make("t.a.x", (Scope.HOST,), runs_on=(Scope.CONTAINER,)).meta.roles == (Scope.CONTAINER,)


def test_a_host_only_check_skips_on_a_guest_with_the_reason():
    host_only = make("t.a.host", (Scope.HOST,))
    both = make("t.a.both", (Scope.HOST, Scope.GUEST))
    fs = {f.check_id: f for f in run_checks([host_only, both], Context(Role("guest"), Profile({})))}
    assert fs["t.a.host"].status is Status.SKIP
    assert fs["t.a.host"].message == "not applicable: runs on host; this target is a guest"
    assert (fs["t.a.both"].status, fs["t.a.both"].message) == (Status.PASS, "ran")
    on_host = run_checks([host_only], Context(Role("host"), Profile({})))
    assert [f.status for f in on_host] == [Status.PASS]


def test_scope_container_selects_the_container_family():
    registry = load_registry(fixes=False)
    chosen = {c.meta.id for c in select(registry, RunOptions(scopes=["container"]))}
    family = {cid for cid in registry.checks if cid.startswith("container.")} - {"container.selinux.vm_images"}
    assert {"container.docker.daemon", "container.deploy.present", "container.volumes.access"} <= family
    assert family <= chosen  # the VM image labels inspect the VMs (--scope vm), every other one a container
    # service logs and the model server container's readiness inspect containers too
    assert chosen - family == {cid for cid in registry.checks if cid.startswith(("logs.", "model."))}


def test_skipped_requirement_stays_out_and_its_dependents_skip():
    registry = load_registry(fixes=False)
    dependent = next(c for c in registry.checks.values() if c.meta.requires)
    req = dependent.meta.requires[0]
    chosen = {c.meta.id for c in registry.select([dependent.meta.id], [req])}
    assert req not in chosen and dependent.meta.id in chosen
    assert req in {c.meta.id for c in registry.select([dependent.meta.id])}

    base = make("t.a.base", (Scope.HOST,))
    child = make("t.a.child", (Scope.HOST,), requires=("t.a.base",))
    [f] = run_checks([child], Context(Role("host"), Profile({})), skipped={"t.a.base"})
    assert (f.status, f.message) == (Status.SKIP, "requirement skipped by --skip: t.a.base")
    fs = {f.check_id: f.status for f in run_checks([base, child], Context(Role("host"), Profile({})))}
    assert fs == {"t.a.base": Status.PASS, "t.a.child": Status.PASS}


def test_cli_skip_of_a_required_check(tmp_path):
    out = doctor("check", "--target", f"snapshot:{HEALTHY}", "--only", "container.docker.*",
                 "--skip", "container.docker.daemon", "--format", "json")
    findings = json.loads(out.stdout)["findings"]
    ids = {f["check_id"] for f in findings}
    assert "container.docker.daemon" not in ids and ids
    assert all(f["status"] == "skip" and f["message"].startswith("requirement skipped by --skip: container.docker.daemon")
               for f in findings)
    assert out.returncode == 1  # every selected check skipped: nothing evaluated, the gate cannot pass


def test_guest_snapshot_skips_host_only_checks(tmp_path):
    snap = tmp_path / "guest"
    shutil.copytree(HEALTHY, snap, symlinks=True)
    manifest = snap / ".autoglm-doctor" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "role": "guest"}))
    out = doctor("check", "--target", f"snapshot:{snap}", "--only", "host.kvm.device", "--only", "host.kernel.release",
                 "--format", "json")
    fs = {f["check_id"]: f for f in json.loads(out.stdout)["findings"]}
    assert fs["host.kvm.device"]["status"] == "skip"
    assert fs["host.kvm.device"]["message"] == "not applicable: runs on host; this target is a guest"
    assert fs["host.kernel.release"]["status"] == "pass"
