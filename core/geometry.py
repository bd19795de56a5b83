"""Whether a target's geometry can give a dataset at all, decided once, before anything is planned or written."""

from __future__ import annotations

import numpy as np

from .errors import UserError

# Faces whose total area is below this fraction of the squared extent are lines or points: nothing renders.
ZERO_AREA = 1e-12


def check_surface(vertices, triangles, what: str) -> None:
    """Raise ``UserError`` with the reason when ``what`` (world-space vertices, triangles of vertex indices)
    has no surface a camera can see: no vertices, coordinates that are not numbers, no faces (a point cloud,
    bare edges, faces an importer dropped for bad indices) or faces of zero area only.

    Each of these fails later otherwise, and obscurely: NaN bounds and poses, a crash sampling surface
    points, or a dataset of empty images."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    t = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    if len(v) == 0:
        raise UserError(f"{what} has no vertices")
    bad = int(np.count_nonzero(~np.isfinite(v).all(axis=1)))
    if bad:
        raise UserError(f"{what} has {bad} of {len(v)} vertices whose coordinates are not numbers (NaN or infinite)")
    if len(t) == 0:
        raise UserError(
            f"{what} has no faces, only {len(v)} vertices (a point cloud, bare edges, or faces the importer "
            "dropped as invalid): nothing to render"
        )
    if t.min() < 0 or t.max() >= len(v):
        raise UserError(f"{what} has faces whose vertex indices lie outside its {len(v)} vertices")
    area = 0.5 * np.linalg.norm(np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]), axis=1).sum()
    extent = float(np.max(v.max(axis=0) - v.min(axis=0)))
    if area <= ZERO_AREA * extent**2:
        raise UserError(f"{what} has {len(t)} faces, all of zero area (their corners coincide or lie on a line)")
