"""logscan is a library: its modules import each other without a cycle, and none of them reaches up
into the command line, the commands or the check registry (arrows point down only)."""

from __future__ import annotations

import ast
from pathlib import Path

import autoglm_doctor.logscan

PACKAGE = Path(autoglm_doctor.logscan.__file__).parent
UPWARD = ("autoglm_doctor.cli", "autoglm_doctor.commands", "autoglm_doctor.logcommands", "autoglm_doctor.registry",
          "autoglm_doctor.app", "autoglm_doctor.runner")


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_import_cycle_between_logscan_modules():
    modules = {p.stem: p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph = {name: {m.rsplit(".", 1)[-1] for m in _imports(path, True) if m.startswith("autoglm_doctor.logscan.")
                    and m.rsplit(".", 1)[-1] in modules} for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 1:
            raise AssertionError("import cycle: " + " -> ".join(trail + [name]))
        if state.get(name) == 2:
            return
        state[name] = 1
        for dep in sorted(graph[name]):
            visit(dep, trail + [name])
        state[name] = 2

    for name in sorted(graph):
        visit(name, [])


def test_logscan_never_imports_the_cli_or_the_registry():
    for path in PACKAGE.glob("*.py"):
        upward = {m for m in _imports(path, False) if m.startswith(UPWARD)}
        assert not upward, f"{path.name} imports {sorted(upward)}"
