"""The house's floors: the core at the bottom, then the formats, the stream's PyTorch side and the Blender glue,
the application, the job contract and its engines, the command line; the operators and, on top, the panels.
Every import is counted, those inside functions too, so a lazy import can hide neither a cycle nor a wrong floor."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What each floor may import from the project (besides itself): only floors below it.
ALLOWED = {
    "core": set(),
    "exporters": {"core"},
    "stream": {"core"},  # the PyTorch side: no Blender; the instances' half (app/stream_instance.py) uses its wire
    "blender_io": {"core"},
    "app": {"core", "exporters", "stream", "blender_io"},
    "cloud": {"core", "exporters", "blender_io", "app"},
    "commands": {"core", "exporters", "stream", "blender_io", "app", "cloud"},
    "operators": {"core", "exporters", "blender_io", "app", "cloud"},
    "panels": {"core", "exporters", "blender_io", "app", "cloud", "operators"},
    "": {"operators", "panels"},  # the extension's __init__.py: it registers the two
}
FLOORS = [floor for floor in ALLOWED if floor]
BLENDER_MODULES = {"bpy", "mathutils", "bmesh", "bpy_extras", "addon_utils"}
# Where Blender may be imported: the shell and the UI. Everything else runs under plain Python.
WITH_BLENDER = {"blender_io", "operators", "panels"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _floor(module: str) -> str:
    return module.split(".")[0] if "." in module or module in ALLOWED else ""


def _files() -> list[Path]:
    return [p for floor in FLOORS for p in (ROOT / floor).rglob("*.py")] + [ROOT / "__init__.py"]


def _imports(path: Path) -> set[str]:
    """Project modules ``path`` imports anywhere in it, resolved to dotted names under the package root."""
    own = _module_name(path).split(".") if _module_name(path) else []
    package = own if path.name == "__init__.py" else own[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
            if node.module:  # "from . import x" imports the module x; its package is the importer's own parent
                found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found.update(n.removeprefix("nerf_dataset.") for n in names if n and n.startswith("nerf_dataset."))
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in _files()}
    return {m: {t for t in _imports(p) if t in modules} - {m} for m, p in modules.items()}


def test_each_floor_imports_only_the_floors_below_it():
    wrong = [(m, t) for m, targets in _graph().items() for t in targets
             if _floor(t) != _floor(m) and _floor(t) not in ALLOWED[_floor(m)]]  # fmt: skip
    assert wrong == []


def test_no_two_folders_import_each_other():
    edges = {(_floor(m), _floor(t)) for m, targets in _graph().items() for t in targets if _floor(t) != _floor(m)}
    assert sorted((a, b) for a, b in edges if (b, a) in edges) == []


def test_the_core_and_the_formats_import_nothing_above_them():
    above = {(m, t) for m, targets in _graph().items() if _floor(m) in ("core", "exporters") for t in targets
             if _floor(t) not in ("core", "exporters")}  # fmt: skip
    assert above == set()


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


def test_blender_is_imported_only_by_the_shell_and_the_ui():
    """Lazy imports too: ``import bpy`` inside a function of app/ would make it need Blender all the same."""
    found = []
    for path in _files():
        if _floor(_module_name(path)) in WITH_BLENDER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            found += [(str(path.relative_to(ROOT)), n) for n in names if n.split(".")[0] in BLENDER_MODULES]
    assert found == []


def _blender_classes(kind: str) -> list[str]:
    """Every class of ours that subclasses ``bpy.types.<kind>``, as the folder it lives in."""
    found = []
    others = [p for folder in ("bench", "examples", "tools") for p in (ROOT / folder).rglob("*.py")]
    for path in [*_files(), *ROOT.glob("*.py"), *others]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if f"bpy.types.{kind}" in bases or kind in bases:
                    found.append(f"{path.relative_to(ROOT).parts[0]}/{node.name}")
    return found


def test_every_operator_is_under_operators_and_every_panel_under_panels():
    operators, panels = _blender_classes("Operator"), _blender_classes("Panel")
    assert operators and all(c.startswith("operators/") for c in operators), operators
    assert panels and all(c.startswith("panels/") for c in panels), panels


def test_pip_install_ships_every_package():
    """``pip install .`` makes the repository ``nerf_dataset``: pyproject.toml lists every package folder."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"nerf_dataset"} | {
        "nerf_dataset." + _module_name(init.parent / "__init__.py")
        for f in FLOORS
        for init in (ROOT / f).rglob("__init__.py")
    }
    assert listed == found
