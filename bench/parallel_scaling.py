"""Issue 5: Blender's own animation render (the floor) vs a naive one-still-per-view loop vs cli.py with
1, 2 and 4 workers, on the same 100 views, at 200x200 and 64x64 (Cycles, 16 samples). Whole fresh
processes, alternated within each round so drift hits every method alike. The worker runs skip the
surface points (``--points 0``: the floor makes none); ``ours_1w_with_points`` adds the default 10000.
Also fits the cost model T(workers) = fixed cost per worker + views x per-view cost, from cli.py runs of
1 and 100 views.

    .venv/bin/python bench/parallel_scaling.py [--reps 2] [--sizes 200x200,64x64]
"""

from __future__ import annotations

import json
import shutil
import statistics

from common import FLOOR, NAIVE_LOOP, PY, ROOT, alternate, machine, make_scenes, options, ours_command

WORK = ROOT / "out" / "bench" / "parallel"


def measure(size: str, samples: int, reps: int) -> dict:
    work = WORK / size
    shutil.rmtree(work, ignore_errors=True)
    (work / "naive").mkdir(parents=True)

    def ours(n, counts=(), out="ours", points="0"):
        # later options win in argparse: ``counts`` overrides the 100 views
        return ours_command(
            work, samples, *counts, "--out", str(work / out), "--overwrite", "--workers", str(n), "--points", points
        )

    make_scenes(work, size, ours(1))
    plan_json = str(work / "ours" / ".nerf_dataset" / "plan.json")
    methods = {
        "floor": [PY, "-c", FLOOR, str(work / "floor.blend")],
        # The floor's .blend: the same render settings (samples, film, resolution) as every other method.
        "naive_loop": [PY, "-c", NAIVE_LOOP, str(work / "floor.blend"), plan_json, str(work / "naive")],
        **{f"ours_{n}w": ours(n) for n in (1, 2, 4)},
        "ours_1w_with_points": ours(1, out="ours_points", points="10000"),
        "ours_1view": ours(1, ["--train", "1", "--val", "0", "--test", "0"], "ours_1view"),
    }
    times = alternate(methods, reps)
    med = {k: statistics.median(v) for k, v in times.items()}
    per_view = (med["ours_1w"] - med["ours_1view"]) / 99
    return {
        "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "ratio_to_floor": {k: round(med[k] / med["floor"], 3) for k in methods if k != "ours_1view"},
        "speedup_2w_over_1w": round(med["ours_1w"] / med["ours_2w"], 3),
        "model": {"fixed_s_per_worker": round(med["ours_1view"] - per_view, 2), "per_view_s": round(per_view, 4)},
    }


def main() -> None:
    a = options(reps=2, sizes="200x200,64x64")
    result = {"machine": machine()}
    for size in a.sizes.split(","):
        result[size] = measure(size, a.samples, a.reps)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
