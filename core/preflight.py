"""What the panel tells the user before rendering: view count, output size, framing warnings."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .camera import Intrinsics, half_angles_to_edges

# Rendered PNGs of an object on a plain background compress to roughly this fraction of raw 8-bit pixels.
PNG_RATIO = 0.35


@dataclass(frozen=True)
class Preflight:
    views: int
    estimated_bytes: int
    warnings: tuple[str, ...]


# Raw bytes per pixel of each pass's files (EXR float32 channels plus the PNG).
PASS_BYTES_PER_PIXEL = {"depth": 4 + 2, "normal": 12 + 3, "mask": 1}


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
