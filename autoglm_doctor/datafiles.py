"""Read the JSON data tables shipped in autoglm_doctor/data (plain file reads: importlib.resources,
and tomllib for TOML, would cost more start-up time than the whole host-basics run)."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@functools.lru_cache(maxsize=None)
def load_table(name: str) -> dict[str, Any]:
    with open(os.path.join(DATA_DIR, name), encoding="utf-8") as fh:
        return json.load(fh)
