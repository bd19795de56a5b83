"""How far the orbit sits from the target: the bounding sphere fills the view with a margin."""

from __future__ import annotations

import math

import numpy as np

from .camera import Intrinsics, half_angles_to_edges

# The bounding sphere's silhouette takes up 1/FIT_MARGIN of the narrowest half-field of view.
FIT_MARGIN = 1.15


def bounding_sphere(bounds_min, bounds_max) -> tuple[np.ndarray, float]:
    """Centre and radius of the sphere around an axis-aligned box."""
    lo, hi = np.asarray(bounds_min, dtype=float), np.asarray(bounds_max, dtype=float)
    return (lo + hi) / 2.0, float(np.linalg.norm(hi - lo) / 2.0)


def fit_radius(intr: Intrinsics, sphere_radius: float, margin: float = FIT_MARGIN) -> float:
    """Distance at which a sphere of ``sphere_radius`` on the optical axis fits inside every image edge."""
    half_angle = min(a for a in half_angles_to_edges(intr) if a > 0)
    return max(sphere_radius, 1e-6) * margin / math.sin(half_angle)
