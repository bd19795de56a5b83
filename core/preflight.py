"""What the panel tells the user before rendering: view count, output size, framing warnings."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .camera import Intrinsics, Optics, Raster, half_angles_to_edges, intrinsics_from_optics
from .framing import bounding_sphere
from .plan import camera_rig_split, dataset_optics, orbit_radius
from .settings import Settings

# Rendered PNGs of an object on a plain background compress to roughly this fraction of raw 8-bit pixels.
PNG_RATIO = 0.35


@dataclass(frozen=True)
class Preflight:
    views: int
    estimated_bytes: int
    warnings: tuple[str, ...]


# Raw bytes per pixel of each pass's files (EXR float32 channels plus the PNG).
PASS_BYTES_PER_PIXEL = {"depth": 4 + 2, "normal": 12 + 3, "mask": 1}


def estimate(
    settings: Settings, optics: Optics, raster: Raster, bounds: tuple, camera_frames: int, downscaled: bool
) -> Preflight:
    """What ``settings`` will make of a target within ``bounds`` (min, max corners) seen through the scene's
    camera: the same intrinsics, radius and split as the plan, without evaluating any mesh.
    ``camera_frames``: the scene camera's frame count (``camera`` rig); ``downscaled``: a chosen format
    takes the ``images_<k>/`` copies."""
    intr = intrinsics_from_optics(*dataset_optics(settings, optics, raster))
    _, sphere = bounding_sphere(*bounds)
    if settings.rig == "camera":
        views = sum(len(frames) for frames in camera_rig_split(settings, camera_frames).values())
        result = preflight(intr, 0.0, 1.0, views, 4 if settings.transparent else 3, settings.passes)
    else:
        views = sum(settings.orbit_counts().values())
        radius = orbit_radius(settings, intr, sphere)
        result = preflight(intr, sphere, radius, views, 4 if settings.transparent else 3, settings.passes)
    if downscaled and settings.downscales:
        extra = 1.0 + sum(1.0 / k**2 for k in settings.downscales)
        result = Preflight(result.views, int(result.estimated_bytes * extra), result.warnings)
    return result


def given_views(settings: Settings, intr: Intrinsics, views: int) -> Preflight:
    """The estimate for views given one by one (the dataset rig): no orbit to fit."""
    return preflight(intr, 0.0, 1.0, views, 4 if settings.transparent else 3, settings.passes)


def preflight(
    intr: Intrinsics, sphere_radius: float, orbit_radius: float, views: int, channels: int, passes=()
) -> Preflight:
    warnings = []
    if orbit_radius <= sphere_radius:
        warnings.append(f"The camera would sit inside the object (radius {orbit_radius:.3g} ≤ {sphere_radius:.3g})")
    else:
        half_angle = min(half_angles_to_edges(intr))
        if half_angle <= 0 or sphere_radius / orbit_radius > math.sin(half_angle):
            need = sphere_radius / math.sin(half_angle) if half_angle > 0 else math.inf
            warnings.append(f"The object does not fit the frame at radius {orbit_radius:.3g} (needs {need:.3g})")
    per_pixel = channels + sum(PASS_BYTES_PER_PIXEL[p] for p in passes)
    size = int(views * intr.w * intr.h * per_pixel * PNG_RATIO)
    return Preflight(views, size, tuple(warnings))


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
