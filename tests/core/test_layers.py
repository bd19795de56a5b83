"""The house's floors: core at the bottom, then the formats, Blender glue, the application, the UI on top.
Every import is counted, those inside functions too, so a lazy import cannot hide a cycle or a wrong layer."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "exporters", "blender_io", "app", "cloud", "ui", "stream")
# What each layer may import from the project (besides itself).
ALLOWED = {
    "core": set(),
    "exporters": {"core"},
    "blender_io": {"core"},
    "app": {"core", "exporters", "blender_io", "cloud", "stream"},
    "cloud": {"core", "exporters", "blender_io", "app"},
    "ui": {"core", "exporters", "blender_io", "app", "cloud"},
    # The PyTorch side: no Blender; the instances' half (app/stream_instance.py) uses its wire.
    "stream": {"core"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Project modules ``path`` imports, resolved to dotted names under the package root."""
    own = _module_name(path).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "__init__.py"]
    modules = {_module_name(p): p for p in files}
    modules.pop("", None)
    return {m: {t for t in _imports(p) if t in modules} - {m} for m, p in modules.items()}


def test_each_layer_imports_only_the_layers_below_it():
    wrong = [
        (m, t)
        for m, targets in _graph().items()
        for t in targets
        if t.split(".")[0] != m.split(".")[0] and t.split(".")[0] not in ALLOWED[m.split(".")[0]]
    ]
    assert wrong == []


def test_the_import_graph_has_no_cycles():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return [*path, m, t]
            if t not in state and (cycle := visit(t, [*path, m])):
                return cycle
        state[m] = 2
        return None

    cycles = [c for m in sorted(graph) if m not in state and (c := visit(m, []))]
    assert cycles == []


def test_nothing_below_the_glue_imports_blender():
    for pkg in ("core", "exporters", "app", "cloud", "stream"):
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text())
            top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
            names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module for n in top if isinstance(n, ast.ImportFrom) and n.module}
            assert not {"bpy", "mathutils", "bmesh"} & names, path
