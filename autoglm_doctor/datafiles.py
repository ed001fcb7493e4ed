"""Read the TOML data tables shipped in autoglm_doctor/data (plain file reads: importlib.resources
costs more start-up time than the whole host-basics run)."""

from __future__ import annotations

import functools
import os
from typing import Any

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@functools.lru_cache(maxsize=None)
def load_table(name: str) -> dict[str, Any]:
    from autoglm_doctor.config import _toml_loads

    with open(os.path.join(DATA_DIR, name), encoding="utf-8") as fh:
        return _toml_loads(fh.read())
