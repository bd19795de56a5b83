"""Extra per-view passes (depth, normals, object mask): what each is, which engines make it, and the PNGs.

Depth is **z-depth**: the distance along the camera's viewing axis (−Z of the Blender camera), in scene
units, which is what Blender's Z pass holds and what nerfstudio, instant-ngp and DS-NeRF style losses
expect (ray distance would be ``z / cos`` of the pixel's angle to the axis). Pixels that see no surface
are 0 in every depth file. The 16-bit PNG stores ``round(z / DEPTH_PNG_UNIT)``: millimetres in a
metre scene, nerfstudio's default ``depth_unit_scale_factor`` of 1e-3; depths beyond 65.535 units don't
fit and are 0 there (the EXR keeps them).

Normals are world-space, as Blender's normal pass holds them: each pixel's average of the shading
normals it sees, so unit length on smooth surfaces and shorter on pixels that span a crease or the
object's edge (divide by the length for a direction) (EXR), shown in the PNG as ``(n + 1) / 2`` in 8 bits with black
where nothing was hit. The mask is 255 where the target object covers at least half the pixel, else 0
(nerfstudio's "black = ignore").
"""

from __future__ import annotations

import io

import numpy as np

PASSES = ("depth", "normal", "mask")
PASS_DESCRIPTIONS = {
    "depth": "Z-depth: 32-bit EXR and 16-bit PNG in millimetres",
    "normal": "World-space normals: EXR and an 8-bit PNG",
    "mask": "Object mask from the object index pass (Cycles), 8-bit PNG",
}
PASS_EXTS = {"depth": (".exr", ".png"), "normal": (".exr", ".png"), "mask": (".png",)}
# Blender's render passes per engine: EEVEE has no object index pass, Workbench only depth.
ENGINE_PASSES = {
    "CYCLES": set(PASSES),
    "BLENDER_EEVEE": {"depth", "normal"},
    "BLENDER_WORKBENCH": {"depth"},
}
DEPTH_PNG_UNIT = 1e-3
"""Scene units per count of the 16-bit depth PNG."""
DEPTH_KIND = "z"


def passes_missing(passes: tuple[str, ...], engine: str) -> list[str]:
    """The asked passes that ``engine`` does not render."""
    return [p for p in passes if p not in ENGINE_PASSES.get(engine, set(PASSES))]


def depth_png_counts(z: np.ndarray) -> np.ndarray:
    """16-bit counts of ``DEPTH_PNG_UNIT`` for z-depth ``z``; 0 where nothing was hit or it doesn't fit."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        counts = np.rint(z / DEPTH_PNG_UNIT)
        ok = np.isfinite(z) & (z > 0) & (counts <= np.iinfo(np.uint16).max)
    return np.where(ok, counts, 0).astype(np.uint16)


def normal_png_rgb(n: np.ndarray) -> np.ndarray:
    n = np.asarray(n, dtype=np.float32)[..., :3]
    rgb = np.clip(np.rint(n * 127.5 + 127.5), 0, 255).astype(np.uint8)
    rgb[~np.any(n != 0, axis=-1)] = 0  # the background's normal is exactly 0
    return rgb


def mask_png(coverage: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(coverage) >= 0.5, 255, 0).astype(np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (grey or RGB) or uint16 (grey) array; no time or text chunks."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG")
    return buf.getvalue()
