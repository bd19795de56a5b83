"""What the depth, normal and mask passes cost: ours vs Blender's own animation render of the same passes.

**floor + passes** = the floor scene (the keyed views as a plain animation) with the very compositor set-up
``cli.py`` uses (``blender_io.passes``), so Blender itself writes the pass EXRs; **ours + passes** =
``cli.py --passes depth,normal,mask`` (which also turns the EXRs into the 16-bit depth, normal and mask
PNGs). Both without passes too. Whole fresh processes, rounds alternate; prints medians and ratios.

    .venv/bin/python bench/passes_cost.py [--reps 2] [--resolution 200x200] [--samples 16]
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess

from common import CONFTEST, FLOOR, PY, ROOT, alternate, make_scenes, options, ours_command

WORK = ROOT / "out" / "bench" / "passes"
ADD_PASSES = """
import sys, runpy
runpy.run_path(sys.argv[1])
import bpy
from nerf_dataset.blender_io.demo import DEMO_OBJECT
from nerf_dataset.blender_io.passes import PassOutputs
from nerf_dataset.blender_io.state import SceneState
bpy.ops.wm.open_mainfile(filepath=sys.argv[2] + "/floor.blend")
scene = bpy.context.scene
target = [bpy.data.objects[DEMO_OBJECT]]
PassOutputs(scene, ("depth", "normal", "mask"), sys.argv[2] + "/floor_passes", target).begin(SceneState())
scene.render.filepath = sys.argv[2] + "/floor_passes/f_####"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2] + "/floor_passes.blend")
"""


def main() -> None:
    a = options(reps=2)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    ours = ours_command(WORK, a.samples, "--out", str(WORK / "ours"), "--overwrite", "--points", "0")
    make_scenes(WORK, a.resolution, ours)
    subprocess.run([PY, "-c", ADD_PASSES, CONFTEST, str(WORK)], check=True, capture_output=True)
    runs = {
        "floor": [PY, "-c", FLOOR, str(WORK / "floor.blend")],
        "floor + passes": [PY, "-c", FLOOR, str(WORK / "floor_passes.blend")],
        "ours": ours,
        "ours + passes": [*ours, "--passes", "depth,normal,mask"],
    }
    times = alternate(runs, a.reps)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "resolution": a.resolution,
        "samples": a.samples,
        "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "passes cost for Blender (floor + passes / floor)": round(med["floor + passes"] / med["floor"], 3),
        "ours + passes / floor + passes": round(med["ours + passes"] / med["floor + passes"], 3),
        "ours / floor": round(med["ours"] / med["floor"], 3),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
