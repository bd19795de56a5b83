"""Run from a clone without ``pip install .``: this repository's root is the ``nerf_dataset`` package."""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("nerf_dataset") is None:
    _root = Path(__file__).resolve().parents[1]
    _spec = importlib.util.spec_from_file_location(
        "nerf_dataset", _root / "__init__.py", submodule_search_locations=[str(_root)]
    )
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["nerf_dataset"] = _module
    _spec.loader.exec_module(_module)
