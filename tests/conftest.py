"""Test set-up: the repo root is importable as the ``nerf_dataset`` package, whatever the folder is called."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
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
        path = str(item.fspath).replace(os.sep, "/")
        if "tests/blender" in path:
            item.add_marker(pytest.mark.blender)
        if "tests/slurm/" in path:
            item.add_marker(pytest.mark.slurm)


def _slurm_unavailable(reason: str, details: str = "") -> None:
    """CI must run the Slurm tests: there it fails with the whole story; elsewhere it skips with one line."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"Slurm is needed on CI: {reason}\n{details}".rstrip(), pytrace=False)
    pytest.skip(f"no Slurm: {reason}")


@pytest.fixture(scope="session")
def slurm():
    """A real single-node Slurm cluster (tests/slurm_cluster.py), started for this process on first use.

    Each pytest-xdist worker that needs it starts its own, in its own /tmp folder on its own free ports
    (clusters side by side on one host don't disturb each other), and stops it when the session ends.
    """
    # Imported here: this file also runs on its own (runpy, in a Blender subprocess), without tests/ on sys.path.
    from slurm_cluster import SlurmCluster, SlurmError, ensure_installed

    reason = ensure_installed()
    if reason:
        _slurm_unavailable(reason)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    # Not under pytest's basetemp: munged wants o+x on every parent of its socket, and pytest's are 0700;
    # and /tmp keeps the Unix socket paths (munge's, slurmstepd's) short.
    root = Path(tempfile.mkdtemp(prefix=f"slurm-{worker}-", dir="/tmp" if os.path.isdir("/tmp") else None))
    cluster = SlurmCluster(root)
    try:
        cluster.start()
    except SlurmError as error:
        cluster.stop()
        first, _, details = str(error).partition("\n")
        _slurm_unavailable(f"{first} (logs in {root})", details)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


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


def consumer_files(root: Path) -> dict[str, bytes]:
    """Every file a consumer sees, with its bytes (the hidden bookkeeping folder aside): two datasets are the
    same dataset when these are equal."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file() and ".nerf_dataset" not in p.parts
    }


@pytest.fixture(scope="session")
def moto_aws():
    """S3 and AWS Batch served by moto on loopback (tests/moto_aws.py), for this test process."""
    from moto_aws import MotoAws

    aws = MotoAws()
    yield aws
    aws.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A 400 KiB tmpfs: a disk that fills while Blender renders (root only; skipped where it cannot mount).
    ``mount -o remount,size=...`` on it frees space."""
    folder = tmp_path / "small"
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(folder)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)
