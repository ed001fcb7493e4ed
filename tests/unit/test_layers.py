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


# Every module of the package (and the checks/ and fixes/ plugins) in one layer, top to bottom. A module
# may import its own layer and the layers below it, never one above. Names are module prefixes below
# autoglm_doctor (the longest one decides: remedy.command is a sub-command, the rest of remedy the
# engine the app uses); "" is the package itself (its __version__).
LAYERS = (
    ("cli", "__main__"),
    ("commands", "logcommands", "fleet", "remedy.command"),
    ("app",),
    ("remedy", "render", "output"),
    ("runner", "registry"),
    ("config", "profile_schema"),
    ("checks", "fixes", "per_resource", "plan"),
    ("facts", "logscan"),
    ("check", "changes"),
    ("targets", "adapters", "datafiles"),
    ("redact", "logs"),
    ("model", "errors", ""),
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
ROOT = PKG.parent


def layer_of(module: str) -> tuple[int, str]:
    parts = module.split(".")
    parts = parts[1:] if parts[0] == "autoglm_doctor" else parts
    for n in range(len(parts), -1, -1):
        key = ".".join(parts[:n])
        if key in LAYER:
            return LAYER[key], key
    raise KeyError(module)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> list[tuple[str, int]]:
    """Every import that runs (module level or inside a function); ``if TYPE_CHECKING:`` blocks only
    name types for annotations and import nothing at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(sub) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for sub in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, node.lineno)] + [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return [(name, line) for name, line in out if name.split(".")[0] in ("autoglm_doctor", "checks", "fixes")]


def sources() -> list[Path]:
    return [p for base in ("autoglm_doctor", "checks", "fixes") for p in sorted((ROOT / base).rglob("*.py"))]


def test_every_module_has_a_layer():
    assert sources()
    missing = []
    for path in sources():
        try:
            layer_of(module_name(path))
        except KeyError:
            missing.append(module_name(path))
    assert not missing, f"place these modules in LAYERS: {missing}"


def test_imports_point_down_the_layers_only():
    """cli → commands → app → runner → checks → facts → targets/adapters → model, with the modules the
    short form leaves out placed in between; a module imports its own layer or one below."""
    bad = []
    for path in sources():
        mine, my_key = layer_of(module_name(path))
        for name, line in runtime_imports(path):
            theirs, key = layer_of(name)
            if theirs < mine:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({my_key or 'autoglm_doctor'}) imports {name} ({key})")
    assert not bad, "\n".join(bad)
