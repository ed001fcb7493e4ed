"""vm.* against the real libvirtd: domains defined on qemu:///system, one defect each (a hostdev at an address
this host does not have, i440fx, no firmware, an emulated CPU, no guest-agent channel, a bridge that does not
exist, an unmanaged hostdev), reviewed by the installed CLI; the fix plan's redefinition applied through the
Mutator (RedefineDomain), the checks passing afterwards, and the old definition restored (libvirt
re-serialises it: the same elements, devices possibly in another order).

This machine has no IOMMU and no GPU: a missing card function, BAR sizes and NUMA placement are in the
vm-gpu-host scenario. Every domain is named vmdomain-<run tag>-... and undefined afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.helpers import require

pytestmark = pytest.mark.live

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "autoglm-doctor"
URI = "qemu:///system"
TAG = f"vmdomain-{os.getpid() % 100000}-{uuid.uuid4().hex[:4]}"
BRIDGE = f"vmd{uuid.uuid4().hex[:8]}"  # a host bridge this test creates (<= 15 characters)

BASE = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os{fw}><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <features><acpi/></features>
  {cpu}
  <devices>
    <interface type='bridge'><mac address='52:54:00:{mac}'/><source bridge='{bridge}'/><model type='virtio'/></interface>
    {channel}
    <hostdev mode='subsystem' type='pci' managed='{managed}'>
      <source><address domain='0x0000' bus='0x{bus}' slot='0x{slot}' function='0x{fn}'/></source>
    </hostdev>
  </devices>
</domain>"""

GOOD = dict(fw=" firmware='efi'", machine="q35", cpu="<cpu mode='host-passthrough'/>", bridge=BRIDGE, managed="yes",
            channel="<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>")
DEFECTS = {
    "good": {},
    "ghost": {"bus": "7f", "slot": "00", "fn": "0"},  # the only one whose hostdev names an address that does not exist on this host
    "i440fx": {"machine": "pc"},
    "bios": {"fw": ""},
    "qemu64": {"cpu": "<cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>"},
    "nochan": {"channel": ""},
    "nobridge": {"bridge": "vmd-absent0"},
    "unmanaged": {"managed": "no"},
}


def virsh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=60, check=check)


def unordered(xml: str) -> tuple[str, list[str]]:
    """The definition with <devices> children as a sorted list: libvirt re-serialises a redefined domain's
    controllers in its own order (a virtio-serial controller moves behind the PCI ports), nothing else."""
    import xml.etree.ElementTree as ET

    from autoglm_doctor.changes.domain import canonical

    root = ET.fromstring(canonical(xml))
    devices = root.find("devices")
    children = sorted(ET.tostring(c, encoding="unicode").strip() for c in devices) if devices is not None else []
    if devices is not None:
        root.remove(devices)
    return ET.tostring(root, encoding="unicode"), children


def host_address() -> str:
    """A PCI address this machine has (bus 00): a hostdev that exists but, without an IOMMU, cannot pass."""
    return sorted(os.listdir("/sys/bus/pci/devices"))[-1]


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    require(shutil.which("virsh") is not None, "virsh (libvirt-clients)")
    require(EXE.exists(), f"installed CLI {EXE}")
    require(virsh("version", check=False).returncode == 0, f"libvirtd answering on {URI} (bash .ci/services.sh)")
    _dom, bus, rest = host_address().split(":")
    slot, fn = rest.split(".")
    made, tmp = [], tmp_path_factory.mktemp("vmdomain")
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True, capture_output=True)
    try:
        for i, (defect, change) in enumerate(DEFECTS.items()):
            name = f"{TAG}-{defect}"
            xml = BASE.format(**{**GOOD, "bus": bus, "slot": slot, "fn": fn, **change, "name": name, "mac": f"7e:00:{i:02x}"})
            path = tmp / f"{name}.xml"
            path.write_text(xml)
            virsh("define", str(path))
            made.append(name)
        yield {d: f"{TAG}-{d}" for d in DEFECTS}
    finally:
        for name in made:
            virsh("undefine", name, "--nvram", check=False)
            Path(f"/var/log/libvirt/qemu/{name}.log").unlink(missing_ok=True)  # libvirt's log of a start attempt
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        left = [n for n in virsh("list", "--all", "--name").stdout.split() if n.startswith(TAG)]
        assert not left, f"domains left behind: {left}"


