"""The deployment profile's schema, as data: every ``[profile]`` key with its type, default, range or
format, and documentation, in one table.

Which keys exist never depends on which modules were imported: the whole table is known before a
config is read, validated completely before any check is selected, and docs/config.md is generated
from it. A structured value (the container list, log sources) names its validator as
``"module:function"``; that module is imported only to validate a value the config actually sets.

Ranges are what the kernel and the tools accept: sizes are finite and positive (a NaN or negative
memory size would turn into "nan GiB needed"), hugepage sizes are the x86-64 ones the kernel offers
(2M, and 1G with the pdpe1gb CPU flag), names are non-empty, ports are 1-65535, time windows positive.
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

Validator = Callable[[Any], Any]


@dataclass(frozen=True)
class ProfileKey:
    name: str
    types: tuple[type, ...]
    default: Any
    doc: str
    validate: Validator | str | None = None  # raises ValueError; may return a normalised value
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False  # True: the value must be greater than ``minimum``
    choices: tuple[Any, ...] = ()
    fmt: str = ""  # a named format of FORMATS

    def check(self, value: Any) -> Any:
        """The value, normalised, or ValueError naming what is wrong."""
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(map(str, self.choices))}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_range(value)
        if self.fmt:
            value = FORMATS[self.fmt][0](value)
        validate = self.validate
        if isinstance(validate, str):
            module, _, attr = validate.partition(":")
            validate = getattr(importlib.import_module(module), attr)
        if validate is not None:
            normalised = validate(value)
            if normalised is not None:
                value = normalised
        return value

    def _check_range(self, value: float) -> None:
        lo, hi = self.minimum, self.maximum
        too_low = lo is not None and (value <= lo if self.exclusive_minimum else value < lo)
        too_high = hi is not None and value > hi
        if not (too_low or too_high):
            return
        if lo is not None and hi is not None and self.exclusive_minimum and lo == 0:
            raise ValueError(f"must be positive and at most {hi:g}, got {value:g}")
        if lo is not None and hi is not None:
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {value:g}")
        if lo is not None:
            raise ValueError(f"must be {'positive' if self.exclusive_minimum and lo == 0 else f'at least {lo:g}'}, got {value:g}")
        raise ValueError(f"must be at most {hi:g}, got {value:g}")

    def describe(self) -> str:
        """The constraints in words, for the generated reference."""
        parts = []
        if self.choices:
            parts.append("one of " + ", ".join(f"`{c}`" for c in self.choices))
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{self.minimum:g} to {self.maximum:g}")
        elif self.minimum is not None:
            parts.append(f"> {self.minimum:g}" if self.exclusive_minimum else f">= {self.minimum:g}")
        if self.fmt:
            parts.append(FORMATS[self.fmt][1])
        return "; ".join(parts)


# -- formats -----------------------------------------------------------------------------------
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$")
_MODEL_NAME = re.compile(r"^\S{1,256}$")


def _url(value: str) -> str:
    from urllib.parse import urlsplit

    bad = f"must be an http(s) URL like http://127.0.0.1:8000, got {value!r}"
    if any(c.isspace() for c in value):
        raise ValueError(bad)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{bad} ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(bad)
    if port is not None and not 1 <= port <= 65535 or parts.netloc.endswith(":"):
        raise ValueError(f"{bad} (port must be 1-65535)")
    return value.rstrip("/")


def _ifname(value: str) -> str:
    if not value or len(value) > 15 or "/" in value or ":" in value or any(c.isspace() for c in value) \
            or value in (".", ".."):
        raise ValueError(f"{value!r} is not a network interface name (1-15 characters, no '/', ':' or spaces)")
    return value


def _abs_path(value: str) -> str:
    if not value.startswith("/") or "\0" in value:
        raise ValueError(f"must be an absolute path, got {value!r}")
    return value.rstrip("/") or "/"


def _user(value: str) -> str:
    if not _USER.match(value):
        raise ValueError(f"{value!r} is not a user name (letters, digits, '_', '.', '-'; 1-32 characters)")
    return value


def _model_name(value: str) -> str:
    if not _MODEL_NAME.match(value):
        raise ValueError(f"{value!r} is not a served model name (non-empty, no spaces)")
    return value


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _env_name(value: str) -> str:
    from autoglm_doctor.redact import redact

    if redact(value) != value:  # an hf_/sk-/ghp_ token shape
        raise ValueError("looks like the API key itself: give the name of the environment variable that holds it")
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name (letters, digits, '_')")
    return value


def _duration(value: str) -> str:
    from autoglm_doctor.logscan.timeparse import TimeSpecError, parse_duration

    try:
        seconds = parse_duration(value)
    except TimeSpecError as exc:
        raise ValueError(str(exc)) from exc
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration (15m, 1h, 2d)")
    return value


# Nested quantifiers ("(a+)+", "(\w*)*", "(x|x?)+") backtrack exponentially on a line that almost
# matches; Python's re has no time limit, so such a pattern is refused.
_NESTED = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,\d*\})")
MAX_PATTERN = 512


def _safe_patterns(value: list[str]) -> list[str]:
    for text in value:
        if len(text) > MAX_PATTERN:
            raise ValueError(f"a pattern is longer than {MAX_PATTERN} characters")
        if _NESTED.search(text):
            raise ValueError(f"{text!r} nests a repeat inside a repeat (catastrophic backtracking); "
                             "write it without the outer repeat")
    return value


def _names(value: list[Any]) -> list[str]:
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("must be a list of non-empty strings")
    return [v.strip() for v in value]


def _guest_targets(value: list[Any]) -> list[str]:
    names = _names(value)
    for name in names:
        if not name.startswith(("libvirt:", "ssh://", "docker:")):
            raise ValueError(f"{name!r} is not a guest target: libvirt:DOMAIN, ssh://[user@]host[:port] or "
                             "docker:CONTAINER")
    return names


FORMATS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "url": (_url, "an http(s) URL, port 1-65535"),
    "ifname": (_ifname, "a network interface name (1-15 characters)"),
    "abs-path": (_abs_path, "an absolute path"),
    "user": (_user, "a user name"),
    "model-name": (_model_name, "non-empty, no spaces"),
    "env-name": (_env_name, "the name of an environment variable (never the key itself)"),
    "duration": (_duration, "a positive duration: 15m, 1h, 2d"),
    "names": (_names, "non-empty strings"),
    "safe-patterns": (_safe_patterns, f"regular expressions without nested repeats, at most {MAX_PATTERN} characters"),
}

NUMBER = (int, float)
SIZES_DOC = "VM/host size preset: small, standard, performance or gpu-host (see SIZES)"


def _keys() -> tuple[ProfileKey, ...]:
    from autoglm_doctor.logscan.settings import (
        DEFAULT_LEVEL_FIELDS,
        DEFAULT_MESSAGE_FIELDS,
        DEFAULT_SERVICE_FIELDS,
        DEFAULT_SERVICES,
        DEFAULT_STATUS_FIELDS,
        DEFAULT_TIME_FIELDS,
        DEFAULT_TRACE_FIELDS,
        DEFAULT_TRACE_PATTERNS,
    )

    from autoglm_doctor.facts.docker import DEFAULT_CONTAINERS

    settings, docker = "autoglm_doctor.logscan.settings", "autoglm_doctor.facts.docker"
    K = ProfileKey
    return (
        # sizing (host.resources)
        K("size", (str,), "standard", SIZES_DOC, choices=("small", "standard", "performance", "gpu-host")),
        K("cpus", (int,), None, "CPU cores required (overrides the size preset)", minimum=1, maximum=65536),
        K("memory_gb", NUMBER, None, "memory required in GiB (overrides the size preset)",
          minimum=0, exclusive_minimum=True, maximum=65536),
        K("disk_gb", NUMBER, None, "free disk required on data_path in GiB (overrides the preset)",
          minimum=0, exclusive_minimum=True, maximum=1_000_000),
        K("data_path", (str,), None, "where images/weights live; default /var/lib/libvirt/images for gpu-host, "
          "else /var/lib/docker", fmt="abs-path"),
        K("vm_user", (str,), None, "user that runs the VMs and needs /dev/kvm; default libvirt-qemu, qemu, or root, "
          "whichever exists", fmt="user"),
        K("vm_memory_gb", NUMBER, None, "memory of the AutoGLM VM in GiB, to size hugepages",
          minimum=0, exclusive_minimum=True, maximum=65536),
        K("hugepage_size", (str,), None, "back the VM with hugepages of this size (unset: no hugepages)",
          choices=("2M", "1G")),
        K("vm_numa_node", (int,), None, "NUMA node the AutoGLM VM's memory is bound to (libvirt <numatune>); "
          "unset: not checked", validate="autoglm_doctor.facts.numa:_validate_node", maximum=1023),
        # targets checked with this one, in the same report (as --guest)
        K("guests", (list,), [], "guests and containers checked with the host in one report (as --guest): "
          "libvirt:DOMAIN, ssh://[user@]host[:port], docker:CONTAINER", validate=_guest_targets),
        # GPUs (host.pci, host.vfio, host.iommu)
        K("gpus", (list,), None, "PCI addresses of the GPUs to pass through, e.g. [\"0000:01:00.0\"]; unset: every "
          "NVIDIA/AMD GPU that is not the host's boot VGA; [] : this host passes no GPU through (the passthrough "
          "checks skip)", validate="autoglm_doctor.facts.pci:_validate_gpus"),
        # the VM definition (vm.*)
        K("vm_domains", (list,), None, "libvirt domains the vm.* checks review; unset: every domain with a PCI "
          "hostdev", validate="autoglm_doctor.facts.domain:validate_domain_names"),
        K("libvirt_uri", (str,), None, "libvirt connection the vm.* checks use (--libvirt-uri overrides); unset: "
          "qemu:///system (or LIBVIRT_DEFAULT_URI)", validate="autoglm_doctor.facts.domain:validate_uri"),
        K("vm_vcpus", (int,), None, "vCPUs the AutoGLM VM needs; unset: 16 for size gpu-host, else the size "
          "preset's cpus", minimum=1, maximum=4096),
        # inside the guest (guest.*, model.*)
        K("model_path", (str,), None, "the model weights directory as the checked system sees it (guest or host); "
          "unset: taken from the model server container's --model / --model-path and its mounts", fmt="abs-path"),
        K("model_weights_gb", NUMBER, 20, "disk the model weights need in GiB when they are not downloaded yet "
          "(20: a 9B model in bf16)", minimum=0, exclusive_minimum=True, maximum=1_000_000),
        K("clock_max_offset_ms", NUMBER, 100, "largest clock offset from the time source, in ms, before "
          "guest.system.clock warns", minimum=0, exclusive_minimum=True, maximum=3_600_000),
        # network (host.bridge)
        K("bridge", (str,), "br0", "host bridge the AutoGLM VM is attached to", fmt="ifname"),
        K("bridge_uplink", (str,), None, "port of the profile bridge that leads to the LAN (default: any NIC, bond, "
          "team or VLAN port)", fmt="ifname"),
        K("network_mode", (str,), "bridged", "how the VM reaches the LAN: 'bridged' (host bridge) or 'nat' (libvirt "
          "NAT network)", choices=("bridged", "nat")),
        K("vlans", (list,), [], "VLAN ids the profile bridge must carry (VLAN filtering), e.g. [100, 200]",
          validate="autoglm_doctor.facts.net:_vlans"),
        # SELinux
        K("selinuxfs", (str,), "/sys/fs/selinux", "where selinuxfs is mounted (its 'enforce' file gives the running "
          "mode)", fmt="abs-path"),
        K("libvirt_images_path", (str,), "/var/lib/libvirt/images", "directory of the VM disk images whose SELinux "
          "labels are checked", fmt="abs-path"),
        # containers and the model server
        K("containers", (list,), [dict(c) for c in DEFAULT_CONTAINERS],
          "the AutoGLM containers expected here: [[profile.containers]] with name/label/image, role (agent|model), "
          "ports ['8080:8080'], volumes [{target, mode rw|ro, write}], user", validate=f"{docker}:validate_containers"),
        K("model_endpoint", (str,), "http://127.0.0.1:8000", "base URL of the OpenAI-compatible model server "
          "(GET /v1/models is probed)", fmt="url"),
        K("served_model_name", (str,), "autoglm-phone-9b", "the model name the server must list (vLLM/SGLang "
          "--served-model-name)", fmt="model-name"),
        K("model_api_key_env", (str,), None, "name of the environment variable holding the model server's API key "
          "(vLLM/SGLang --api-key), never the key itself: the endpoint probe sends its value as a Bearer token",
          fmt="env-name"),
        K("volumes", (list,), [], "extra host paths a host process or container must use: [{path, user, write}] or "
          "plain paths", validate=f"{docker}:validate_host_volumes"),
        # phones (device.adb, device.usb)
        K("devices", (list,), [], "Android devices the agent drives: adb serials (USB) or host:port (adb over TCP); "
          "empty: at least one device must be attached", validate="autoglm_doctor.facts.adb:_devices"),
        K("adb_pairing", (bool,), False, "the phones connect by wireless debugging, paired with `adb pair` "
          "(Android 11+; needs platform-tools 30.0.0 or newer)"),
        K("adb_timeout", NUMBER, 10, "seconds one adb command may take", minimum=1, maximum=300),
        K("agent_domain", (str,), None, "the libvirt domain the phone agent runs in: USB phones on the host must be "
          "passed into it; unset: the agent runs on the host its phones are plugged into",
          validate="autoglm_doctor.facts.adb:_domain_name"),
        # trace-id logs (logs.traces)
        K("logs_services", (list,), list(DEFAULT_SERVICES), "services of the deployment in request order (agent "
          "first); default sources are their containers", fmt="names"),
        K("logs_sources", (list,), None, "log sources: PATH (file or directory), docker:NAME, journald:UNIT, "
          "libvirt:DOMAIN; SERVICE=SOURCE names the service (default: docker:<service> for each of logs_services)",
          validate=f"{settings}:validate_sources"),
        K("logs_hops", (list,), None, "request hops 'upstream>downstream' checked for lost traces (default: "
          "consecutive logs_services)", validate=f"{settings}:validate_hops"),
        K("logs_trace_fields", (list,), list(DEFAULT_TRACE_FIELDS), "JSON/logfmt fields that carry a trace or "
          "request id", validate=f"{settings}:validate_fields"),
        K("logs_trace_patterns", (list,), list(DEFAULT_TRACE_PATTERNS), "regexes (one group: the id) for ids in "
          "plain-text lines", fmt="safe-patterns", validate=f"{settings}:validate_patterns"),
        K("logs_service_fields", (list,), list(DEFAULT_SERVICE_FIELDS), "JSON/logfmt fields naming the service of a "
          "line (else the source names it)", validate=f"{settings}:validate_fields"),
        K("logs_level_fields", (list,), list(DEFAULT_LEVEL_FIELDS), "fields holding the log level",
          validate=f"{settings}:validate_fields"),
        K("logs_message_fields", (list,), list(DEFAULT_MESSAGE_FIELDS), "fields holding the message",
          validate=f"{settings}:validate_fields"),
        K("logs_time_fields", (list,), list(DEFAULT_TIME_FIELDS), "fields holding the timestamp",
          validate=f"{settings}:validate_fields"),
        K("logs_status_fields", (list,), list(DEFAULT_STATUS_FIELDS), "fields holding an HTTP status (5xx counts as "
          "an error)", validate=f"{settings}:validate_fields"),
        K("logs_window", (str,), "1h", "time window the logs.traces checks look at (e.g. 15m, 1h, 2d)", fmt="duration"),
        K("logs_untraced_max_share", NUMBER, 0.5, "propagation warns when a service logs more than this share of "
          "lines without any id", minimum=0, maximum=1),
        K("logs_max_traces", (int,), 2_000_000, "traces tracked per scan (state is bounded; more are counted)",
          minimum=1, maximum=1 << 31),
        K("logs_timezone", (str,), "UTC", "zone of log times written without one (vLLM's and SGLang's headers): "
          "UTC, +08:00 or an IANA name", validate=f"{settings}:validate_timezone"),
        K("logs_skew_seconds", NUMBER, 1.0, "clocks of two services that disagree by more than this are reported, "
          "and timelines corrected", minimum=0, exclusive_minimum=True, maximum=86400),
        K("logs_gap_seconds", NUMBER, 5.0, "a pause longer than this in a trace timeline is a gap",
          minimum=0, exclusive_minimum=True, maximum=86400 * 365),
    )


BUILTIN_KEYS: tuple[ProfileKey, ...] = _keys()
