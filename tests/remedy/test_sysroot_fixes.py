"""fix.selinux.config_mode, fix.net.ip_forward and fix.hugepages.reserve applied to writable sysroot
copies of scenario trees (this kernel has no SELinux; a sysroot's /proc and /sys are plain files):
files byte for byte, the recorded argv (no command ever runs on the machine), the addressed checks
re-run and passing, a second apply that changes nothing, and a rollback that restores the tree."""

import json
import os

import pytest

from tests.remedy.sysroots import BLS_ENTRY, DEBIAN_GRUB, RHEL_GRUB, sysroot
from tests.remedy.test_fix_cli import JOURNAL, doctor, journal, outside_journal, validate

NO_LIBVIRT = {"LIBVIRT_DEFAULT_URI": "qemu+unix:///system?socket=/nonexistent/fixes-no-libvirt"}


def run_fix(root, only, fix_id, *extra, config=None):
    args = ["fix", "--target", f"local:{root}", "--only", only, "--fix", fix_id, *extra]
    if config:
        args += ["--config", str(config)]
    return doctor(*args, env=NO_LIBVIRT)


def apply(root, only, fix_id, config=None):
    res = run_fix(root, only, fix_id, "--apply", "--yes", "--format", "json", config=config)
    assert res.returncode == 0, res.stdout + res.stderr
    out = validate(json.loads(res.stdout))
    recorded = [s["info"]["argv"] for s in journal(root, out["run_id"])["steps"]
                if (s.get("info") or {}).get("recorded")]
    return out, recorded


def second_apply_and_rollback(root, only, fix_id, run_id, before, config=None):
    applied = outside_journal(root)
    res = run_fix(root, only, fix_id, "--apply", "--yes", config=config)
    assert res.returncode == 0, res.stdout + res.stderr
    assert outside_journal(root) == applied
    res = doctor("fix", "--target", f"local:{root}", "--rollback", run_id)
    assert res.returncode == 0, res.stdout + res.stderr
    assert outside_journal(root) == before


# -- SELinux: the file follows the running mode; setenforce never runs -----------------------------
@pytest.mark.parametrize("enforce,configured,fixed", [("1", "permissive", "enforcing"), ("0", "enforcing", "permissive")])
def test_selinux_config_follows_the_running_mode_without_setenforce(tmp_path, enforce, configured, fixed):
    root = sysroot("ctr-broken", tmp_path / "sr")
    (root / "sys/fs/selinux/enforce").write_text(enforce)
    config = root / "etc/selinux/config"
    config.write_text(f"# written by the installer\nSELINUX={configured}\nSELINUXTYPE=targeted\n")
    os.chmod(config, 0o640)
    os.setxattr(config, "user.mark", b"keep")
    before = outside_journal(root)
    dry = run_fix(root, "container.selinux.mode", "fix.selinux.config_mode")
    assert f"-SELINUX={configured}\n    +SELINUX={fixed}" in dry.stdout, dry.stdout
    assert "no setenforce" in dry.stdout and ("review the denials" in dry.stdout) == (fixed == "permissive")
    out, recorded = apply(root, "container.selinux.mode", "fix.selinux.config_mode")
    assert out["state"] == "applied" and recorded == []
    assert config.read_bytes() == f"# written by the installer\nSELINUX={fixed}\nSELINUXTYPE=targeted\n".encode()
    assert (os.stat(config).st_mode & 0o777, os.getxattr(config, "user.mark")) == (0o640, b"keep")
    assert (root / "sys/fs/selinux/enforce").read_text() == enforce  # the running mode is left alone
    res = doctor("check", "--target", f"local:{root}", "--only", "container.selinux.mode", "--format", "json")
    assert [f["status"] for f in json.loads(res.stdout)["findings"]] == ["pass"]
    second_apply_and_rollback(root, "container.selinux.mode", "fix.selinux.config_mode", out["run_id"], before)


def test_selinux_configured_but_not_running_is_not_planned(tmp_path):
    root = sysroot("ctr-broken", tmp_path / "sr")
    (root / "sys/fs/selinux/enforce").unlink()
    res = run_fix(root, "container.selinux.mode", "fix.selinux.config_mode", "--format", "json")
    plan = json.loads(res.stdout)["plans"][0]
    assert plan["changes"] == [] and "touch /.autorelabel and reboot" in plan["notes"][0]


