"""Exporter overhead: ``cli.py`` making 100 views vs Blender's own animation render of the same 100 frames.

Both sides are whole fresh processes on the same .blend (import bpy, open the file, render 200x200,
Cycles 16 samples, write PNGs); ours also reads the scene, plans, keys the rig and writes transforms.
Runs alternate (floor, ours, floor, ours, ...) so drift on a noisy VM hits both. Prints the ratio.

    .venv/bin/python bench/render_overhead.py [--reps 3] [--resolution 200x200] [--samples 16]
"""

from __future__ import annotations

import json
import shutil
import statistics

from common import FLOOR, PY, ROOT, alternate, machine, make_scenes, options, ours_command

WORK = ROOT / "out" / "bench" / "overhead"
VIEWS = 100


def main() -> None:
    a = options(reps=3)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    ours = ours_command(WORK, a.samples, "--out", str(WORK / "ours"), "--overwrite", "--workers", "1")
    make_scenes(WORK, a.resolution, ours)
    times = alternate({"floor": [PY, "-c", FLOOR, str(WORK / "floor.blend")], "ours": ours}, a.reps)
    assert len(list((WORK / "floor").glob("*.png"))) == VIEWS
    floors, ourss = times["floor"], times["ours"]
    result = {
        "machine": machine(),
        "views": VIEWS,
        "resolution": a.resolution,
        "samples": a.samples,
        "floor_s": [round(t, 2) for t in floors],
        "ours_s": [round(t, 2) for t in ourss],
        "median_ratio": round(statistics.median(ourss) / statistics.median(floors), 3),
        "paired_ratios": [round(o / f, 3) for o, f in zip(ourss, floors)],
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
