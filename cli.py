#!/usr/bin/env python3
"""Render a NeRF dataset headless.

    blender -b scene.blend -P cli.py -- --out DIR [OPTIONS]
    python cli.py --blend scene.blend --out DIR [OPTIONS]      (bpy from PyPI)

``python cli.py --help`` lists the options.
"""

import importlib.util
import sys
from pathlib import Path

PACKAGE = "nerf_dataset"


def _package():
    """This folder as the ``nerf_dataset`` package, whatever the folder is called and however we are run."""
    if PACKAGE not in sys.modules:
        root = Path(__file__).resolve().parent
        spec = importlib.util.spec_from_file_location(
            PACKAGE, root / "__init__.py", submodule_search_locations=[str(root)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = module
        spec.loader.exec_module(module)
    return importlib.import_module(f"{PACKAGE}.commands")


if __name__ == "__main__":
    sys.exit(_package().main(sys.argv))
