"""``NerfDataset``: a map-style torch ``Dataset`` over a dataset on disk, in any of the four formats.

    from nerf_dataset.stream import NerfDataset
    train = NerfDataset("out/nerfstudio", split="train", background="white")
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=4)))
    rays = train.rays(0)  # origins, directions, colors of every pixel of view 0

The files are found and read by ``stream.dataset_files`` (numpy only); this module turns them into tensors,
composites the background and casts rays. Poses are camera-to-world in the world of the dataset's files (the
scene's, in scene units); ``convention`` picks the camera axes: "opengl" (NeRF-synthetic's
``transform_matrix``: the camera looks down -Z, +Y up) or "opencv" (+Z forward, +Y down; ``core.conventions``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.conventions import OPENGL_FROM_OPENCV
from .dataset_files import DatasetFiles
from .items import BACKGROUNDS, CONVENTIONS, check_choice, composite


class NerfDataset(torch.utils.data.Dataset):
    """The views of one split of the dataset at ``path`` (a format folder such as ``OUT/nerfstudio``, a file in
    it, or an output folder with one format). Each item is a dict of tensors that the default ``DataLoader``
    collates: ``image`` (H, W, C) ``dtype`` in [0, 1]; ``c2w`` (4, 4) and ``K`` (3, 3) ``pose_dtype``; ``width``,
    ``height``, ``index`` (position within its split) ints; ``split``, ``name`` (the image's path in the
    dataset) strings; and, where the dataset has them, ``depth`` (H, W) z-depth in scene units (0: no surface),
    ``normal`` (H, W, 3) world-space in [-1, 1] (0: no surface), ``mask`` (H, W) bool.

    ``background``: "keep" (RGBA as stored), or "white"/"black" to composite RGB = rgb * a + bg * (1 - a).
    ``downscale``: a factor the dataset has ``images_<k>/`` copies for; the intrinsics are scaled to it.
    Raises ``core.errors.UserError`` for a dataset, split or downscale that is not there or not readable."""

    def __init__(
        self,
        path,
        split: str = "train",
        background: str = "keep",
        convention: str = "opengl",
        downscale: int = 1,
        dtype: torch.dtype = torch.float32,
        pose_dtype: torch.dtype = torch.float64,
    ):
        check_choice("background", background, BACKGROUNDS)
        check_choice("convention", convention, CONVENTIONS)
        for what, value in (("dtype", dtype), ("pose_dtype", pose_dtype)):
            if not (isinstance(value, torch.dtype) and value.is_floating_point):
                raise ValueError(f"{what} must be a floating-point torch dtype, not {value!r}")
        self.files = DatasetFiles(path, split, downscale)
        self.background, self.convention = background, convention
        self.dtype, self.pose_dtype = dtype, pose_dtype

    @property
    def folder(self):
        return self.files.folder

    @property
    def layout(self) -> str:
        return self.files.layout

    @property
    def split(self) -> str:
        return self.files.split

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        scaled = f", downscale={self.files.downscale}" if self.files.downscale > 1 else ""
        return (
            f"NerfDataset(path='{self.folder}', layout='{self.layout}', split='{self.split}', count={len(self)}"
            f"{scaled})"
        )

    def __getitem__(self, i: int) -> dict:
        return self._item(self.files.frame(i))

    def rays(self, i: int | None = None) -> dict:
        """One ray per pixel of view ``i`` (row-major, through pixel centres (u + 0.5, v + 0.5)), or of every
        view of the split concatenated: ``origins`` and ``directions`` (N, 3) ``pose_dtype`` in world space,
        ``colors`` (N, C) ``dtype``; and ``depth`` (N,), ``normal`` (N, 3), ``mask`` (N,) where every view has
        them. A direction is not normalised: its camera-space component along the viewing axis is 1, so
        ``origin + depth * direction`` is the surface point of the z-depth pass."""
        if i is not None:
            return self._rays(i)
        parts = [self._rays(k) for k in range(len(self))]
        keys = [k for k in parts[0] if all(k in p for p in parts)]
        return {k: torch.cat([p[k] for p in parts]) for k in keys}

    def _item(self, frame: dict) -> dict:
        """A frame of ``DatasetFiles`` as tensors, its background composited and its pose in ``convention``."""
        image = composite(frame["image"], self.background)
        c2w = frame["c2w"] @ OPENGL_FROM_OPENCV if self.convention == "opencv" else frame["c2w"]
        item = {
            "image": torch.from_numpy(np.ascontiguousarray(image)).to(self.dtype),
            "c2w": torch.from_numpy(c2w).to(self.pose_dtype),
            "K": torch.from_numpy(frame["K"]).to(self.pose_dtype),
            "width": int(frame["width"]),
            "height": int(frame["height"]),
            "split": frame["split"],
            "index": int(frame["index"]),
            "name": frame["name"],
        }
        for name in ("depth", "normal"):
            if name in frame:
                item[name] = torch.from_numpy(frame[name]).to(self.dtype)
        if "mask" in frame:
            item["mask"] = torch.from_numpy(frame["mask"])
        return item

    def _rays(self, i: int) -> dict:
        frame = self.files.frame(i)
        item = self._item(frame)
        w, h, K = frame["width"], frame["height"], frame["K"]
        v, u = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
        # OpenCV camera axes (+Z forward, +Y down): the pixel's ray with z = 1, then into the world
        cam = np.stack([(u + 0.5 - K[0, 2]) / K[0, 0], (v + 0.5 - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
        c2w_cv = frame["c2w"] @ OPENGL_FROM_OPENCV
        directions = cam.reshape(-1, 3) @ c2w_cv[:3, :3].T
        origins = np.broadcast_to(c2w_cv[:3, 3], directions.shape)
        out = {
            "origins": torch.from_numpy(np.ascontiguousarray(origins)).to(self.pose_dtype),
            "directions": torch.from_numpy(directions).to(self.pose_dtype),
            "colors": item["image"].reshape(h * w, -1),
        }
        for name in ("depth", "normal", "mask"):
            if name in item:
                out[name] = item[name].reshape(h * w, *item[name].shape[2:])
        return out
