"""Issue 11: what a job costs per shard, and how a real Slurm array scales on this machine.

1. Fixed cost per shard: ``cli.py worker --job J --shard 0/1`` on a job whose views are all done (Python,
   bpy, job read and checked, packed scene opened, rig keyed, every view's files checked, records) beside
   the same worker rendering the 100-view 200x200 shard. Target: fixed < 1 s + 2 % of the render.
2. Wall time of 1, 2 and 4 Slurm tasks (a real single-node cluster, tests/slurm_cluster.py): from
   ``submit`` to every task done, then ``collect``.

    .venv/bin/python bench/job_costs.py [--reps 2] [--samples 16] [--resolution 200x200]
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import CLI, PY, ROOT, VIEW_COUNTS, machine, options, timed

sys.path.insert(0, str(ROOT / "tests"))
from slurm_cluster import SlurmCluster, ensure_installed  # noqa: E402

WORK = ROOT / "out" / "bench" / "jobs"


def submit(job: Path, shards: int, samples: int, resolution: str, env=None, emit=True) -> float:
    cmd = [PY, CLI, "submit", "--backend", "slurm", "--job", str(job), "--shards", str(shards), "--overwrite"]
    cmd += ["--demo", *VIEW_COUNTS, "--resolution", resolution, "--samples", str(samples), "--transparent"]
    cmd += ["--seed", "1", "--points", "0", *(["--emit"] if emit else [])]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def shard_costs(args) -> dict:
    job = WORK / "one"
    rows = {"render_s": [], "fixed_s": []}
    for _ in range(args.reps):
        shutil.rmtree(job, ignore_errors=True)
        submit(job, 1, args.samples, args.resolution)
        worker = [PY, CLI, "worker", "--job", str(job), "--shard", "0/1"]
        rows["render_s"].append(timed(worker))
        rows["fixed_s"].append(timed(worker))  # every view is done: only what a shard costs besides rendering
    render, fixed = statistics.median(rows["render_s"]), statistics.median(rows["fixed_s"])
    return {"fixed_s": fixed, "render_s": render - fixed, "budget_s": 1 + 0.02 * (render - fixed), "runs": rows}


def slurm_scaling(args) -> dict:
    reason = ensure_installed()
    if reason:
        return {"skipped": reason}
    root = Path(tempfile.mkdtemp(prefix="slurm-bench-", dir="/tmp"))
    cluster = SlurmCluster(root)
    cluster.start()
    try:
        result = {}
        for n in (1, 2, 4):
            walls = []
            for _ in range(args.reps):
                job = WORK / f"slurm{n}"
                shutil.rmtree(job, ignore_errors=True)
                start = time.perf_counter()
                submit(job, n, args.samples, args.resolution, env=cluster.env, emit=False)
                job_id = json.loads((job / ".nerf_dataset/backend/slurm.json").read_text())[-1]["id"]
                states = cluster.wait(job_id, timeout=900)
                assert set(states.values()) == {"COMPLETED"}, states
                subprocess.run([PY, CLI, "collect", "--job", str(job)], check=True, capture_output=True)
                walls.append(time.perf_counter() - start)
            result[n] = statistics.median(walls)
        return result
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    args = options(reps=2)
    WORK.mkdir(parents=True, exist_ok=True)
    costs = shard_costs(args)
    print(f"## Jobs ({args.resolution}, {args.samples} spp, 100 views; {machine()})")
    print(f"- fixed cost per shard: {costs['fixed_s']:.2f} s; render of the 100-view shard: {costs['render_s']:.2f} s")
    share = costs["fixed_s"] / costs["budget_s"]
    print(f"  budget 1 s + 2 % of the render = {costs['budget_s']:.2f} s; the fixed cost is {share:.2f} of it")
    scaling = slurm_scaling(args)
    if "skipped" in scaling:
        print(f"- Slurm: skipped ({scaling['skipped']})")
    else:
        for n, wall in scaling.items():
            print(f"- Slurm, {n} task(s): {wall:.1f} s from submit to collected ({wall / scaling[1]:.2f}x of 1 task)")


if __name__ == "__main__":
    main()
