"""Points on the object's real surface, for initialising 3D Gaussian Splatting and COLMAP readers.

Sampled area-uniformly on the target's triangles (seeded), each with its normal, the views that see it
(its track: view index and exact pixel position) and its rendered colour. Saved with the dataset as
``.nerf_dataset/points.npz``; the COLMAP writer turns them into ``points3D`` with tracks, the
NeRF-synthetic and nerfstudio writers into ``points3d.ply``.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import write_bytes_atomic
from .layout import POINTS_FILE

"""The points before their colours: sampled and tracked where the scene is open (``blender_io.points``)."""


@dataclass
class ScenePoints:
    xyz: np.ndarray
    """(n, 3) world positions."""
    normals: np.ndarray
    rgb: np.ndarray
    """(n, 3) uint8 rendered colour, averaged over the track."""
    track_point: np.ndarray
    """(m,) index of the point of each observation; observations are sorted by (view, point)."""
    track_view: np.ndarray
    """(m,) index into ``plan.views`` of each observation."""
    track_uv: np.ndarray
    """(m, 2) pixel position of each observation (corner-origin pixel coordinates)."""

    def save(self, out_dir: Path, name: str = POINTS_FILE) -> Path:
        buffer = io.BytesIO()
        np.savez(buffer, **self.__dict__)
        return write_bytes_atomic(Path(out_dir) / name, buffer.getvalue())


def load_points(out_dir: Path, views: int | None = None, name: str = POINTS_FILE) -> ScenePoints | None:
    """The saved points (``name``: ``TRACKS_FILE`` for those still without colours); None when there are none,
    or when the file is damaged (derived data: the next run with the scene open samples them again)."""
    path = Path(out_dir) / name
    if not path.is_file():
        return None
    try:
        if not _sizes_honest(path):
            return None
        with np.load(path, allow_pickle=False) as d:
            points = ScenePoints(**{k: d[k] for k in ScenePoints.__dataclass_fields__})
    except (OSError, ValueError, KeyError, EOFError, MemoryError, zipfile.BadZipFile):
        return None
    if not _consistent(points):
        return None
    fits = views is None or not len(points.track_view) or points.track_view.max() < views
    return points if fits else None


def _sizes_honest(path: Path) -> bool:
    """Every array's header claims no more bytes than its member holds: a hostile header (a 3 KB file
    claiming 10^10 points) would otherwise make numpy allocate what it claims before reading a byte."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
                if version not in read:
                    return False
                shape, _, dtype = read[version](f)
            if dtype.hasobject or int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
                return False
    return True


KINDS = {"xyz": "f", "normals": "f", "rgb": "u", "track_point": "iu", "track_view": "iu", "track_uv": "f"}
"""The dtype kinds each array is saved with (real floats, integers): strings, dates or complex are damage."""


def _consistent(p: ScenePoints) -> bool:
    if not all(getattr(p, name).dtype.kind in kinds for name, kinds in KINDS.items()):
        return False
    n, m = len(p.xyz), len(p.track_point)
    shapes = p.xyz.shape == (n, 3) and p.normals.shape == (n, 3) and p.rgb.shape == (n, 3)
    shapes = shapes and p.track_view.shape == (m,) and p.track_uv.shape == (m, 2)
    if not shapes or not all(np.isfinite(a).all() for a in (p.xyz, p.normals, p.track_uv)):
        return False
    return m == 0 or (0 <= p.track_point.min() and p.track_point.max() < n and p.track_view.min() >= 0)


def colour_points(tracks: ScenePoints, plan, out_dir: Path) -> ScenePoints:
    """Each tracked point's colour: the mean of the rendered pixels its observations fall on (8-bit RGB of
    the images, as a consumer reads them). Needs no Blender: it runs wherever the images are collected."""
    from PIL import Image

    total, seen = np.zeros((len(tracks.xyz), 3)), np.zeros(len(tracks.xyz))
    w, h = plan.intrinsics.w, plan.intrinsics.h
    for k in np.unique(tracks.track_view):
        with Image.open(Path(out_dir) / plan.views[int(k)].image) as image:
            px = np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255)
        obs = tracks.track_view == k
        uv = tracks.track_uv[obs]
        if px.shape[:2] != (h, w) or not ((uv >= 0).all() and (uv[:, 0] < w).all() and (uv[:, 1] < h).all()):
            raise ValueError("the tracks fall outside the images")
        np.add.at(total, tracks.track_point[obs], px[uv[:, 1].astype(int), uv[:, 0].astype(int)])
        np.add.at(seen, tracks.track_point[obs], 1)
    rgb = np.clip(np.round(total / np.maximum(seen, 1)[:, None] * 255), 0, 255).astype(np.uint8)
    return ScenePoints(tracks.xyz, tracks.normals, rgb, tracks.track_point, tracks.track_view, tracks.track_uv)


def sample_surface(vertices: np.ndarray, triangles: np.ndarray, n: int, seed: int):
    """``n`` points uniform by area on the triangles: (positions, unit normals)."""
    tri = vertices[triangles]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(cross, axis=1)
    keep = area > 0
    tri, cross, area = tri[keep], cross[keep], area[keep]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(tri), size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[pick]
    xyz = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    return xyz, cross[pick] / area[pick, None]


def write_ply(path: Path, points: ScenePoints) -> Path:
    """Binary PLY with x y z nx ny nz red green blue, the vertex layout 3D Gaussian Splatting reads."""
    n = len(points.xyz)
    dtype = [(k, "<f4") for k in ("x", "y", "z", "nx", "ny", "nz")] + [(k, "u1") for k in ("red", "green", "blue")]
    rows = np.empty(n, dtype=dtype)
    for i, k in enumerate("xyz"):
        rows[k] = points.xyz[:, i]
        rows[f"n{k}"] = points.normals[:, i]
    for i, k in enumerate(("red", "green", "blue")):
        rows[k] = points.rgb[:, i]
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property float {k}" for k in ("x", "y", "z", "nx", "ny", "nz")]
    header += [f"property uchar {k}" for k in ("red", "green", "blue")] + ["end_header", ""]
    return write_bytes_atomic(path, "\n".join(header).encode() + rows.tobytes())
