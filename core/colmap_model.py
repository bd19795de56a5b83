"""Read a COLMAP sparse model's cameras and images, text or binary, as COLMAP's own readers do, from files
anyone made: every count and length is checked against the file's size, text is read bounded.

Only what checking a dataset needs: camera model, size and parameters; each image's name, camera and
world-to-camera pose (quaternion ``QW QX QY QZ``, translation, OpenCV axes). Points are not read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .untrusted import Unreadable, open_regular, present, read_bounded, size_of

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


class ModelError(ValueError):
    """A model file COLMAP's own reader would fail on; the message names the file and what is wrong."""


# More cameras or images than any reconstruction has: a count beyond it is a lie, not a dataset.
MAX_RECORDS = 10**6


def read_model(sparse: Path, folder: Path | None = None) -> tuple[dict[int, ColmapCamera], dict[int, ColmapImage]]:
    """Binary first, then text, as 3D Gaussian Splatting's reader tries them; files outside ``folder`` (when
    given) are not read. Raises ``ModelError``."""
    sparse = Path(sparse)
    if present(sparse / "cameras.bin") and present(sparse / "images.bin"):
        return _parse(sparse / "cameras.bin", folder, _cameras_bin), _parse(sparse / "images.bin", folder, _images_bin)
    return _parse(sparse / "cameras.txt", folder, _cameras_txt), _parse(sparse / "images.txt", folder, _images_txt)


def _parse(path: Path, folder: Path | None, parse):
    """``parse`` of the file: the open binary file for ``*.bin``, the text (bounded) for ``*.txt``."""
    try:
        if path.suffix == ".bin":
            with open_regular(path, folder) as f:
                return parse(_Reader(f))
        return parse(read_bounded(path, folder).decode())
    except Unreadable as exc:
        raise ModelError(f"{path.name} {exc}") from None
    except (ValueError, IndexError, OSError, OverflowError) as exc:  # ValueError includes bad UTF-8
        raise ModelError(f"{path.name}: {exc}") from None


def _check_params(cam_id: int, model: str, params: tuple) -> None:
    wanted = next((n for name, n in MODELS.values() if name == model), None)
    if wanted is not None and len(params) != wanted:
        raise ValueError(f"camera {cam_id} is {model} with {len(params)} parameters, not {wanted}")


def _cameras_txt(text: str) -> dict[int, ColmapCamera]:
    cams = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            f = line.split()
            if len(f) < 4:
                raise ValueError(f"line {number} has {len(f)} fields, not CAMERA_ID MODEL WIDTH HEIGHT PARAMS")
            params = tuple(float(x) for x in f[4:])
            _check_params(int(f[0]), f[1], params)
            cams[int(f[0])] = ColmapCamera(f[1], int(f[2]), int(f[3]), params)
    return cams


def _images_txt(text: str) -> dict[int, ColmapImage]:
    # COLMAP's own reader splits on "\n" only; str.splitlines would also split inside a name or comment
    lines = [(n, ln.rstrip("\r")) for n, ln in enumerate(text.split("\n"), start=1) if not ln.startswith("#")]
    while lines and not lines[-1][1].strip():
        lines.pop()
    images = {}
    for (number, header), (_, points) in zip(lines[0::2], lines[1::2] + [(0, "")]):
        f = header.split()  # each image is a pose line followed by its 2D points line (empty when it has none)
        if len(f) < 10:
            raise ValueError(f"line {number} has {len(f)} fields, not IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME")
        if len(points.split()) % 3:
            raise ValueError(f"line {number + 1} is no list of 2D points (X Y POINT3D_ID): is a line missing?")
        q, t = tuple(map(float, f[1:5])), tuple(map(float, f[5:8]))
        images[int(f[0])] = ColmapImage(" ".join(f[9:]), int(f[8]), q, t)
    return images


class _Reader:
    """Walks a binary model within its file: a count or a length that runs past the end is an error, never
    a loop of a billion records or a read of gigabytes."""

    def __init__(self, f) -> None:
        self.f, self.size = f, size_of(f)

    def read(self, fmt: str):
        n = struct.calcsize("<" + fmt)
        data = self.f.read(n)
        if len(data) < n:
            raise ValueError(f"ends at byte {self.size}, inside a record")
        return struct.unpack("<" + fmt, data)

    def count(self, what: str, least_bytes: int) -> int:
        """A record count, checked against the bytes left: each record takes at least ``least_bytes``."""
        n = self.read("Q")[0]
        room = (self.size - self.f.tell()) // least_bytes
        if n > min(room, MAX_RECORDS):
            raise ValueError(f"says it holds {n} {what}, but its {self.size} bytes have room for {min(room, n)}")
        return n

    def skip(self, n: int) -> None:
        if self.f.tell() + n > self.size:
            raise ValueError(f"ends at byte {self.size}, inside a record")
        self.f.seek(n, 1)

    def string(self, longest: int = 4096) -> str:
        start = self.f.tell()
        chunk = self.f.read(longest)
        end = chunk.find(b"\0")
        if end < 0:
            raise ValueError(f"has a name at byte {start} without its end")
        self.f.seek(start + end + 1)
        return chunk[:end].decode("utf-8", "surrogateescape")  # the name's bytes as the file system has them


def _cameras_bin(r: _Reader) -> dict[int, ColmapCamera]:
    cams = {}
    for _ in range(r.count("cameras", struct.calcsize("<iiQQ"))):
        cam_id, model_id, w, h = r.read("iiQQ")
        if model_id not in MODELS:
            raise ValueError(f"camera {cam_id} has model id {model_id}, which COLMAP does not know")
        name, n = MODELS[model_id]
        cams[cam_id] = ColmapCamera(name, w, h, r.read("d" * n))
    return cams


def _images_bin(r: _Reader) -> dict[int, ColmapImage]:
    images = {}
    for _ in range(r.count("images", struct.calcsize("<i4d3diBQ"))):  # the least: an empty name, no points
        image_id = r.read("i")[0]
        q, t, cam_id = r.read("dddd"), r.read("ddd"), r.read("i")[0]
        name = r.string()
        r.skip(r.read("Q")[0] * struct.calcsize("<ddq"))  # its 2D points
        images[image_id] = ColmapImage(name, cam_id, q, t)
    return images
