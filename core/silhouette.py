"""Project geometry with exported cameras and rasterize its silhouette, independently of Blender.

Used to prove a dataset's cameras: the projected silhouette of the real mesh must match each image's
alpha. Coverage is computed by supersampling pixel areas (pixel centres at ``i + 0.5``, see
``core.conventions``), so it compares with an anti-aliased alpha channel.
"""

from __future__ import annotations

import numpy as np

from .conventions import c2w_opengl_to_w2c_opencv


def project(points_world: np.ndarray, c2w_opengl: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (n, 2) and depth along the optical axis (n,) of world points."""
    w2c = c2w_opengl_to_w2c_opencv(c2w_opengl)
    cam = points_world @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    uv = (cam @ np.asarray(K, dtype=float).T)[:, :2] / z[:, None]
    return uv, z


def coverage(uv: np.ndarray, triangles: np.ndarray, w: int, h: int, supersample: int = 4) -> np.ndarray:
    """Fraction (h, w) of each pixel's area covered by the projected triangles."""
    s = supersample
    hits = np.zeros((h * s, w * s), dtype=bool)
    tri = uv[triangles]  # (m, 3, 2), in pixels
    sub = tri * s - 0.5  # sample (a, b) of the fine grid sits at ((a + 0.5) / s) pixels
    lo = np.floor(sub.min(axis=1)).astype(int)
    hi = np.ceil(sub.max(axis=1)).astype(int)
    for (x0, y0), (x1, y1), t in zip(lo, hi, sub):
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w * s - 1), min(y1, h * s - 1)
        if x0 > x1 or y0 > y1:
            continue
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
        e = [
            (t[(k + 1) % 3, 0] - t[k, 0]) * (ys - t[k, 1]) - (t[(k + 1) % 3, 1] - t[k, 1]) * (xs - t[k, 0])
            for k in range(3)
        ]
        inside = ((e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0)) | ((e[0] <= 0) & (e[1] <= 0) & (e[2] <= 0))
        hits[y0 : y1 + 1, x0 : x1 + 1] |= inside
    return hits.reshape(h, s, w, s).mean(axis=(1, 3))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def centroid(weights: np.ndarray) -> np.ndarray:
    """Weighted centroid (x, y) in pixel coordinates (pixel centres at i + 0.5)."""
    h, w = weights.shape
    total = weights.sum()
    if total == 0:
        return np.array([np.inf, np.inf])
    ys, xs = np.mgrid[0:h, 0:w]
    return np.array([(weights * (xs + 0.5)).sum() / total, (weights * (ys + 0.5)).sum() / total])


def compare(alpha: np.ndarray, uv: np.ndarray, triangles: np.ndarray) -> dict:
    """Silhouette IoU, centroid offset in pixels, and the share of the silhouette wrong beyond its 1-px edge."""
    h, w = alpha.shape
    cov = coverage(uv, triangles, w, h)
    seen = alpha >= 0.5
    edge = dilate(seen) & dilate(~seen)
    wrong = (seen != (cov >= 0.5)) & ~edge
    return {
        "iou": iou(seen, cov >= 0.5),
        "centroid_px": float(np.linalg.norm(centroid(alpha) - centroid(cov))),
        "wrong_beyond_edge": float(wrong.sum() / max(seen.sum(), 1)),
    }


def dilate(mask: np.ndarray) -> np.ndarray:
    """3x3 binary dilation (pixels within one pixel, diagonals included)."""
    padded = np.pad(mask, 1)
    h, w = mask.shape
    return np.any([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)
