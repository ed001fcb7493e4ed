"""Pure edits of a libvirt domain XML (old XML -> new XML), one per mechanical vm.* finding. ElementTree in,
ElementTree out: elements the edit does not touch keep their order, attributes and text; new elements take
their siblings' indentation. libvirt re-formats the document when it is defined anyway.

Each edit is idempotent: applied to its own output it changes nothing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from autoglm_doctor.facts.domain import GUEST_AGENT, QEMU_NS, parse_xml, pci_address

MMIO64_ARG = "opt/ovmf/X-PciMmio64Mb,string="
_APOS = {"'": "&apos;"}


def _load(xml: str) -> ET.Element:
    root = parse_xml(xml, "domain")
    if root.tag != "domain":
        raise ValueError(f"the document is <{root.tag}>, not a libvirt <domain>")
    return root


def _dump(root: ET.Element) -> str:
    """Serialise the way libvirt writes domain XML: single-quoted attributes, ``<empty/>``, the qemu
    namespace as ``qemu:`` (declared on <domain> when a qemu element is there). ElementTree did the parsing;
    this only writes its tree back, so an edit's diff shows the edit and not a change of quoting style."""
    uses_qemu = any(el.tag.startswith(f"{{{QEMU_NS}}}") for el in root.iter())
    out: list[str] = []

    def name(tag: str) -> str:
        return "qemu:" + tag[len(QEMU_NS) + 2:] if tag.startswith(f"{{{QEMU_NS}}}") else tag

    def write(el: ET.Element, top: bool) -> None:
        attrs = dict(el.attrib)
        if top and uses_qemu:
            attrs = {"xmlns:qemu": QEMU_NS, **attrs}
        text = "".join(f" {name(k)}='{escape(v, _APOS)}'" for k, v in attrs.items())
        if len(el) == 0 and not el.text:
            out.append(f"<{name(el.tag)}{text}/>")
        else:
            out.append(f"<{name(el.tag)}{text}>{escape(el.text or '')}")
            for child in el:
                write(child, False)
            out.append(f"</{name(el.tag)}>")
        if not top and el.tail:
            out.append(escape(el.tail))

    write(root, True)
    return "".join(out)


def _done(root: ET.Element, old: str) -> str:
    return _dump(root) + old[len(old.rstrip()):]  # the whitespace after </domain>, as it was


def _depth(root: ET.Element, el: ET.Element) -> int:
    parents = {c: p for p in root.iter() for c in p}
    depth = 0
    while el in parents:
        el, depth = parents[el], depth + 1
    return depth


def _append(root: ET.Element, parent: ET.Element, child: ET.Element) -> ET.Element:
    """Append ``child`` (and its subtree) indented like libvirt indents: two spaces per level."""
    depth = _depth(root, parent)
    ET.indent(child, space="  ", level=depth + 1)
    kids = list(parent)
    if kids:
        child.tail = kids[-1].tail
        kids[-1].tail = "\n" + "  " * (depth + 1)
    else:
        parent.text = "\n" + "  " * (depth + 1)
        child.tail = "\n" + "  " * depth
    parent.append(child)
    return child


def _child(root: ET.Element, parent: ET.Element, tag: str) -> ET.Element:
    found = parent.find(tag)
    return found if found is not None else _append(root, parent, ET.Element(tag))


def _address_el(address: str, kind: str | None = None) -> ET.Element:
    dom, bus, rest = address.split(":")
    slot, fn = rest.split(".")
    attrs = {"type": kind} if kind else {}
    attrs.update(domain=f"0x{dom}", bus=f"0x{bus}", slot=f"0x{slot}", function=f"0x{fn}")
    return ET.Element("address", attrs)


def _pci_hostdevs(root: ET.Element) -> list[ET.Element]:
    return [h for h in root.findall("devices/hostdev") if h.get("mode", "subsystem") == "subsystem"
            and h.get("type") == "pci"]


def set_managed(xml: str, addresses: list[str] | None = None) -> str:
    """managed='yes' on the PCI hostdevs at ``addresses`` (all of them when None)."""
    root = _load(xml)
    for h in _pci_hostdevs(root):
        if addresses is None or pci_address(h.find("source/address")) in addresses:
            h.set("managed", "yes")
    return _done(root, xml)


