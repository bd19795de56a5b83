"""Exporter overhead: ``cli.py`` making 100 views vs Blender's own animation render of the same 100 frames.

Both sides are whole fresh processes on the same .blend (import bpy, open the file, render 200x200,
Cycles 16 samples, write PNGs); ours also reads the scene, plans, keys the rig and writes transforms.
Runs alternate (floor, ours, floor, ours, ...) so drift on a noisy VM hits both. Prints the ratio.

    .venv/bin/python bench/render_overhead.py [--reps 3] [--resolution 200x200] [--samples 16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "out" / "bench"
VIEWS = {"train": 60, "val": 20, "test": 20}

MAKE_SCENES = """
import sys, runpy
runpy.run_path(sys.argv[1])  # tests/conftest.py: makes the repo importable as nerf_dataset
import bpy
from nerf_dataset.blender_io.demo import build_demo_scene
from nerf_dataset.blender_io.render import apply_render_settings
from nerf_dataset.blender_io.rig import build_rig_camera
from nerf_dataset.core.plan import load_plan
work, w, h = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
scene = build_demo_scene()
scene.render.resolution_x, scene.render.resolution_y = w, h
bpy.ops.wm.save_as_mainfile(filepath=work + "/scene.blend")
if len(sys.argv) > 5:  # the floor scene: the very plan cli.py rendered, as a plain animation
    plan = load_plan(sys.argv[5])
    scene.camera = build_rig_camera(scene, plan)
    apply_render_settings(scene, plan)
    scene.frame_start, scene.frame_end = plan.views[0].frame, plan.views[-1].frame
    scene.render.filepath = work + "/floor/f_####"
    bpy.ops.wm.save_as_mainfile(filepath=work + "/floor.blend")
"""

FLOOR = """
import sys, bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
bpy.ops.render.render(animation=True)
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--resolution", default="200x200")
    ap.add_argument("--samples", type=int, default=16)
    a = ap.parse_args()
    w, h = a.resolution.split("x")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    py, conftest = sys.executable, str(ROOT / "tests" / "conftest.py")
    counts = [x for k, n in VIEWS.items() for x in (f"--{k}", str(n))]
    ours = [py, str(ROOT / "cli.py"), "--blend", str(WORK / "scene.blend"), "--out", str(WORK / "ours"), "--overwrite"]
    ours += [*counts, "--samples", str(a.samples), "--transparent", "--seed", "1"]
    subprocess.run([py, "-c", MAKE_SCENES, conftest, str(WORK), w, h], check=True, capture_output=True)
    subprocess.run(ours, check=True, capture_output=True)
    subprocess.run(
        [py, "-c", MAKE_SCENES, conftest, str(WORK), w, h, str(WORK / "ours")], check=True, capture_output=True
    )
    floor_cmd = [py, "-c", FLOOR, str(WORK / "floor.blend")]
    floors, ourss = [], []
    for _ in range(a.reps):
        floors.append(timed(floor_cmd))
        ourss.append(timed(ours))
    assert len(list((WORK / "floor").glob("*.png"))) == sum(VIEWS.values())
    ratio = statistics.median(ourss) / statistics.median(floors)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "views": sum(VIEWS.values()),
        "resolution": a.resolution,
        "samples": a.samples,
        "floor_s": [round(t, 2) for t in floors],
        "ours_s": [round(t, 2) for t in ourss],
        "median_ratio": round(ratio, 3),
        "paired_ratios": [round(o / f, 3) for o, f in zip(ourss, floors)],
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
