"""The import graph reads top to bottom: cli → commands → app → runner → checks → facts →
targets/adapters → model. Every import, function-level ones included, is read from the source."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "autoglm_doctor"
UPPER = ("autoglm_doctor.cli", "autoglm_doctor.commands", "autoglm_doctor.app", "autoglm_doctor.registry",
         "autoglm_doctor.runner")
RULES = {
    # a layer: the modules it must never import
    "logscan": UPPER + ("autoglm_doctor.checks",),
    "facts": UPPER + ("autoglm_doctor.checks", "autoglm_doctor.fixes"),
    "targets": UPPER + ("autoglm_doctor.checks", "autoglm_doctor.facts", "autoglm_doctor.check",
                        "autoglm_doctor.logscan"),
    "adapters": UPPER + ("autoglm_doctor.checks", "autoglm_doctor.facts", "autoglm_doctor.check",
                         "autoglm_doctor.logscan"),
    "model.py": UPPER + ("autoglm_doctor.checks", "autoglm_doctor.facts", "autoglm_doctor.targets",
                         "autoglm_doctor.check", "autoglm_doctor.config"),
    "errors.py": ("autoglm_doctor.",),
}


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize("layer", sorted(RULES))
def test_arrows_point_down(layer):
    files = [PKG / layer] if layer.endswith(".py") else sorted((PKG / layer).glob("*.py"))
    assert files
    bad = []
    for path in files:
        for name in imports(path):
            if any(name == f or name.startswith(f if f.endswith(".") else f + ".") for f in RULES[layer]):
                bad.append(f"{path.relative_to(PKG.parent)} imports {name}")
    assert not bad, "\n".join(bad)
