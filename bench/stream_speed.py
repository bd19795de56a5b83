"""Issue 14: frames per second streamed into a DataLoader with 1 and 2 Blender instances, beside cli.py to disk.

1. The same 64 views (the sphere rig around the demo object, 64x64, Cycles): ``cli.py`` rendering them to
   disk (one process, NeRF-synthetic, RGBA), and ``launch(views="rig")`` streaming them through
   ``DataLoader(batch_size=4, num_workers=2)`` with 1 and 2 instances. Wall time from the command / the
   ``launch`` to the last frame, and the steady rate after the first frame (start-up excluded).
2. blendtorch's demo on this API (``examples/cube_randomize.py``: a cube whose pose is randomised every frame),
   endless random views: milliseconds per batch of 4, as blendtorch reports it.

    .venv/bin/python bench/stream_speed.py [--frames 64] [--samples 4]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

from common import CLI, PY, ROOT, machine

sys.path.insert(0, str(ROOT / "examples"))
import _clone  # noqa: E402,F401
from torch.utils.data import DataLoader  # noqa: E402

from nerf_dataset.stream import RemoteIterableDataset, launch  # noqa: E402

WORK = ROOT / "out" / "bench" / "stream"


def to_disk(frames: int, samples: int) -> float:
    out = WORK / "disk"
    shutil.rmtree(out, ignore_errors=True)
    args = ["--demo", "--out", out, "--format", "nerf", "--transparent", "--resolution", "64x64"]
    args += ["--samples", samples, "--rig", "sphere", "--train", frames, "--val", 0, "--test", 0, "--points", 0]
    start = time.perf_counter()
    subprocess.run([PY, CLI, *map(str, args)], check=True, capture_output=True)
    return time.perf_counter() - start


def streamed(instances: int, frames: int, samples: int, cube: bool = False) -> tuple[float, float, float]:
    """(wall from launch to the last frame, steady seconds after the first batch, frames after the first batch)."""
    settings = {"resolution": "64x64", "samples": samples, "rig": "sphere", "train": frames, "val": 0, "test": 0}
    options = {"views": "rig"}
    scene = None
    if cube:
        scene, settings = ROOT / "examples" / "cube.obj", {**settings, "engine": "CYCLES"}
        options = {"views": "random", "randomize": ROOT / "examples" / "cube_randomize.py", "seed": 42}
    start = time.perf_counter()
    with launch(scene, num_instances=instances, settings=settings, **options) as blender:
        data = DataLoader(RemoteIterableDataset(blender, max_items=frames), batch_size=4, num_workers=2)
        first, after, got = None, 0, 0
        for batch in data:
            got += len(batch["seq"])
            if first is None:
                first = time.perf_counter()
            else:
                after += len(batch["seq"])
        end = time.perf_counter()
    assert got == frames, got
    return end - start, end - first, after


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--samples", type=int, default=4)
    a = p.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    print(machine())
    disk = to_disk(a.frames, a.samples)
    print(f"cli.py to disk: {a.frames} views in {disk:.2f} s = {a.frames / disk:.1f} frames/s (start-up included)")
    for n in (1, 2):
        wall, steady, after = streamed(n, a.frames, a.samples)
        rate = after / steady
        print(
            f"stream, {n} instance(s), rig views: {a.frames} in {wall:.2f} s = {a.frames / wall:.1f} frames/s "
            f"(start-up included; x{disk / wall:.2f} of cli.py); steady {rate:.1f} frames/s, "
            f"{4000 / rate:.1f} ms per batch of 4"
        )
    for n in (1, 2):
        wall, steady, after = streamed(n, a.frames, a.samples, cube=True)
        print(f"blendtorch-style cube, {n} instance(s): {4000 * steady / after:.1f} ms per batch of 4, "
              f"{after / steady:.1f} frames/s steady, {wall:.2f} s in all")  # fmt: skip


if __name__ == "__main__":
    main()
