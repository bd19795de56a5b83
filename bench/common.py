"""What the benchmarks share: the benchmark scene, the floor scene, and timing whole processes."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CLI = str(ROOT / "cli.py")
CONFTEST = str(ROOT / "tests" / "conftest.py")

MAKE_SCENES = """
import sys, runpy
runpy.run_path(sys.argv[1])  # tests/conftest.py: makes the repo importable as nerf_dataset
import bpy
from nerf_dataset.blender_io.demo import build_demo_scene
from nerf_dataset.blender_io.render import apply_render_settings
from nerf_dataset.blender_io.state import SceneState
from nerf_dataset.blender_io.rig import build_rig_camera
from nerf_dataset.core.plan import load_plan
work, w, h = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
scene = build_demo_scene()
scene.render.resolution_x, scene.render.resolution_y = w, h
bpy.ops.wm.save_as_mainfile(filepath=work + "/scene.blend")
if len(sys.argv) > 5:  # the floor scene: the very plan cli.py rendered, as a plain animation
    plan = load_plan(sys.argv[5])
    scene.camera = build_rig_camera(scene, plan)
    apply_render_settings(SceneState(), scene, plan)  # never restored: the bench process ends
    scene.frame_start, scene.frame_end = plan.views[0].frame, plan.views[-1].frame
    scene.render.filepath = work + "/floor/f_####"
    bpy.ops.wm.save_as_mainfile(filepath=work + "/floor.blend")
"""

FLOOR = """
import sys, bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
bpy.ops.render.render(animation=True)
"""

# What GET3D / Objaverse-style scripts do: move the camera, render one still, repeat. It opens the floor
# scene (same render settings) but renders without persistent data, as such scripts do.
NAIVE_LOOP = """
import sys, json, bpy
from mathutils import Matrix
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
scene = bpy.context.scene
scene.render.use_persistent_data = False
cam = scene.camera
cam.animation_data_clear()
cam.parent = None
for view in json.load(open(sys.argv[2]))["views"]:
    cam.matrix_world = Matrix(view["c2w"])
    scene.render.filepath = sys.argv[3] + "/r_%d.png" % view["frame"]
    bpy.ops.render.render(write_still=True)
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_scenes(work: Path, resolution: str, ours_cmd: list[str]) -> None:
    """scene.blend for cli.py; then floor.blend: the plan cli.py made, keyed as a plain animation."""
    w, h = resolution.split("x")
    subprocess.run([PY, "-c", MAKE_SCENES, CONFTEST, str(work), w, h], check=True, capture_output=True)
    subprocess.run(ours_cmd, check=True, capture_output=True)
    plan_dir = work / "ours"
    subprocess.run([PY, "-c", MAKE_SCENES, CONFTEST, str(work), w, h, str(plan_dir)], check=True, capture_output=True)


# 100 views, as NeRF-synthetic's train split: 60 train, 20 val, 20 test.
VIEW_COUNTS = ["--train", "60", "--val", "20", "--test", "20"]


def options(reps: int, sizes: str | None = None) -> argparse.Namespace:
    """--reps, --samples and --resolution (or --sizes, a comma list), the options every bench takes."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=reps)
    ap.add_argument("--samples", type=int, default=16)
    if sizes:
        ap.add_argument("--sizes", default=sizes)
    else:
        ap.add_argument("--resolution", default="200x200")
    return ap.parse_args()


def ours_command(work: Path, samples: int, *extra: str) -> list[str]:
    """``cli.py`` on the bench scene: 100 views, RGBA, a fixed seed, plus ``extra`` options."""
    base = [PY, CLI, "--blend", str(work / "scene.blend"), *VIEW_COUNTS, "--samples", str(samples)]
    return [*base, "--transparent", "--seed", "1", *extra]


def alternate(methods: dict[str, list[str]], reps: int) -> dict[str, list[float]]:
    """Time every method once per round, rounds in a row, so a noisy machine's drift hits all of them."""
    times = {k: [] for k in methods}
    for _ in range(reps):
        for name, cmd in methods.items():
            times[name].append(timed(cmd))
    return times


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
