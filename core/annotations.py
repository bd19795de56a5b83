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


def mesh_box(
    verts_world: np.ndarray, tris: np.ndarray, c2w: np.ndarray, K: np.ndarray, near: float, width: int, height: int
) -> tuple[list[float], bool]:
    """The 2D box of a triangle mesh as the camera sees it: triangles are clipped at the near plane (the
    camera's clip start, as the renderer does), so geometry reaching past the camera stretches the box to the
    image's edge instead of vanishing from it."""
    from .conventions import c2w_opengl_to_w2c_opencv

    v = np.asarray(verts_world, dtype=np.float64).reshape(-1, 3)
    if not len(v):
        return [0.0, 0.0, 0.0, 0.0], False
    w2c = c2w_opengl_to_w2c_opencv(c2w)
    cam = v @ w2c[:3, :3].T + w2c[:3, 3]
    near = max(float(near), NEAR)
    points = [cam[cam[:, 2] > near]]
    t = np.asarray(tris, dtype=np.int64).reshape(-1, 3)
    if len(t):
        a = np.concatenate([t[:, 0], t[:, 1], t[:, 2]])
        b = np.concatenate([t[:, 1], t[:, 2], t[:, 0]])
        za, zb = cam[a, 2], cam[b, 2]
        crossing = (za > near) != (zb > near)
        if crossing.any():
            pa, pb = cam[a[crossing]], cam[b[crossing]]
            f = (near - pa[:, 2]) / (pb[:, 2] - pa[:, 2])
            points.append(pa + f[:, None] * (pb - pa))
    p = np.concatenate(points)
    if not len(p):
        return [0.0, 0.0, 0.0, 0.0], False
    uv = (p @ np.asarray(K, dtype=np.float64).T)[:, :2] / p[:, 2:3]
    return bounding_box(uv, width, height)


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


# Blender's ``Object.bound_box`` order: (x, y, z) low (0) or high (1) per corner.
BOUND_BOX_ORDER = ((0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0))


def box_corners(local_min, local_max, matrix_world: np.ndarray) -> np.ndarray:
    """The 8 corners (world) of a box in an object's frame, in Blender's ``bound_box`` order."""
    lo_hi = np.stack([np.asarray(local_min, float), np.asarray(local_max, float)])
    corners = np.array([[lo_hi[bits[k], k] for k in range(3)] for bits in BOUND_BOX_ORDER])
    m = np.asarray(matrix_world, dtype=np.float64)
    return corners @ m[:3, :3].T + m[:3, 3]


BEHIND = -1e9
"""The pixel coordinates of a point behind the camera (JSON has no NaN)."""


def finite_list(a: np.ndarray) -> list[float]:
    """A flat JSON-able list; NaN (behind the camera) becomes ``BEHIND`` so the JSON stays strict."""
    return [float(x) if np.isfinite(x) else BEHIND for x in np.asarray(a, dtype=np.float64).ravel()]
