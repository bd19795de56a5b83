"""What every format's reader shares: the cameras it collects, the findings it reports, and the pieces
of JSON every consumer reads alike (intrinsics keys, 4x4 poses).

The readers themselves live beside their writers (``exporters/<format>.py``) and follow their consumer's
rules (prior-art (c)); ``app.validate`` runs the checks common to all of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".exr", ".bmp", ".tif", ".tiff"}


@dataclass
class Camera:
    """One view as a consumer reads it: OpenGL camera-to-world, pinhole K, where its pixels are."""

    label: str
    split: str
    image: Path
    c2w: np.ndarray
    K: np.ndarray | None
    size: tuple[int, int] | None
    """(w, h) the metadata promises, when it says."""
    mask: Path | None = None


@dataclass
class Finding:
    where: str
    message: str
    problem: bool = True
    """False: a note (the data is right, but some consumer will read it wrongly)."""


@dataclass
class Dataset:
    folder: Path
    formats: list[str] = field(default_factory=list)
    cameras: list[Camera] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def problem(self, where, message: str) -> None:
        self._add(Finding(self._rel(where), message))

    def note(self, where, message: str) -> None:
        self._add(Finding(self._rel(where), message, problem=False))

    def _add(self, finding: Finding) -> None:
        if finding not in self.findings:  # e.g. per-frame keys repeating one mistake
            self.findings.append(finding)

    def _rel(self, where) -> str:
        try:
            return str(Path(where).relative_to(self.folder.parent))
        except ValueError:
            return str(where)


def load_json(ds: Dataset, path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        ds.problem(path, f"is not readable JSON ({exc})")
        return None
    if not isinstance(data, dict):
        ds.problem(path, "is not a JSON object")
        return None
    return data


def intrinsics(
    ds: Dataset, path: Path, meta: dict, need_fl: bool, image_size=None
) -> tuple[np.ndarray | None, tuple | None]:
    """K and the (w, h) the keys promise, as instant-ngp and nerfstudio read them; without w and h, K comes
    from ``image_size`` (the images' own size, as NeRF-synthetic loaders do)."""
    w, h = meta.get("w"), meta.get("h")
    for key, value in (("w", w), ("h", h)):
        if value is not None and not isinstance(value, int):
            ds.problem(path, f"'{key}' is {value!r}, not an integer: strict parsers reject it")
    promised = (int(w), int(h)) if isinstance(w, (int, float)) and isinstance(h, (int, float)) else None
    size = promised or (tuple(image_size) if image_size else None)
    if "fl_x" in meta:
        fx = float(meta["fl_x"])
        fy = float(meta.get("fl_y", fx))
    elif "camera_angle_x" in meta and size:
        if need_fl:
            ds.problem(path, "gives camera_angle_x but no fl_x/fl_y: nerfstudio's dataparser rejects it")
        fx = 0.5 * size[0] / np.tan(0.5 * float(meta["camera_angle_x"]))
        fy = 0.5 * size[1] / np.tan(0.5 * float(meta["camera_angle_y"])) if "camera_angle_y" in meta else fx
    else:
        if need_fl:
            ds.problem(path, "has no fl_x/fl_y: nerfstudio's dataparser rejects it")
        return None, size
    if size is None:
        return None, None
    cx, cy = float(meta.get("cx", size[0] / 2)), float(meta.get("cy", size[1] / 2))
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), promised


def c2w_of(ds: Dataset, path: Path, frame: dict) -> np.ndarray | None:
    try:
        m = np.array(frame["transform_matrix"], dtype=float)
    except (KeyError, TypeError, ValueError):
        ds.problem(path, f"frame '{frame.get('file_path')}' has no 4x4 transform_matrix")
        return None
    if m.shape == (3, 4):
        m = np.vstack([m, [0, 0, 0, 1]])
    if m.shape != (4, 4) or not np.isfinite(m).all():
        ds.problem(path, f"frame '{frame.get('file_path')}' has no 4x4 transform_matrix")
        return None
    return m


def off_centre(K: np.ndarray, size: tuple[int, int]) -> bool:
    return abs(K[0, 2] - size[0] / 2) > 1e-3 or abs(K[1, 2] - size[1] / 2) > 1e-3 or abs(K[0, 0] - K[1, 1]) > 1e-3
