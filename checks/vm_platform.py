"""The VM's virtual platform for a passed-through GPU: q35, UEFI (OVMF), a host CPU model, KVM hidden only where
a vendor driver needs it, and Secure Boot against the guest's unsigned NVIDIA module.

- q35 gives the guest PCI Express: the NVIDIA and AMD drivers read PCIe capabilities (link, ASPM, AER) the
  i440fx's conventional PCI bus cannot present, and q35's 64-bit hole is sized for large BARs.
- Modern GPUs (and their 64-bit BARs above 4 GiB) are initialised by UEFI GOP option ROMs; SeaBIOS maps
  BARs below 4 GiB and cannot run them. OVMF is QEMU's UEFI.
- An emulated CPU model (qemu64, a named model without the host's flags) hides AVX2/AVX-512/AMX the model
  server's kernels use; host-passthrough (or host-model) exposes them.
- <kvm><hidden state='on'/> hides the KVM signature: NVIDIA GeForce drivers before R465 refused to run under
  a hypervisor (Code 43). It also turns off KVM paravirt features, so it costs where it is not needed.
- UEFI Secure Boot only loads signed kernel modules: the NVIDIA driver built by DKMS is unsigned unless its
  key is enrolled (MOK), so the guest boots without its GPU driver.
"""

from __future__ import annotations

from typing import Iterable

from autoglm_doctor.check import Context
from autoglm_doctor.checks.vm_domain import _meta
from autoglm_doctor.per_resource import PerDomain
from autoglm_doctor.checks.vm_hostdev import host_devices
from autoglm_doctor.facts.domain import Domain, DomainRecord
from autoglm_doctor.facts.pci import NVIDIA
from autoglm_doctor.model import Finding, Severity

GOOD_CPU = ("host-passthrough", "host-model")


class MachineType(PerDomain):
    meta = _meta(
        "vm.platform.machine", "The VM uses the q35 machine type", Severity.HIGH,
        "recreate the domain with machine type q35 (virt-install --machine q35); changing an existing guest's "
        "chipset changes its device addresses",
        "A GPU is a PCI Express device: drivers read its PCIe capabilities, which the i440fx's PCI bus cannot "
        "present, and q35 has the larger 64-bit PCI hole.")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        machine = dom.machine or "(libvirt's default: pc, i440fx)"
        if dom.q35:
            yield self.passed(f"machine {dom.machine}", resource=rec.name, observed=dom.machine, expected="q35")
        else:
            yield self.fail(f"machine {machine}: a passed-through GPU sits on a conventional PCI bus and its driver "
                            "cannot see PCIe capabilities", resource=rec.name, observed=machine, expected="q35")


class Firmware(PerDomain):
    meta = _meta(
        "vm.platform.firmware", "The VM boots UEFI firmware (OVMF)", Severity.HIGH,
        "use <os firmware='efi'> (apt-get install ovmf / dnf install edk2-ovmf); switching an installed "
        "BIOS guest to UEFI needs a GPT disk with an EFI system partition",
        "Modern GPUs carry UEFI GOP option ROMs and 64-bit BARs mapped above 4 GiB; SeaBIOS cannot run the "
        "former or place the latter.")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        if dom.uefi:
            what = dom.loader or ("firmware='efi' (libvirt picks OVMF)" if dom.firmware else "a pflash loader")
            yield self.passed(f"UEFI: {what}", resource=rec.name, observed="efi", expected="efi")
        else:
            what = "firmware='bios'" if dom.firmware == "bios" else (dom.loader or "no <loader>: SeaBIOS")
            yield self.fail(f"legacy BIOS ({what}): the GPU's UEFI option ROM and 64-bit BARs are not handled",
                            resource=rec.name, observed="bios", expected="efi")