# -- ip_forward: now and at boot, in the file that wins ----------------------------------------------
def nat_profile(tmp_path):
    cfg = tmp_path / "nat.toml"
    cfg.write_text('[profile]\nnetwork_mode = "nat"\n')
    return cfg


def test_ip_forward_on_now_and_in_a_sysctl_drop_in(tmp_path):
    root = sysroot("net-runtime-only", tmp_path / "sr")
    cfg = nat_profile(tmp_path)
    before = outside_journal(root)
    out, recorded = apply(root, "host.firewall.ip_forward", "fix.net.ip_forward", config=cfg)
    assert (out["state"], recorded) == ("applied", [])
    assert (root / "proc/sys/net/ipv4/ip_forward").read_text() == "1\n"
    assert (root / "etc/sysctl.d/90-autoglm-doctor-ip-forward.conf").read_bytes() == (
        b"# Written by autoglm-doctor: guests on libvirt NAT networks are routed by the host\n"
        b"net.ipv4.ip_forward = 1\n")
    second_apply_and_rollback(root, "host.firewall.ip_forward", "fix.net.ip_forward", out["run_id"], before,
                              config=cfg)


def test_ip_forward_edits_the_line_of_the_file_applied_last(tmp_path):
    """Debian and RHEL link /etc/sysctl.conf as 99-sysctl.conf: a drop-in named 90-... would lose to
    its net.ipv4.ip_forward=0, so that line is changed instead."""
    root = sysroot("net-runtime-only", tmp_path / "sr")
    (root / "etc/sysctl.d").mkdir()
    os.symlink("../sysctl.conf", root / "etc/sysctl.d/99-sysctl.conf")
    (root / "etc/sysctl.conf").write_text("# /etc/sysctl.conf - Configuration file for setting system variables\n"
                                          "#kernel.printk = 3 4 1 3\nnet.ipv4.ip_forward=0\nvm.swappiness = 10\n")
    cfg = nat_profile(tmp_path)
    before = outside_journal(root)
    dry = run_fix(root, "host.firewall.ip_forward", "fix.net.ip_forward", config=cfg)
    assert "/etc/sysctl.d/99-sysctl.conf line 3 sets net.ipv4.ip_forward = 0 and is applied last" in dry.stdout
    out, _ = apply(root, "host.firewall.ip_forward", "fix.net.ip_forward", config=cfg)
    assert (root / "etc/sysctl.conf").read_text() == (
        "# /etc/sysctl.conf - Configuration file for setting system variables\n"
        "#kernel.printk = 3 4 1 3\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\n")
    assert os.readlink(root / "etc/sysctl.d/99-sysctl.conf") == "../sysctl.conf"
    assert not (root / "etc/sysctl.d/90-autoglm-doctor-ip-forward.conf").exists()
    second_apply_and_rollback(root, "host.firewall.ip_forward", "fix.net.ip_forward", out["run_id"], before,
                              config=cfg)


# -- hugepages: 1G pages on the kernel command line, through each family's boot loader ---------------
def hugepage_profile(tmp_path, text):
    cfg = tmp_path / "hp.toml"
    cfg.write_text("[profile]\n" + text)
    return cfg


