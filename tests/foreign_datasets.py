"""Datasets as other tools write them, made by the tests without this project's writers."""

import struct
from pathlib import Path

import numpy as np

from nerf_dataset.core.conventions import c2w_opengl_to_w2c_opencv, rotation_to_quaternion_wxyz


def write_colmap_bin(folder: Path, cameras: dict, images: list) -> None:
    """cameras: {id: (model_id, w, h, params)}; images: [(name, camera_id, c2w_opengl)]: COLMAP's binary layout,
    written here with struct (not with this project's writer)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "cameras.bin", "wb") as f:
        f.write(struct.pack("<Q", len(cameras)))
        for cid, (model, w, h, params) in cameras.items():
            f.write(struct.pack("<iiQQ", cid, model, w, h) + struct.pack(f"<{len(params)}d", *params))
    with open(folder / "images.bin", "wb") as f:
        f.write(struct.pack("<Q", len(images)))
        for image_id, (name, cid, c2w) in enumerate(images, start=1):
            w2c = c2w_opengl_to_w2c_opencv(c2w)
            q = rotation_to_quaternion_wxyz(w2c[:3, :3])
            f.write(struct.pack("<i4d3di", image_id, *q, *w2c[:3, 3], cid) + name.encode() + b"\0")
            f.write(struct.pack("<Q", 0))
    (folder / "points3D.bin").write_bytes(struct.pack("<Q", 0))


def similarity_c2w(m: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """A camera moved by a 4x4 similarity ``m``: its position by ``m``, its axes by ``m``'s rotation."""
    out = m @ c2w
    out[:3, :3] /= np.cbrt(np.linalg.det(m[:3, :3]))
    return out
