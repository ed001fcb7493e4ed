"""udev adapter (pyudev, imported lazily): device enumeration with hwdb properties."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autoglm_doctor.targets.base import AdapterUnavailable

if TYPE_CHECKING:
    from autoglm_doctor.targets.base import Target


class UdevAdapter:
    API = ("devices", "hwdb")

    def __init__(self, context: Any) -> None:
        self._context = context

    @classmethod
    def connect(cls, target: Target) -> "UdevAdapter":
        if target.kind != "local":  # a sysroot (even one given live adapters) is not this udev's root
            raise AdapterUnavailable("udev is only available on the live root filesystem")
        try:
            import pyudev
        except ImportError as exc:
            raise AdapterUnavailable("pyudev is not installed", hint="pip install pyudev") from exc
        try:
            return cls(pyudev.Context())
        except Exception as exc:  # noqa: BLE001 - libudev missing raises ImportError/OSError variants
            raise AdapterUnavailable(f"libudev is not usable: {exc}", hint="apt-get install libudev1") from exc

    def devices(self, subsystem: str) -> list[dict[str, Any]]:
        """Every device of a subsystem: sys_name, sys_path, driver and udev properties."""
        out = []
        for dev in self._context.list_devices(subsystem=subsystem):
            out.append(
                {
                    "sys_name": dev.sys_name,
                    "sys_path": dev.sys_path,
                    "driver": dev.driver,
                    "properties": {k: dev.properties[k] for k in dev.properties},
                }
            )
        return sorted(out, key=lambda d: d["sys_name"])

    def hwdb(self, modalias: str) -> dict[str, str]:
        """Properties the udev hardware database gives a modalias (ID_VENDOR_FROM_DATABASE,
        ID_MODEL_FROM_DATABASE, ...): what udevd would have stored, for hosts where the udev
        database is not populated (containers, no udevd)."""
        lib = self._context._libudev
        if not hasattr(lib, "udev_hwdb_new"):
            raise AdapterUnavailable("this libudev has no hwdb interface")
        hwdb = lib.udev_hwdb_new(self._context)
        if not hwdb:
            raise AdapterUnavailable("the udev hwdb is not available (no hwdb.bin: run systemd-hwdb update)")
        try:
            from pyudev._util import udev_list_iterate

            entry = lib.udev_hwdb_get_properties_list_entry(hwdb, modalias.encode(), 0)
            return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                    for k, v in udev_list_iterate(lib, entry)}
        finally:
            lib.udev_hwdb_unref(hwdb)
