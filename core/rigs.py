"""Camera rigs: where the views of each split sit around the target, as camera-to-world poses.

Every function is deterministic in its arguments; randomness comes only from the ``seed`` given.
Directions are unit vectors from the target centre; poses look at the centre with world +Z up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .conventions import look_at_c2w_opengl
from .errors import UserError

RigKind = Literal["hemisphere", "sphere", "rings", "spiral", "camera", "dataset"]
RIG_DESCRIPTIONS = {
    "hemisphere": "Even coverage of the upper hemisphere; test views on a ring",
    "sphere": "Even coverage of the whole sphere; test views on a ring",
    "rings": "Orbit rings at evenly spaced elevations",
    "spiral": "A spiral rising from the lowest to the highest elevation",
    "camera": "The scene camera's own animation, one view per frame",
    "dataset": "The cameras of an existing dataset (NeRF, instant-ngp, nerfstudio or COLMAP), exactly",
}
RIG_LABELS = {"dataset": "Cameras from Dataset"}
# Rigs whose views are given (one per frame or camera), not placed around the target by the settings.
GIVEN_RIGS = ("camera", "dataset")
RIG_KINDS: tuple[str, ...] = tuple(RIG_DESCRIPTIONS)
SPLITS: tuple[str, ...] = ("train", "val", "test")
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
# Two views closer than this (in radians as seen from the centre) count as the same view.
MIN_SEPARATION_RAD = 1e-4


@dataclass(frozen=True)
class RigSpec:
    """The shape of an orbit rig. Angles in degrees; elevation 0 is the horizon, 90 straight above."""

    kind: RigKind = "hemisphere"
    elevation_min_deg: float = 0.0
    elevation_max_deg: float = 90.0
    rings: int = 3
    """Number of orbit rings (``rings`` rig)."""
    turns: float = 4.0
    """Turns of the spiral from the lowest to the highest elevation (``spiral`` rig)."""
    test_elevation_deg: float = 30.0
    """Elevation of the test fly-around ring."""


def default_elevation_range(kind: str) -> tuple[float, float]:
    """Sphere rigs cover the whole sphere; the others the upper hemisphere (NeRF-synthetic's choice)."""
    return (-90.0, 90.0) if kind == "sphere" else (0.0, 90.0)


def _direction(elevation_rad, azimuth_rad) -> np.ndarray:
    elevation_rad = np.asarray(elevation_rad, dtype=float)
    azimuth_rad = np.asarray(azimuth_rad, dtype=float)
    cos_el = np.cos(elevation_rad)
    return np.stack([cos_el * np.cos(azimuth_rad), cos_el * np.sin(azimuth_rad), np.sin(elevation_rad)], axis=-1)


def fibonacci_band(n: int, el_min_deg: float, el_max_deg: float, azimuth0: float) -> np.ndarray:
    """``n`` directions spread evenly by area over the elevation band (a Fibonacci lattice)."""
    z0, z1 = math.sin(math.radians(el_min_deg)), math.sin(math.radians(el_max_deg))
    i = np.arange(n, dtype=float)
    z = z0 + (z1 - z0) * (i + 0.5) / max(n, 1)
    return _direction(np.arcsin(np.clip(z, -1.0, 1.0)), azimuth0 + i * GOLDEN_ANGLE)


def ring(n: int, elevation_deg: float, azimuth0: float) -> np.ndarray:
    """``n`` directions evenly around one ring, a fly-around."""
    azimuth = azimuth0 + 2.0 * math.pi * np.arange(n, dtype=float) / max(n, 1)
    return _direction(np.full(n, math.radians(elevation_deg)), azimuth)


def ring_elevations(spec: RigSpec) -> np.ndarray:
    """Ring elevations, centred in equal slices of the band (never exactly on a pole)."""
    k = np.arange(spec.rings, dtype=float)
    return spec.elevation_min_deg + (k + 0.5) * (spec.elevation_max_deg - spec.elevation_min_deg) / spec.rings


def rings(n: int, spec: RigSpec, azimuth0: float, phase: float) -> np.ndarray:
    """``n`` directions shared evenly over the rings; ``phase`` (in steps) interleaves another split."""
    counts = np.full(spec.rings, n // spec.rings)
    counts[: n % spec.rings] += 1
    parts = [
        ring(int(c), el, azimuth0 + phase * 2.0 * math.pi / max(int(c), 1))
        for c, el in zip(counts, ring_elevations(spec))
        if c
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 3))


def spiral(n: int, spec: RigSpec, azimuth0: float, phase: float) -> np.ndarray:
    """``n`` directions along a spiral rising from the lowest to the highest elevation of the band."""
    t = (np.arange(n, dtype=float) + 0.5 * (1.0 + phase)) / max(n, 1)
    t = np.clip(t, 0.0, 1.0)
    elevation = np.radians(spec.elevation_min_deg + t * (spec.elevation_max_deg - spec.elevation_min_deg))
    return _direction(elevation, azimuth0 + 2.0 * math.pi * spec.turns * t)


def _split_directions(spec: RigSpec, counts: dict[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    az = rng.uniform(0.0, 2.0 * math.pi, size=3)
    if spec.kind in ("hemisphere", "sphere"):
        train = fibonacci_band(counts["train"], spec.elevation_min_deg, spec.elevation_max_deg, az[0])
        val = fibonacci_band(counts["val"], spec.elevation_min_deg, spec.elevation_max_deg, az[1])
    elif spec.kind == "rings":
        train = rings(counts["train"], spec, az[0], 0.0)
        val = rings(counts["val"], spec, az[0], 0.5)
    elif spec.kind == "spiral":
        train = spiral(counts["train"], spec, az[0], 0.0)
        val = spiral(counts["val"], spec, az[0], 1.0)
    else:
        raise UserError(f"rig '{spec.kind}' has no orbit directions")
    test = ring(counts["test"], spec.test_elevation_deg, az[2])
    return {"train": train, "val": val, "test": test}


def _min_separation(dirs: np.ndarray) -> float:
    if len(dirs) < 2:
        return math.pi
    cos = np.clip(dirs @ dirs.T, -1.0, 1.0)
    np.fill_diagonal(cos, -1.0)
    return float(np.arccos(cos.max()))


def orbit_directions(spec: RigSpec, counts: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Unit directions per split; no two views of the whole rig coincide.

    The seed turns each split's pattern about +Z; a draw whose splits happen to share a view is
    replaced by the next draw of the same generator, so the result stays a function of the seed.
    """
    _check_spec(spec, counts)
    rng = np.random.default_rng(seed)
    for _ in range(64):
        dirs = _split_directions(spec, counts, rng)
        if _min_separation(np.concatenate([dirs[s] for s in SPLITS])) > MIN_SEPARATION_RAD:
            return dirs
    raise UserError("the rig has more views than fit its elevation range without two of them coinciding")


def _check_spec(spec: RigSpec, counts: dict[str, int]) -> None:
    if not -90.0 <= spec.elevation_min_deg <= spec.elevation_max_deg <= 90.0:
        raise UserError("elevation range must satisfy -90 <= min <= max <= 90 degrees")
    if spec.kind == "rings" and spec.rings < 1:
        raise UserError("--rings must be at least 1")
    if any(n < 0 for n in counts.values()):
        raise UserError("view counts must not be negative")


def poses_from_directions(dirs: np.ndarray, center, radius: float) -> list[np.ndarray]:
    """Camera-to-world poses (OpenGL axes) at ``radius`` from ``center``, each looking at it."""
    center = np.asarray(center, dtype=float)
    return [look_at_c2w_opengl(center + radius * d, center) for d in dirs]
