"""Builds the libvirt scenario snapshots (api.json answers as a recorder captures them):
    python tests/scenarios/build_libvirt_scenarios.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def caps(domain_types: tuple[str, ...]) -> str:
    domains = "".join(f"<domain type='{t}'/>" for t in domain_types)
    return (
        "<capabilities><host><uuid>4c4c4544-0043-3510-8052-b7c04f4e4d32</uuid><cpu><arch>x86_64</arch></cpu></host>"
        "<guest><os_type>hvm</os_type><arch name='x86_64'><wordsize>64</wordsize>"
        f"<emulator>/usr/bin/qemu-system-x86_64</emulator><machine>pc-q35-7.2</machine>{domains}</arch></guest>"
        "</capabilities>"
    )


def write(name: str, api: dict) -> None:
    root = HERE / name
    if root.exists():
        shutil.rmtree(root)
    side = root / ".autoglm-doctor"
    side.mkdir(parents=True)
    (side / "manifest.json").write_text(json.dumps(
        {"format": "autoglm-doctor-snapshot", "version": 1, "kind": "handmade", "source": name}, indent=1) + "\n")
    (side / "api.json").write_text(json.dumps(api, indent=1, sort_keys=True) + "\n")


VERSION = {"result": {"library": 9000000, "hypervisor": 7002022, "uri": "qemu:///system"}}


def build() -> None:
    write("libvirt-kvm", {"libvirt.version([])": VERSION, "libvirt.capabilities([])": {"result": caps(("qemu", "kvm"))}})
    write("libvirt-tcg-only", {"libvirt.version([])": VERSION, "libvirt.capabilities([])": {"result": caps(("qemu",))}})
    write("libvirt-down", {"libvirt.connect([])": {"error": {
        "type": "AdapterUnavailable", "reason": "unreachable",
        "message": "cannot connect to libvirt at qemu:///system: Failed to connect socket to "
                   "'/var/run/libvirt/libvirt-sock': No such file or directory",
        "hint": "start libvirtd (systemctl start libvirtd) or virtqemud"}}})
    write("libvirt-not-installed", {"libvirt.connect([])": {"error": {
        "type": "AdapterUnavailable", "reason": "missing", "message": "libvirt-python is not installed",
        "hint": "install the extra: apt-get install libvirt-dev pkg-config gcc python3-dev && "
                "pip install 'autoglm-doctor[libvirt]'"}}})
    write("libvirt-garbage-caps", {"libvirt.version([])": VERSION, "libvirt.capabilities([])": {"result": "<capabilities><guest>"}})


if __name__ == "__main__":
    build()
