"""blendtorch's "cube" example on this API: Blender instances randomise a cube and stream image + annotations.

    python examples/blendtorch_cube.py --instances 2 --batches 8 [--record rec/]

blendtorch: a Blender-side script publishes each frame (image, the cube's projected corners ``xy``) over ZeroMQ
with pickle; the trainer's ``BTDataset`` receives them. Here the Blender side is ``cube_randomize.py`` (only the
randomisation: rendering, projection and transport are built in), the corners are ``box_corners``, and the
transport is authenticated and never pickles.
"""

import argparse
import time
from pathlib import Path

import _clone  # noqa: F401  (a clone without `pip install .`)
from torch.utils.data import DataLoader

from nerf_dataset.stream import RemoteIterableDataset, launch

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=2)
    p.add_argument("--batches", type=int, default=16)
    p.add_argument("--record", help="also record the stream into this (new) folder")
    args = p.parse_args()

    with launch(
        HERE / "cube.obj", num_instances=args.instances, views="random", randomize=HERE / "cube_randomize.py",
        settings={"resolution": "64x64", "samples": 4, "engine": "CYCLES"}, seed=42,
    ) as blender:  # fmt: skip
        frames = RemoteIterableDataset(blender, max_items=4 * args.batches, record=args.record)
        start, count = time.perf_counter(), 0
        for i, batch in enumerate(DataLoader(frames, batch_size=4, num_workers=2)):
            count += 1
            if i == 2:
                blender.send({"spread": 0.6})  # the duplex channel: widen the randomisation mid-training
            corners = batch["box_corners"]  # (4, 8, 2): blendtorch's "xy"
            print(f"batch {i:2d}: images {tuple(batch['image'].shape)}, corners {tuple(corners.shape)}, "
                  f"instances {batch['instance'].tolist()}, spread {batch['params']['spread'].tolist()}")  # fmt: skip
        elapsed = time.perf_counter() - start
    # Each DataLoader worker ends with its own last, partial batch: 4 * batches frames in ``count`` batches.
    print(f"{4 * args.batches} frames in {count} batches, {elapsed:.1f} s: {1000 * elapsed / count:.0f} ms per batch")


if __name__ == "__main__":
    main()
