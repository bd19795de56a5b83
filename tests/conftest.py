"""Test set-up: the repo root is importable as the ``nerf_dataset`` package, whatever the folder is called."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "cli.py"

if "nerf_dataset" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "nerf_dataset", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["nerf_dataset"] = _module
    _spec.loader.exec_module(_module)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/blender" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.blender)


@pytest.fixture(scope="session")
def user_resources(tmp_path_factory) -> Path:
    """Keep Blender's per-user files (extension cache, prefs) out of the real home folder."""
    return tmp_path_factory.mktemp("blender_user")


def run_cli(*args, user_resources: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python cli.py ARGS`` as a user would, in a fresh process."""
    env = dict(os.environ)
    if user_resources is not None:
        env["BLENDER_USER_RESOURCES"] = str(user_resources)
    return subprocess.run(
        [sys.executable, str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def cli(user_resources):
    return lambda *args, **kw: run_cli(*args, user_resources=user_resources, **kw)


@pytest.fixture
def fresh_bpy():
    """bpy in this process, reset to an empty factory scene."""
    bpy = pytest.importorskip("bpy")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy
