"""The CI test guest: a real libvirt domain (TCG, direct kernel boot) whose initramfs runs qemu-guest-agent.

.ci/guest.sh builds the kernel and initramfs once per machine into GUEST_DIR. ``boot_guest`` starts one
transient domain with VIR_DOMAIN_START_AUTODESTROY: libvirtd destroys it when our connection closes, so
a crashed or killed test run leaves no domain behind. The ``ci_guest`` fixture (session scope, registered
in tests/conftest.py) boots it once per test run; any test takes it as an argument:

    def test_something_in_the_guest(ci_guest):
        target = GuestAgentTarget(ci_guest.name)   # or doctor("check", "--target", ci_guest.spec)

The guest has a busybox userland, real /proc, /sys, /dev (devtmpfs) and cgroup2, /boot/config-<release>
of its Debian cloud kernel, and no disk and no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from xml.sax.saxutils import escape

from tests.helpers import ROOT, in_ci, require

GUEST_DIR = Path(os.environ.get("AUTOGLM_CI_GUEST_DIR", "/var/cache/autoglm-ci/guest"))
URI = "qemu:///system"
BOOT_TIMEOUT = 60.0


@dataclass
class Guest:
    name: str
    uri: str
    kernel_release: str
    boot_seconds: float  # from create to the first answered guest-ping
    console: str = ""  # the guest's serial console (ttyS0), appended to by the kernel and the init
    conn: Any = None
    domain: Any = None

    @property
    def spec(self) -> str:
        return f"libvirt:{self.name}"

    def agent(self, execute: str, arguments: dict | None = None, timeout: int = 10) -> Any:
        """One guest-agent command. libvirt answers "not available for now" while it resynchronises with
        the agent (after an earlier command timed out, or when the TCG guest is starved of CPU); such a
        command was not sent, so it is tried again for up to ``timeout`` seconds."""
        import libvirt
        import libvirt_qemu

        payload = json.dumps({"execute": execute, **({"arguments": arguments} if arguments else {})})
        deadline = time.monotonic() + timeout
        while True:
            try:
                return json.loads(libvirt_qemu.qemuAgentCommand(self.domain, payload, timeout, 0))["return"]
            except libvirt.libvirtError as exc:
                if "not available for now" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def console_text(self) -> str:
        try:
            return Path(self.console).read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        try:
            if self.domain is not None and self.domain.isActive():
                self.domain.destroy()
        except Exception:  # noqa: BLE001 - already gone
            pass
        if self.conn is not None:
            self.conn.close()
        if self.console:
            shutil.rmtree(os.path.dirname(self.console), ignore_errors=True)


def domain_xml(name: str, *, cmdline_extra: str = "", memory_mib: int = 256, console: str | None = None) -> str:
    serial = (f"<serial type='file'><source path='{escape(console)}'/><target port='0'/></serial>" if console
              else "<serial type='null'><target port='0'/></serial>")
    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinuz</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet {escape(cmdline_extra)}</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    {serial}
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='none'/>
  </devices>
</domain>"""


def build_guest_image() -> None:
    """Run .ci/guest.sh when the image is missing (CI runs it from services.sh already)."""
    if (GUEST_DIR / "vmlinuz").is_file() and (GUEST_DIR / "initrd.img").is_file():
        return
    if os.geteuid() != 0:
        return
    subprocess.run(["bash", str(ROOT / ".ci" / "guest.sh")], check=False, timeout=600,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def boot_guest(name: str, *, cmdline_extra: str = "", wait_agent: bool = True) -> Guest:
    """Start a transient, auto-destroyed domain and wait until its agent answers guest-ping."""
    try:
        import libvirt
        import libvirt_qemu
    except ImportError:
        require(False, "libvirt-python (pip install -e '.[libvirt]')")
        raise
    build_guest_image()
    require((GUEST_DIR / "vmlinuz").is_file(), f"the CI guest image in {GUEST_DIR} (run .ci/guest.sh)")
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError as exc:
        require(False, f"libvirtd at {URI} ({exc})")
        raise
    try:  # a leftover with our name (a run killed before libvirtd noticed): remove it
        conn.lookupByName(name).destroy()
    except libvirt.libvirtError:
        pass
    console = os.path.join(tempfile.mkdtemp(prefix=f"{name}-"), "console.log")
    os.chmod(os.path.dirname(console), 0o755)
    start = time.monotonic()
    dom = conn.createXML(domain_xml(name, cmdline_extra=cmdline_extra, console=console),
                         libvirt.VIR_DOMAIN_START_AUTODESTROY)
    release = (GUEST_DIR / "kernel-release").read_text().strip() if (GUEST_DIR / "kernel-release").exists() else ""
    guest = Guest(name=name, uri=URI, kernel_release=release, boot_seconds=0.0, console=console, conn=conn,
                  domain=dom)
    if not wait_agent:
        return guest
    deadline = start + BOOT_TIMEOUT
    while True:
        try:
            libvirt_qemu.qemuAgentCommand(dom, '{"execute":"guest-ping"}', 1, 0)
            break
        except libvirt.libvirtError as exc:
            if time.monotonic() > deadline:
                guest.close()
                raise RuntimeError(f"the CI guest {name} did not answer guest-ping within {BOOT_TIMEOUT:g}s: {exc}") \
                    from exc
            time.sleep(0.2)
    guest.boot_seconds = round(time.monotonic() - start, 2)
    return guest


def guest_fixture() -> Iterator[Guest]:
    guest = boot_guest(f"autoglm-ci-guest-{os.getpid()}")
    if in_ci():
        print(f"\nCI guest {guest.name} answered guest-ping {guest.boot_seconds}s after create")
    try:
        yield guest
    finally:
        guest.close()
