"""Per-frame annotations of a streamed frame, from geometry already in world space: pure numpy.

Pixel coordinates have their origin at the image's top-left corner, pixel ``i`` spanning ``[i, i + 1)``
(``core.conventions``), so a box ``[x0, y0, x1, y1]`` compares with an alpha mask's columns ``x0 … x1 - 1``.
"""

from __future__ import annotations

import numpy as np

from .silhouette import project

# Points closer to the camera plane than this (scene units) are treated as behind it.
NEAR = 1e-6


def project_points(points_world: np.ndarray, c2w: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) pixel coordinates and (n,) depth along the viewing axis; points behind the camera get NaN."""
    points = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    if not len(points):
        return np.zeros((0, 2)), np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv, z = project(points, c2w, K)
    uv[z <= NEAR] = np.nan
    return uv, z


def bounding_box(uv: np.ndarray, width: int, height: int) -> tuple[list[float], bool]:
    """The box of the projected points, clipped to the image, and whether any of it is in the image."""
    ok = np.isfinite(uv).all(axis=1)
    if not ok.any():
        return [0.0, 0.0, 0.0, 0.0], False
    lo, hi = uv[ok].min(axis=0), uv[ok].max(axis=0)
    x0, x1 = np.clip([lo[0], hi[0]], 0.0, width)
    y0, y1 = np.clip([lo[1], hi[1]], 0.0, height)
    return [float(x0), float(y0), float(x1), float(y1)], bool(x1 > x0 and y1 > y0)


def in_image(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    ok = np.isfinite(uv).all(axis=1)
    u, v = np.where(ok, uv[:, 0], -1.0), np.where(ok, uv[:, 1], -1.0)
    return ok & (u >= 0) & (u < width) & (v >= 0) & (v < height)


def box_corners(local_min, local_max, matrix_world: np.ndarray) -> np.ndarray:
    """The 8 corners (world) of a local box, in Blender's ``bound_box`` order (x, then y, then z bit)."""
    lo, hi = np.asarray(local_min, float), np.asarray(local_max, float)
    corners = np.array([[(hi if i & 4 else lo)[0], (hi if i & 2 else lo)[1], (hi if i & 1 else lo)[2]]
                        for i in range(8)])  # fmt: skip
    m = np.asarray(matrix_world, dtype=np.float64)
    return corners @ m[:3, :3].T + m[:3, 3]


def finite_list(a: np.ndarray) -> list[float]:
    """A flat JSON-able list; NaN (behind the camera) becomes -1e9 so the JSON stays strict."""
    return [float(x) if np.isfinite(x) else -1e9 for x in np.asarray(a, dtype=np.float64).ravel()]
