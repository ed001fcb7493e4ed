"""Git keeps no empty directories, but in a hand-made scenario an empty directory means something
("/dev/net exists and has no tun"). This lists every empty directory of every scenario tree in its
.autoglm-doctor/dirs.json (as an empty listing), so a fresh clone reads exactly like the tree it was
built as. The builders call it; tests/test_scenarios.py checks that nothing is left undeclared.

    python tests/scenarios/declare_empty_dirs.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIDE = ".autoglm-doctor"


def undeclared_empty_dirs(root: Path) -> list[str]:
    dirs_file = root / SIDE / "dirs.json"
    declared = json.loads(dirs_file.read_text()) if dirs_file.exists() else {}
    missing = []
    for current, subdirs, files in os.walk(root, followlinks=False):
        rel = os.path.relpath(current, root)
        if rel.split(os.sep)[0] == SIDE:
            subdirs[:] = []
            continue
        if not subdirs and not files and not os.listdir(current):
            path = "/" + rel.replace(os.sep, "/")
            if path not in declared:
                missing.append(path)
    return sorted(missing)


def declare(root: Path) -> list[str]:
    missing = undeclared_empty_dirs(root)
    if missing:
        dirs_file = root / SIDE / "dirs.json"
        declared = json.loads(dirs_file.read_text()) if dirs_file.exists() else {}
        declared.update({path: [] for path in missing})
        dirs_file.parent.mkdir(exist_ok=True)
        dirs_file.write_text(json.dumps(declared, indent=1, sort_keys=True) + "\n")
    return missing


def scenario_roots() -> list[Path]:
    return sorted(p for p in HERE.iterdir() if p.is_dir() and (p / SIDE / "manifest.json").exists())


if __name__ == "__main__":
    for root in scenario_roots():
        for path in declare(root):
            print(f"{root.name}: declared {path}")
