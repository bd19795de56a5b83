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

from common import CLI, FLOOR, PY, ROOT, make_scenes, timed

WORK = ROOT / "out" / "bench" / "overhead"
VIEWS = {"train": 60, "val": 20, "test": 20}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--resolution", default="200x200")
    ap.add_argument("--samples", type=int, default=16)
    a = ap.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    counts = [x for k, n in VIEWS.items() for x in (f"--{k}", str(n))]
    ours = [PY, CLI, "--blend", str(WORK / "scene.blend"), "--out", str(WORK / "ours"), "--overwrite", "--workers", "1"]
    ours += [*counts, "--samples", str(a.samples), "--transparent", "--seed", "1"]
    make_scenes(WORK, a.resolution, ours)
    floor_cmd = [PY, "-c", FLOOR, str(WORK / "floor.blend")]
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