@pytest.mark.parametrize("family,argv,files", [
    ("debian", ["update-grub"], {"etc/default/grub": DEBIAN_GRUB.replace(
        'GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="default_hugepagesz=1G hugepagesz=1G hugepages=80"')}),
    ("rhel", ["grubby", "--update-kernel=ALL", "--args=default_hugepagesz=1G hugepagesz=1G hugepages=80"],
     {"etc/default/grub": RHEL_GRUB, "boot/loader/entries/4f1c-5.14.0-362.8.1.el9_3.x86_64.conf": BLS_ENTRY}),
    ("fedora-mkconfig", ["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"],
     {"etc/default/grub": RHEL_GRUB.replace("GRUB_ENABLE_BLSCFG=true", "GRUB_ENABLE_BLSCFG=false").replace(
         'rhgb quiet"', 'rhgb quiet default_hugepagesz=1G hugepagesz=1G hugepages=80"')}),
    ("systemd-boot", [], {"etc/kernel/cmdline": "root=UUID=5d3f0c1e-7a21-4f8e-9a53-0d2b8c7e4f11 rw quiet "
                                                "default_hugepagesz=1G hugepagesz=1G hugepages=80\n"}),
])
def test_1g_pages_go_on_the_kernel_command_line(tmp_path, family, argv, files):
    root = sysroot("gpu-nouveau", tmp_path / "sr", family)
    (root / "sys/kernel/mm/hugepages/hugepages-1048576kB").mkdir(exist_ok=True)
    for name in ("nr_hugepages", "free_hugepages", "resv_hugepages"):
        (root / "sys/kernel/mm/hugepages/hugepages-1048576kB" / name).write_text("0\n")
    cfg = hugepage_profile(tmp_path, 'hugepage_size = "1G"\nvm_memory_gb = 80\n')
    before = outside_journal(root)
    out, recorded = apply(root, "host.resources.hugepages", "fix.hugepages.reserve", config=cfg)
    assert out["state"] == "applied" and out["reboot_pending"] is True
    assert recorded == ([argv] if argv else [])
    for path, text in files.items():
        assert (root / path).read_text() == text
    assert (root / "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages").read_text() == "0\n"
    res = doctor("check", "--target", f"local:{root}", "--config", str(cfg), "--only", "host.resources.hugepages",
                 "--format", "json")
    finding = json.loads(res.stdout)["findings"][0]
    assert (finding["status"], finding["staged_by"]) == ("pending_reboot", out["run_id"])
    res = doctor("fix", "--target", f"local:{root}", "--rollback", out["run_id"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert outside_journal(root) == before
    assert json.loads((root / JOURNAL / "pending.json").read_text()) == []


def test_2m_pages_now_and_in_sysctl_d_keeping_other_sizes_on_the_command_line(tmp_path):
    """A host that boots with 4 x 1G pages on the command line and needs 2M pages for the VM: the 2M
    pool is set now and persisted with vm.nr_hugepages; the 1G parameters are not touched."""
    root = sysroot("gpu-nouveau", tmp_path / "sr", "debian")
    cmdline = (root / "proc/cmdline").read_text().strip()
    (root / "proc/cmdline").write_text(cmdline + " hugepagesz=1G hugepages=4\n")
    cfg = hugepage_profile(tmp_path, 'hugepage_size = "2M"\nvm_memory_gb = 16\n')
    res = run_fix(root, "host.resources.hugepages", "fix.hugepages.reserve", "--format", "json", config=cfg)
    plan = json.loads(res.stdout)["plans"][0]
    assert plan["risk"] == ["disruptive"] and plan["reboot_required"] is False
    assert [c["describe"] for c in plan["changes"]] == [
        "set /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages to 8192",
        "write /etc/sysctl.d/90-autoglm-doctor-hugepages.conf (mode 0644)"]
    assert plan["changes"][1]["content"] == ("# Written by autoglm-doctor: 8192 x 2M pages for the AutoGLM VM's "
                                             "memory\nvm.nr_hugepages = 8192\n")
    assert any("8192 x 2M = 16 GiB is set aside" in n for n in plan["notes"])


def test_1g_pages_keep_the_2m_pool_already_on_the_command_line(tmp_path):
    root = sysroot("gpu-nouveau", tmp_path / "sr", "debian")
    (root / "sys/kernel/mm/hugepages/hugepages-1048576kB").mkdir(exist_ok=True)
    for name in ("nr_hugepages", "free_hugepages", "resv_hugepages"):
        (root / "sys/kernel/mm/hugepages/hugepages-1048576kB" / name).write_text("0\n")
    cmdline = (root / "proc/cmdline").read_text().strip()
    (root / "proc/cmdline").write_text(cmdline + " hugepages=512\n")
    grub = root / "etc/default/grub"
    grub.write_text(DEBIAN_GRUB.replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="hugepages=512"'))
    cfg = hugepage_profile(tmp_path, 'hugepage_size = "1G"\nvm_memory_gb = 8\n')
    apply(root, "host.resources.hugepages", "fix.hugepages.reserve", config=cfg)
    assert grub.read_text() == DEBIAN_GRUB.replace(
        'GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="hugepagesz=2M hugepages=512 hugepagesz=1G hugepages=8"')


def test_pages_on_one_node_use_the_node_form(tmp_path):
    root = sysroot("gpu-intel-a100", tmp_path / "sr", "debian")
    cfg = hugepage_profile(tmp_path, 'hugepage_size = "1G"\nvm_memory_gb = 80\nvm_numa_node = 0\n')
    res = run_fix(root, "host.resources.hugepages", "fix.hugepages.reserve", "--format", "json", config=cfg)
    plan = json.loads(res.stdout)["plans"][0]
    # Ubuntu's 5.15 predates hugepages=NODE:N: nothing is planned that the kernel would misread
    assert plan["changes"] == []
    assert any("Linux 5.15.0 predates the hugepages=NODE:N form (5.16)" in n for n in plan["notes"])
    (root / "proc/sys/kernel/osrelease").write_text("6.8.0-45-generic\n")
    out, recorded = apply(root, "host.resources.hugepages", "fix.hugepages.reserve", config=cfg)
    assert recorded == [["update-grub"]]
    assert (root / "etc/default/grub").read_text() == DEBIAN_GRUB.replace(
        'GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="default_hugepagesz=1G hugepagesz=1G hugepages=0:80"')


# -- tun: the module loaded now and at boot -----------------------------------------------------------
def test_tun_module_loaded_now_and_at_boot(tmp_path):
    root = sysroot("host-old-amd", tmp_path / "sr")
    before = outside_journal(root)
    out, recorded = apply(root, "host.kvm.tun", "fix.kvm.tun")
    assert recorded == [["modprobe", "tun"]]
    assert "not verified: fix.kvm.tun" in out["reason"]
    assert (root / "etc/modules-load.d/autoglm-doctor-tun.conf").read_bytes() == (
        b"# Written by autoglm-doctor (fix.kvm.tun)\ntun\n")
    res = doctor("fix", "--target", f"local:{root}", "--rollback", out["run_id"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert outside_journal(root) == before


def test_tun_loaded_without_a_node_is_not_a_module_problem(tmp_path):
    root = sysroot("host-old-amd", tmp_path / "sr")
    (root / "sys/module/tun").mkdir(parents=True)
    res = run_fix(root, "host.kvm.tun", "fix.kvm.tun", "--format", "json")
    plan = json.loads(res.stdout)["plans"][0]
    assert plan["changes"] == [] and "tun is loaded but /dev/net/tun is missing" in plan["notes"][0]


# -- nouveau in the guest: blacklisted, the guest's initramfs rebuilt, pending until it reboots ----------
def test_guest_nouveau_blacklisted_and_initramfs_rebuilt(tmp_path):
    """The guest's findings read from its snapshot (guest.gpu.visible needs the guest's dmesg, which a
    sysroot cannot run); the plan made and applied on a writable sysroot copy of the same tree with the
    engine in-process, the same calls the CLI makes (the CLI's local target is always a host)."""
    from autoglm_doctor.app import RunOptions, build_report, plan_fixes
    from autoglm_doctor.config import Config
    from autoglm_doctor.registry import load_registry
    from autoglm_doctor.remedy.engine import apply_plans, rollback
    from autoglm_doctor.remedy.pending import mark_pending
    from autoglm_doctor.targets.local import LocalTarget
    from autoglm_doctor.targets.snapshot import SnapshotTarget
    from tests.helpers import scenario_path

    root = sysroot("guest-nouveau", tmp_path / "sr", "debian")
    before = outside_journal(root)
    target = LocalTarget(str(root), "guest-sysroot")
    registry, config, journal_dir = load_registry(), Config(), "/var/lib/autoglm-doctor/journal"
    snap = SnapshotTarget(str(scenario_path("guest-nouveau")))
    try:
        report = build_report(snap, config, RunOptions(only=("guest.driver.nouveau",)), registry=registry)
    finally:
        snap.close()
    [plan] = plan_fixes(registry, target, config, report, ["fix.guest.nouveau_blacklist"])
    assert [f.status.value for f in plan.addresses] == ["fail"] and plan.risks == ("needs reboot",)
    out = apply_plans(target, [plan], root=journal_dir, run_id="guestnouveau1", verify=lambda plans: [])
    assert out.state == "applied" and out.reboot_pending is True
    assert [s["info"]["argv"] for s in out.steps if (s.get("info") or {}).get("recorded")] == [
        ["update-initramfs", "-u", "-k", "all"]]
    assert (root / "etc/modprobe.d/autoglm-doctor-blacklist-nouveau.conf").read_bytes() == (
        b"# Written by autoglm-doctor (fix.guest.nouveau_blacklist): nouveau would claim the passed-through\n"
        b"# NVIDIA GPU before the NVIDIA driver.\nblacklist nouveau\noptions nouveau modeset=0\n")
    [finding] = mark_pending([f for f in report.findings if f.check_id == "guest.driver.nouveau"], target,
                             root=journal_dir)
    assert (finding.status.value, finding.staged_by) == ("pending_reboot", "guestnouveau1")
    assert rollback(target, journal_dir, "guestnouveau1").state == "rolled_back"
    assert outside_journal(root) == before
