"""Read a COLMAP sparse model's cameras and images, text or binary, as COLMAP's own readers do.

Only what checking a dataset needs: camera model, size and parameters; each image's name, camera and
world-to-camera pose (quaternion ``QW QX QY QZ``, translation, OpenCV axes). Points are not read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# COLMAP's camera models: id -> (name, number of parameters).
MODELS = {
    0: ("SIMPLE_PINHOLE", 3),
    1: ("PINHOLE", 4),
    2: ("SIMPLE_RADIAL", 4),
    3: ("RADIAL", 5),
    4: ("OPENCV", 8),
    5: ("OPENCV_FISHEYE", 8),
    6: ("FULL_OPENCV", 12),
    7: ("FOV", 5),
    8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5),
    10: ("THIN_PRISM_FISHEYE", 12),
}


@dataclass(frozen=True)
class ColmapCamera:
    model: str
    width: int
    height: int
    params: tuple[float, ...]

    def K(self) -> np.ndarray | None:
        """The pinhole matrix of (SIMPLE_)PINHOLE cameras; None for models with distortion."""
        p = self.params
        if self.model == "SIMPLE_PINHOLE":
            return np.array([[p[0], 0, p[1]], [0, p[0], p[2]], [0, 0, 1.0]])
        if self.model == "PINHOLE":
            return np.array([[p[0], 0, p[2]], [0, p[1], p[3]], [0, 0, 1.0]])
        return None


@dataclass(frozen=True)
class ColmapImage:
    name: str
    camera_id: int
    qvec: tuple[float, float, float, float]
    tvec: tuple[float, float, float]

    def w2c(self) -> np.ndarray:
        w, x, y, z = np.array(self.qvec) / np.linalg.norm(self.qvec)
        rot = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
            ]
        )
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = rot, self.tvec
        return m


def read_model(sparse: Path) -> tuple[dict[int, ColmapCamera], dict[int, ColmapImage]]:
    """Binary first, then text, as 3D Gaussian Splatting's reader tries them."""
    sparse = Path(sparse)
    if (sparse / "cameras.bin").is_file() and (sparse / "images.bin").is_file():
        return _cameras_bin(sparse / "cameras.bin"), _images_bin(sparse / "images.bin")
    return _cameras_txt(sparse / "cameras.txt"), _images_txt(sparse / "images.txt")


def _cameras_txt(path: Path) -> dict[int, ColmapCamera]:
    cams = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            f = line.split()
            cams[int(f[0])] = ColmapCamera(f[1], int(f[2]), int(f[3]), tuple(float(x) for x in f[4:]))
    return cams


def _images_txt(path: Path) -> dict[int, ColmapImage]:
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    images = {}
    for header in lines[0::2]:  # each image is a pose line followed by its 2D points line
        f = header.split()
        if len(f) >= 10:
            q, t = tuple(map(float, f[1:5])), tuple(map(float, f[5:8]))
            images[int(f[0])] = ColmapImage(" ".join(f[9:]), int(f[8]), q, t)
    return images


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def string(self) -> str:
        end = self.data.index(b"\0", self.pos)
        text = self.data[self.pos : end].decode()
        self.pos = end + 1
        return text


def _cameras_bin(path: Path) -> dict[int, ColmapCamera]:
    r = _Reader(path.read_bytes())
    cams = {}
    for _ in range(r.read("Q")[0]):
        cam_id, model_id, w, h = r.read("iiQQ")
        name, n = MODELS.get(model_id, (f"model {model_id}", 0))
        cams[cam_id] = ColmapCamera(name, w, h, r.read("d" * n))
    return cams


def _images_bin(path: Path) -> dict[int, ColmapImage]:
    r = _Reader(path.read_bytes())
    images = {}
    for _ in range(r.read("Q")[0]):
        image_id = r.read("i")[0]
        q, t, cam_id = r.read("dddd"), r.read("ddd"), r.read("i")[0]
        name = r.string()
        points2d = r.read("Q")[0]
        r.pos += points2d * struct.calcsize("<ddq")
        images[image_id] = ColmapImage(name, cam_id, q, t)
    return images
