"""Quick start: train a tiny model on frames that two Blender instances render while it trains.

    python examples/stream_quickstart.py --steps 20

The model learns to tell where the camera is from the image (a pose regressor): every streamed frame carries
its camera-to-world matrix, so the labels come for free. Nothing is written to disk.
"""

import argparse

import _clone  # noqa: F401  (a clone without `pip install .`)
import torch
from torch import nn
from torch.utils.data import DataLoader

from nerf_dataset.stream import RemoteIterableDataset, launch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--instances", type=int, default=2)
    args = p.parse_args()

    model = nn.Sequential(
        nn.Conv2d(3, 16, 5, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 5, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 3),
    )  # fmt: skip
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    settings = {"resolution": "64x64", "samples": 4}
    with launch(None, num_instances=args.instances, settings=settings, views="random", seed=0) as blender:
        frames = RemoteIterableDataset(blender, max_items=4 * args.steps, background="white")
        for step, batch in enumerate(DataLoader(frames, batch_size=4, num_workers=2)):
            images = batch["image"].permute(0, 3, 1, 2)  # (B, 3, 64, 64)
            where = batch["c2w"][:, :3, 3].float()  # the camera's position: the label
            loss = nn.functional.mse_loss(model(images), where)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            print(f"step {step:3d}  loss {loss.item():.4f}  frames from instances {batch['instance'].tolist()}")


if __name__ == "__main__":
    main()