class CpuMode(PerDomain):
    meta = _meta(
        "vm.cpu.mode", "The VM's CPU is host-passthrough (or host-model)", Severity.MEDIUM,
        "use <cpu mode='host-passthrough' check='none' migratable='off'/>",
        "An emulated CPU model hides the host's AVX2/AVX-512/AMX from the model server and the guest's "
        "GPU driver stack.", fix="fix.vm.domain_xml")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        mode = dom.cpu_mode or "none"
        if dom.cpu_mode in GOOD_CPU:
            yield self.passed(f"CPU mode {dom.cpu_mode}", resource=rec.name, observed=dom.cpu_mode,
                              expected=" or ".join(GOOD_CPU))
        else:
            model = f" model {dom.cpu_model}" if dom.cpu_model else (" (QEMU's default qemu64)" if not dom.cpu_mode else "")
            yield self.fail(f"CPU mode {mode}{model}: an emulated CPU hides the host's vector extensions",
                            resource=rec.name, observed=f"{mode}{model}", expected=" or ".join(GOOD_CPU))


class HiddenState(PerDomain):
    meta = _meta(
        "vm.cpu.hidden_state", "KVM is hidden only where a vendor driver needs it", Severity.LOW,
        "remove <kvm><hidden state='on'/></kvm> unless the guest runs a GeForce driver older than R465",
        "NVIDIA GeForce drivers before R465 refused to run in a VM (Code 43) unless KVM was hidden; hiding it "
        "also disables KVM paravirt features (PV EOI, PV TLB flush), so elsewhere it only costs.")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        devs = [d for d in host_devices(ctx, dom).values() if d is not None and d.is_gpu]
        geforce = [d for d in devs if d.vendor == NVIDIA and d.class_code >> 8 == 0x0300]
        state = "on" if dom.kvm_hidden else "off"
        if not dom.kvm_hidden:
            note = (": GeForce drivers before R465 need it on (Code 43)" if geforce else "")
            yield self.passed(f"KVM is visible to the guest{note}", resource=rec.name, observed=state,
                              expected="off unless needed")
        elif geforce:
            yield self.passed(f"KVM is hidden for a GeForce GPU ({geforce[0].address}): needed by drivers before "
                              "R465", resource=rec.name, observed=state, expected="on for old GeForce drivers")
        else:
            what = "a data-center NVIDIA or AMD GPU" if devs else "no GeForce GPU on this host"
            yield self.warn(f"KVM is hidden with {what}: no driver needs it and the guest loses KVM paravirt "
                            "features", resource=rec.name, observed=state, expected="off")


class SecureBoot(PerDomain):
    meta = _meta(
        "vm.firmware.secure_boot", "Secure Boot does not keep the guest's NVIDIA driver from loading",
        Severity.MEDIUM,
        "boot the guest without Secure Boot (a non-secboot OVMF_CODE), or sign the NVIDIA module and enroll "
        "the key (mokutil --import)",
        "UEFI Secure Boot only loads signed modules; a DKMS-built NVIDIA module is unsigned until its key is "
        "enrolled, so the guest boots without its GPU driver.")

    def judge(self, ctx: Context, dom: Domain, rec: DomainRecord) -> Iterable[Finding]:
        on = bool(dom.secure_boot) or bool(dom.enrolled_keys) or "secboot" in dom.loader.lower() \
            or ".ms." in dom.loader.lower()
        nvidia = [d for d in host_devices(ctx, dom).values() if d is not None and d.is_gpu and d.vendor == NVIDIA]
        if not dom.uefi or not on:
            yield self.passed("Secure Boot is off" if dom.uefi else "legacy BIOS: no Secure Boot",
                              resource=rec.name, observed="off", expected="off, or a signed NVIDIA module")
        elif nvidia:
            yield self.warn(f"Secure Boot is on ({dom.loader or 'secure-boot firmware feature'}) and {nvidia[0].address} "
                            "is NVIDIA: the guest will not load an unsigned (DKMS-built) NVIDIA module",
                            resource=rec.name, observed="on", expected="off, or a signed NVIDIA module")
        else:
            yield self.passed("Secure Boot is on; no NVIDIA GPU is passed (amdgpu is in-tree and signed)",
                              resource=rec.name, observed="on", expected="off, or a signed NVIDIA module")


CHECKS = (MachineType, Firmware, CpuMode, HiddenState, SecureBoot)
