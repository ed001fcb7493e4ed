"""A small on-disk index that lets a selective run (``--only host.kernel.*``) import only the plugin
modules it needs, and skip scanning every installed distribution's metadata.

Correctness first: the index is keyed by a fingerprint of every ``*.dist-info``/``*.egg-info`` on
``sys.path`` (name and entry_points.txt mtime), so an install, uninstall or entry-point change
invalidates it; a module is trusted only while its file's mtime and size are unchanged. Any doubt
(unreadable cache, missing file, unknown module) means "import it". Set AUTOGLM_DOCTOR_NO_CACHE=1 to
disable the index altogether.
"""

from __future__ import annotations

import zlib
import json
import os
import sys
from typing import Any

VERSION = 1


def enabled() -> bool:
    return os.environ.get("AUTOGLM_DOCTOR_NO_CACHE", "") in ("", "0")


def cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "autoglm-doctor", f"registry-v{VERSION}.json")


def fingerprint() -> str:
    parts = [sys.version]
    for entry in sys.path:
        try:
            names = sorted(n for n in os.listdir(entry or ".") if n.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for name in names:  # only directories that hold distributions: a script's own dir must not matter
            parts.append(f"{os.path.abspath(entry or '.')}/{name}")
            try:
                st = os.stat(os.path.join(entry or ".", name, "entry_points.txt"))
                parts.append(f"{st.st_mtime_ns}:{st.st_size}")
            except OSError:
                parts.append("-")
    text = "\n".join(parts).encode()
    # crc32 of the text and of its reverse, plus its length: cheap (hashlib's OpenSSL costs ~2 ms to import)
    return f"{zlib.crc32(text):08x}{zlib.crc32(text[::-1]):08x}{len(text):x}"


def module_stamp(module_name: str) -> str | None:
    """mtime and size of the file a module would load from, without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec(module_name)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None) if spec else None
    if not origin or not os.path.isfile(origin):
        return None
    st = os.stat(origin)
    return f"{origin}:{st.st_mtime_ns}:{st.st_size}"


def load() -> dict[str, Any] | None:
    if not enabled():
        return None
    try:
        with open(cache_path(), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != fingerprint():
        return None
    return data


def save(entry_points: dict[str, list[list[str]]], modules: dict[str, Any], profile_keys: list[str]) -> None:
    if not enabled():
        return
    path = cache_path()
    data = {"fingerprint": fingerprint(), "entry_points": entry_points, "modules": modules, "profile_keys": profile_keys}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs speed
