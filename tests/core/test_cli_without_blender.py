"""``python3 cli.py ...`` with a Python that has no bpy, the usual first try: one line saying how to run it,
exit 2, no traceback. What needs no Blender (``validate`` of a folder, ``--collect``) still works there.

The Python is this one started without its site-packages (``-S``), given every package of them but bpy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from fake_scenes import facts
from PIL import Image

from nerf_dataset.app.dataset import finalise
from nerf_dataset.app.ownership import image_namer
from nerf_dataset.core.camera import Raster
from nerf_dataset.core.plan import build_plan, save_plan
from nerf_dataset.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def no_bpy_path(tmp_path_factory) -> Path:
    """A folder with every package of our site-packages but bpy (numpy, Pillow: what the bpy-free half uses)."""
    site = Path(sysconfig.get_paths()["purelib"])
    folder = tmp_path_factory.mktemp("site_without_bpy")
    for entry in site.iterdir():
        if not entry.name.lower().startswith("bpy"):
            (folder / entry.name).symlink_to(entry)
    return folder


def cli_without_bpy(no_bpy_path: Path, *args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(no_bpy_path))
    cmd = [sys.executable, "-S", str(ROOT / "cli.py"), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def test_the_python_has_no_bpy(no_bpy_path):
    env = dict(os.environ, PYTHONPATH=str(no_bpy_path))
    probe = "import importlib.util as u; print(u.find_spec('bpy') is None, u.find_spec('numpy') is not None)"
    r = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, env=env)
    assert r.stdout.split() == ["True", "True"], r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--demo"],
        ["--import", "model.obj"],
        ["--blend", "scene.blend", "--format", "nerf,colmap", "--train", "3"],
        ["validate", "{out}/ds", "--demo"],
    ],
    ids=["demo", "import", "blend", "validate-with-scene"],
)
def test_a_render_without_bpy_says_how_to_run_in_one_line(no_bpy_path, tmp_path, args):
    out = tmp_path / "out"
    args = [a.format(out=tmp_path) for a in args]
    if args[0] != "validate":
        args += ["--out", str(out)]
    else:  # a dataset to check, so that only the scene is missing
        finalise(tmp_path / "ds", planned_dataset(tmp_path / "ds"))
    r = cli_without_bpy(no_bpy_path, *args, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and "Traceback" not in r.stdout + r.stderr, r.stderr
    assert lines[0].startswith(("cli.py: error: ", "cli.py validate: error: "))
    assert "blender -b scene.blend -P cli.py --" in lines[0] and ".venv/bin/python cli.py" in lines[0]
    assert not out.exists()


def planned_dataset(out: Path):
    """What workers leave behind: a saved plan and every view's image (grey squares will do)."""
    settings = Settings(formats=("nerf",), points=0, train=2, val=1, test=1)
    plan = build_plan(settings, facts(raster=Raster(16, 12)), image_namer(settings.formats))
    save_plan(plan, out)
    for view in plan.views:
        (out / view.image).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 12), (128, 128, 128)).save(out / view.image)
    return plan


def test_collect_and_validate_need_no_blender(no_bpy_path, tmp_path):
    out = tmp_path / "out"
    planned_dataset(out)
    r = cli_without_bpy(no_bpy_path, "--collect", "--out", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("wrote ") and (out / "transforms_train.json").is_file()
    r = cli_without_bpy(no_bpy_path, "validate", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("validate: 0 problems in 4 views")
    (tmp_path / "empty").mkdir()
    r = cli_without_bpy(no_bpy_path, "validate", tmp_path / "empty")
    assert r.returncode == 2 and "holds no dataset" in r.stderr


def test_collect_of_a_job_needs_no_blender(no_bpy_path, tmp_path):
    """``cli.py collect --job`` where the images are and Blender is not: a job whose every view is rendered."""
    from nerf_dataset.cloud.job import JobSpec, plan_digest, scene_record, write_job
    from nerf_dataset.core.layout import SCENE_FILE

    job = tmp_path / "job"
    planned_dataset(job)
    (job / SCENE_FILE).write_bytes(b"BLENDER packed scene")  # the workers' input; collect never opens it
    write_job(job, JobSpec(2, plan_digest(job), "Thing", ("Thing",), scene=scene_record(job)))
    r = cli_without_bpy(no_bpy_path, "collect", "--job", job, "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "transforms_train.json").is_file() and "validate: 0 problems" in r.stdout
    r = cli_without_bpy(no_bpy_path, "status", "--job", job)
    assert r.returncode == 0 and "status: 4/4 views done in 2 shards (local)" in r.stdout, r.stdout + r.stderr
