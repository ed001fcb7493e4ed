"""Read the TOML data tables shipped in autoglm_doctor/data."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any


@functools.lru_cache(maxsize=None)
def load_table(name: str) -> dict[str, Any]:
    from autoglm_doctor.config import _toml_loads

    text = resources.files("autoglm_doctor.data").joinpath(name).read_text(encoding="utf-8")
    return _toml_loads(text)