def add_functions(xml: str, gpu: str, functions: list[str]) -> str:
    """A managed hostdev for each function of the GPU's card that is not passed yet. When the GPU has a guest
    PCI address, the new functions join it in the same guest slot (multifunction), as on the card."""
    root = _load(xml)
    hostdevs = _pci_hostdevs(root)
    present = {pci_address(h.find("source/address")) for h in hostdevs}
    gpu_el = next((h for h in hostdevs if pci_address(h.find("source/address")) == gpu), None)
    guest = gpu_el.find("address") if gpu_el is not None else None
    guest = guest if guest is not None and guest.get("type") == "pci" else None
    devices = _child(root, root, "devices")
    for address in functions:
        if address in present:
            continue
        el = ET.Element("hostdev", {"mode": "subsystem", "type": "pci", "managed": "yes"})
        ET.SubElement(el, "source").append(_address_el(address))
        if guest is not None:
            guest.set("multifunction", "on")
            el.append(ET.Element("address", {"type": "pci", "domain": guest.get("domain", "0x0000"),
                                             "bus": guest.get("bus", "0x00"), "slot": guest.get("slot", "0x00"),
                                             "function": f"0x{address.rsplit('.', 1)[1]}"}))
        _append(root, devices, el)
    return _done(root, xml)


def cpu_host_passthrough(xml: str) -> str:
    """<cpu mode='host-passthrough' check='none'>, keeping topology, NUMA cells and feature policies."""
    root = _load(xml)
    cpu = root.find("cpu")
    if cpu is None:
        cpu = _append(root, root, ET.Element("cpu"))
    cpu.set("mode", "host-passthrough")
    cpu.set("check", "none")
    cpu.attrib.pop("match", None)
    for tag in ("model", "vendor"):
        for el in cpu.findall(tag):
            cpu.remove(el)
    return _done(root, xml)


def hugepage_backing(xml: str, size_kib: int) -> str:
    """<memoryBacking><hugepages><page size='N' unit='KiB'/></hugepages></memoryBacking>."""
    root = _load(xml)
    backing = _child(root, root, "memoryBacking")
    pages = _child(root, backing, "hugepages")
    for page in list(pages):
        pages.remove(page)
    pages.text = None
    _append(root, pages, ET.Element("page", {"size": str(size_kib), "unit": "KiB"}))
    return _done(root, xml)


def mmio64_window(xml: str, mib: int, uefi: bool) -> str:
    """A 64-bit MMIO window of ``mib`` MiB: OVMF's X-PciMmio64Mb (fw_cfg, in <qemu:commandline>) for UEFI
    guests, else <pcihole64> on the root PCI controller."""
    root = _load(xml)
    if uefi:
        q = f"{{{QEMU_NS}}}"
        cmd = root.find(f"{q}commandline")
        if cmd is None:
            cmd = _append(root, root, ET.Element(f"{q}commandline"))
        args = cmd.findall(f"{q}arg")
        for i, arg in enumerate(args):
            if arg.get("value", "").startswith(MMIO64_ARG):
                cmd.remove(arg)
                if i and args[i - 1].get("value") == "-fw_cfg":
                    cmd.remove(args[i - 1])
        _append(root, cmd, ET.Element(f"{q}arg", {"value": "-fw_cfg"}))
        _append(root, cmd, ET.Element(f"{q}arg", {"value": f"{MMIO64_ARG}{mib}"}))
        return _done(root, xml)
    devices = _child(root, root, "devices")
    os_type = root.find("os/type")
    q35 = "q35" in (os_type.get("machine", "") if os_type is not None else "")
    ctl = next((c for c in devices.findall("controller") if c.get("type") == "pci"
                and c.get("model") in ("pcie-root", "pci-root")), None)
    if ctl is None:
        ctl = _append(root, devices, ET.Element("controller", {"type": "pci", "index": "0",
                                                         "model": "pcie-root" if q35 else "pci-root"}))
    hole = ctl.find("pcihole64")
    if hole is None:
        hole = _append(root, ctl, ET.Element("pcihole64"))
    hole.set("unit", "KiB")
    hole.text = str(mib * 1024)
    return _done(root, xml)


def agent_channel(xml: str) -> str:
    """The virtio-serial channel qemu-guest-agent listens on (libvirt adds the controller and socket path)."""
    root = _load(xml)
    devices = _child(root, root, "devices")
    for target in devices.findall("channel/target"):
        if target.get("type") == "virtio" and target.get("name") == GUEST_AGENT:
            return _done(root, xml)
    el = ET.Element("channel", {"type": "unix"})
    ET.SubElement(el, "target", {"type": "virtio", "name": GUEST_AGENT})
    _append(root, devices, el)
    return _done(root, xml)