def doctor(tmp_path: Path, names: list[str] | None, *extra: str, user: list[str] | None = None) -> tuple[int, dict]:
    config: list[str] = []
    if names is not None:
        cfg = tmp_path / "vm.toml"
        cfg.write_text(f"[profile]\nvm_domains = {json.dumps(names)}\nnetwork_mode = \"bridged\"\n")
        config = ["--config", str(cfg)]
    proc = subprocess.run((user or []) + [str(EXE), "check", "--only", "vm.*", "--format", "json", *config, *extra],
                          capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, {(f["check_id"], f["resource"]): f for f in json.loads(proc.stdout)["findings"]}


def status(found: dict, check_id: str, name: str) -> str:
    [f] = [f for (cid, res), f in found.items() if cid == check_id and (res == name or res.startswith(name + ":"))]
    return f["status"]


EXPECTED = {  # check -> {defect: status}; every other defined domain passes that check
    "vm.hostdev.address": {d: "fail" for d in DEFECTS},  # no IOMMU here; 'ghost' does not exist at all
    "vm.platform.machine": {"i440fx": "fail"},
    "vm.platform.firmware": {"bios": "fail"},
    "vm.cpu.mode": {"qemu64": "fail"},
    "vm.agent.channel": {"nochan": "warn"},
    "vm.net.interfaces": {"nobridge": "fail"},
    "vm.hostdev.managed": {"unmanaged": "fail"},
    "vm.domain.defined": {},
    "vm.domain.state": {},
}


def test_each_defect_is_found_in_its_own_domain(domains, tmp_path):
    _rc, found = doctor(tmp_path, list(domains.values()))
    for check_id, bad in EXPECTED.items():
        got = {d: status(found, check_id, name) for d, name in domains.items()}
        assert got == {d: bad.get(d, "pass") for d in domains}, check_id
    ghost = found[("vm.hostdev.address", f"{domains['ghost']}:0000:7f:00.0")]
    assert "does not exist on this host" in ghost["message"]
    here = found[("vm.hostdev.address", f"{domains['good']}:{host_address()}")]
    assert "in no IOMMU group" in here["message"]
    assert status(found, "vm.hostdev.functions", domains["good"]) == "skip"  # no GPU on this machine


def test_missing_domain_down_and_denied_are_distinct(domains, tmp_path):
    absent = f"{TAG}-absent"
    _rc, found = doctor(tmp_path, [domains["good"], absent])
    assert found[("vm.domain.defined", absent)]["status"] == "fail"
    assert "no such domain" in found[("vm.domain.defined", absent)]["message"]
    _rc, down = doctor(tmp_path, [absent], "--libvirt-uri", "qemu+unix:///system?socket=/nonexistent/vmdomain-sock")
    assert down[("vm.domain.defined", "libvirt")]["message"].startswith("libvirtd is not answering")
    _rc, denied = doctor(tmp_path, None, "--libvirt-uri",
                         "qemu+unix:///system?socket=/var/run/libvirt/libvirt-admin-sock",
                         user=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    f = denied[("vm.domain.defined", "libvirt")]
    assert f["status"] == "fail" and f["message"].startswith("permission denied"), f


def test_a_refused_start_is_reported_with_its_cause(domains, tmp_path):
    name = domains["ghost"]
    start = virsh("start", name, check=False)
    assert start.returncode != 0  # no IOMMU, no such device: libvirt refuses
    assert virsh("domstate", "--reason", name).stdout.strip() == "shut off (failed)"
    _rc, found = doctor(tmp_path, [name])
    f = found[("vm.domain.state", name)]
    assert f["status"] == "fail" and "last start failed" in f["message"]


def test_fix_plan_applied_makes_the_checks_pass_and_reverts_to_the_old_definition(domains, tmp_path):
    from autoglm_doctor.app import RunOptions, build_report, plan_fixes
    from autoglm_doctor.config import Config, Profile
    from autoglm_doctor.registry import load_registry
    from autoglm_doctor.targets.local import LocalTarget

    names = [domains["qemu64"], domains["nochan"], domains["unmanaged"]]
    registry, target = load_registry(), LocalTarget()
    config = Config(profile=Profile({"vm_domains": names}))
    try:
        report = build_report(target, config, RunOptions(only=["vm.*"]), registry=registry)
        [plan] = plan_fixes(registry, target, config, report, ["fix.vm.domain_xml"])
        assert sorted(c.domain for c in plan.changes) == sorted(names)
        mut, journal = target.mutator(), []
        for change in plan.changes:
            before = change.capture(target)
            assert not change.satisfied(target, before)
            change.apply(mut, target, before)
            assert change.verify(target, before)
            journal.append((change, before))
        _rc, found = doctor(tmp_path, names)
        for check_id, defect in (("vm.cpu.mode", "qemu64"), ("vm.agent.channel", "nochan"),
                                 ("vm.hostdev.managed", "unmanaged")):
            assert status(found, check_id, domains[defect]) == "pass", check_id
        for change, before in reversed(journal):
            change.revert(mut, target, before)
            now = mut.libvirt(URI).domain_xml(change.domain)
            # libvirt re-serialises what it is given (controller order may move); the definition is the same
            assert unordered(now) == unordered(before["xml"]), change.domain
    finally:
        target.close()
    _rc, found = doctor(tmp_path, names)
    assert status(found, "vm.cpu.mode", domains["qemu64"]) == "fail"


def test_a_snapshot_replays_the_domains_and_their_log(domains, tmp_path):
    """collect records what vm.* read through the Target (libvirt adapter calls, sysfs, the QEMU log) and a
    check on the snapshot gives the same findings."""
    names = [domains["good"], domains["ghost"], domains["nobridge"]]
    virsh("start", domains["ghost"], check=False)  # refused: a failed start to replay
    _rc, live = doctor(tmp_path, names)
    cfg = tmp_path / "vm.toml"
    snap = tmp_path / "vm-snap.tar.gz"
    out = subprocess.run([str(EXE), "collect", "--only", "vm.*", "--config", str(cfg), "-o", str(snap)],
                         capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    _rc, replay = doctor(tmp_path, names, "--target", f"snapshot:{snap}")
    view = lambda found: {k: (f["status"], f["message"]) for k, f in found.items()}  # noqa: E731
    assert view(replay) == view(live)
    assert replay[("vm.domain.state", domains["ghost"])]["status"] == "fail"


def test_fix_apply_and_rollback_through_the_engine(domains, tmp_path):
    """autoglm-doctor fix --apply: the engine redefines the domain (old XML journalled), verifies the addressed
    checks pass; --rollback restores the old definition and the findings come back."""
    names = [domains["qemu64"], domains["nochan"]]
    _rc, before = doctor(tmp_path, names)
    cfg, journal = tmp_path / "vm.toml", tmp_path / "journal"
    common = ["--only", "vm.*", "--config", str(cfg), "--journal-dir", str(journal)]
    out = subprocess.run([str(EXE), "fix", *common, "--fix", "fix.vm.domain_xml", "--apply", "--yes"],
                         capture_output=True, text=True, timeout=180, cwd="/")
    assert out.returncode == 0, out.stdout + out.stderr
    run_id = out.stdout.split("fix --rollback ")[1].split(")")[0].strip()
    _rc, fixed = doctor(tmp_path, names)
    assert status(fixed, "vm.cpu.mode", domains["qemu64"]) == "pass"
    assert status(fixed, "vm.agent.channel", domains["nochan"]) == "pass"
    out = subprocess.run([str(EXE), "fix", "--rollback", run_id, "--journal-dir", str(journal), "--yes"],
                         capture_output=True, text=True, timeout=180, cwd="/")
    assert out.returncode == 0, out.stdout + out.stderr
    _rc, after = doctor(tmp_path, names)
    view = lambda found: {k: (f["status"], f["message"]) for k, f in found.items()}  # noqa: E731
    assert view(after) == view(before)
