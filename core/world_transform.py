"""``--cameras-transform``: where another dataset's world frame sits in the scene.

The file is a 4x4 (or 3x4) matrix, as JSON rows or 12/16 plain numbers, or nerfstudio's
``dataparser_transforms.json`` (``{"transform": 3x4, "scale": s}``: rotate and move, then scale positions, as
its dataparser does). Either must be a similarity: a rotation, a translation and one positive scale. A shear or
a mirror would render cameras unlike any the source's consumers trained with, so it is refused.

A camera is moved whole: its position by the full map, its axes by the rotation only (a camera has no size).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError
from .untrusted import Unreadable, read_bounded

MAX_TRANSFORM_BYTES = 1 << 16
# How far from a rotation times a scale a matrix may be: printed matrices carry 6 to 9 digits.
RIGID_TOLERANCE = 1e-5
# Entries and scales a single-precision scene can still place cameras with.
MAX_ENTRY = 1e9
MIN_SCALE = 1e-9


@dataclass(frozen=True)
class Similarity:
    matrix: np.ndarray
    """4x4: [s R | t] over [0 0 0 1]."""

    @property
    def scale(self) -> float:
        with np.errstate(all="ignore"):
            return float(np.cbrt(np.linalg.det(self.matrix[:3, :3])))

    def apply(self, c2w: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # an overflow is a non-finite result, which the caller refuses
            out = self.matrix @ np.asarray(c2w, dtype=float)
            out[:3, :3] /= self.scale
        return out

    def then(self, other: Similarity) -> Similarity:
        """This map followed by ``other``."""
        return Similarity(other.matrix @ self.matrix)

    def inverse(self) -> Similarity:
        return Similarity(np.linalg.inv(self.matrix))

    @staticmethod
    def scaling(s: float) -> Similarity:
        return Similarity(np.diag([s, s, s, 1.0]))


IDENTITY = Similarity(np.eye(4))


@dataclass(frozen=True)
class WorldTransform:
    map: Similarity
    dataparser: bool
    """From nerfstudio's ``dataparser_transforms.json``: it maps the capture's original frame, before the
    dataset's ``applied_transform``, into the trained model's."""


def similarity(m, what: str) -> Similarity:
    """``m`` (3x4 or 4x4 numbers) as a similarity; ``UserError`` naming ``what`` otherwise."""
    try:
        a = np.array(m, dtype=float)
    except (ValueError, TypeError, OverflowError):
        a = np.zeros((0,))
    if a.shape == (3, 4):
        a = np.vstack([a, [0.0, 0.0, 0.0, 1.0]])
    if a.shape != (4, 4) or not np.isfinite(a).all() or np.max(np.abs(a)) > MAX_ENTRY:
        raise UserError(f"{what} is not a 4x4 or 3x4 matrix of finite numbers (at most {MAX_ENTRY:g})")
    if np.max(np.abs(a[3] - [0, 0, 0, 1])) > 1e-9:
        raise UserError(f"{what} has a last row of {a[3].tolist()}, not [0, 0, 0, 1]: a projective map moves no camera")
    det = float(np.linalg.det(a[:3, :3]))
    if det > 0 and not MIN_SCALE**3 <= det <= MAX_ENTRY**3:
        raise UserError(f"{what} scales the world by {det ** (1 / 3):g}: beyond what Blender can place")
    if not det > 0:
        why = "mirrors the world" if det < 0 else "collapses the world"
        raise UserError(f"{what} {why}: it must be a rotation, a translation and one positive scale")
    s = det ** (1 / 3)
    rot = a[:3, :3] / s
    if np.max(np.abs(rot.T @ rot - np.eye(3))) > RIGID_TOLERANCE:
        raise UserError(f"{what} shears or stretches the world: it must be a rotation, a translation and one scale")
    return Similarity(a)


def read_world_transform(path) -> WorldTransform:
    path = Path(path).expanduser()
    try:
        text = read_bounded(path, limit=MAX_TRANSFORM_BYTES).decode()
    except Unreadable as exc:
        raise UserError(f"the cameras transform {path} {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"the cameras transform {path} is not text") from None
    what = f"the cameras transform {path}"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = _plain_numbers(text, what)
    if isinstance(data, dict):
        if "transform" not in data or "scale" not in data:
            raise UserError(f"{what} is a JSON object without nerfstudio's 'transform' and 'scale'")
        scale = data["scale"]
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not MIN_SCALE <= scale <= MAX_ENTRY:
            raise UserError(
                f"{what} has scale {scale!r}: it must be a positive number from {MIN_SCALE:g} to {MAX_ENTRY:g}"
            )
        move = similarity(data["transform"], what)
        return WorldTransform(move.then(Similarity.scaling(float(scale))), dataparser=True)
    return WorldTransform(similarity(data, what), dataparser=False)


def _plain_numbers(text: str, what: str) -> list:
    words = [w for w in re.split(r"[\s,;\[\]]+", text) if w]
    try:
        numbers = [float(w) for w in words]
    except ValueError:
        raise UserError(f"{what} is neither JSON nor 12 or 16 numbers") from None
    if len(numbers) not in (12, 16):
        raise UserError(f"{what} has {len(numbers)} numbers, not the 12 or 16 of a 3x4 or 4x4 matrix")
    return np.array(numbers).reshape(-1, 4).tolist()
