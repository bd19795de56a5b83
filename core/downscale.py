"""Downscaled copies, ``images_<k>/``, as nerfstudio (``downscale_factor``) and COLMAP-style readers find them.

A copy is ``floor(w / k) x floor(h / k)`` pixels, each the average of a k x k block of the original,
after cropping the last ``w mod k`` columns and ``h mod k`` rows. Every pixel centre then maps exactly
to ``(u + 0.5) * k`` in the original, so the intrinsics scale by ``1 / k`` (what nerfstudio does).
Colour is averaged premultiplied by alpha, so edges don't darken toward the transparent background's
black; masks stay binary (a majority vote); depth averages only the pixels that hit something, and is
0 where fewer than half of them did.
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

import numpy as np

from .files import write_bytes_atomic


def downscaled_relpath(rel: PurePosixPath, k: int) -> PurePosixPath:
    """``images/x.png`` -> ``images_2/x.png``; ``masks/x.png`` -> ``masks_2/x.png``."""
    parts = PurePosixPath(rel).parts
    return PurePosixPath(f"{parts[0]}_{k}", *parts[1:])


def _blocks(a: np.ndarray, k: int) -> np.ndarray:
    h, w = a.shape[0] // k, a.shape[1] // k
    return a[: h * k, : w * k].reshape(h, k, w, k, *a.shape[2:]).swapaxes(1, 2).reshape(h, w, k * k, *a.shape[2:])


def downscale_pixels(pixels: np.ndarray, k: int, kind: str) -> np.ndarray:
    """``kind``: "color" (uint8 grey/RGB/RGBA), "mask" (uint8 0/255) or "depth" (uint16, 0 = no hit)."""
    if kind == "depth":
        blocks = _blocks(pixels.astype(np.float64), k)
        hits = (blocks > 0).sum(axis=2)
        mean = blocks.sum(axis=2) / np.maximum(hits, 1)
        return np.where(hits * 2 >= k * k, np.rint(mean), 0).astype(np.uint16)
    if kind == "mask":
        return np.where((_blocks(pixels, k) > 127).sum(axis=2) * 2 >= k * k, 255, 0).astype(np.uint8)
    blocks = _blocks(pixels.astype(np.float64), k)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        alpha = blocks[..., 3:]
        a_mean = alpha.mean(axis=2)
        rgb = (blocks[..., :3] * alpha).mean(axis=2) / np.maximum(a_mean, 1e-9)
        out = np.concatenate([rgb, a_mean], axis=-1)
    else:
        out = blocks.mean(axis=2)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_downscaled(src: Path, dst: Path, k: int, kind: str) -> Path:
    from PIL import Image

    with Image.open(src) as image:
        pixels = np.array(image)
    small = downscale_pixels(pixels, k, kind)
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="PNG")
    return write_bytes_atomic(dst, buf.getvalue())
