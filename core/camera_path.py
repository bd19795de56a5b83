"""nerfstudio camera paths (``camera_paths/<name>.json``) for ``ns-render camera-path``, both ways.

A model trained by nerfstudio lives in its dataparser's frame, not the scene's: the ``nerfstudio-data``
parser moves the poses by ``transform`` (3x4) and multiplies their positions by ``scale`` (what it saves
as ``dataparser_transforms.json`` beside the model). ``ns-render`` takes the camera path in that frame,
so we write it there, computing the transform as the parser does with its defaults for our
``transforms.json`` (orientation ``none`` via ``orientation_override``, since Blender's world is already
Z-up; ``center_method="poses"``; ``auto_scale_poses=True``; ``scale_factor=1``). The transform used is
stored in the file, and reading a path back applies its inverse (or that of a ``dataparser_transforms.json``
you give, which is exact for any training options).

ns-render's cameras are pinhole with square pixels and a centred principal point, from the vertical
``fov`` in degrees and ``render_height``; ``camera_to_world`` is row-major 4x4, OpenGL camera axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import UserError
from .files import write_json_atomic
from .rigs import GIVEN_RIGS

if TYPE_CHECKING:
    from .plan import Plan

ORIENTATION = "none"
"""The ``orientation_override`` our nerfstudio ``transforms.json`` carries."""
KEYFRAMES = 8


@dataclass(frozen=True)
class DataparserTransform:
    transform: np.ndarray
    """3x4, applied to camera-to-world poses (then positions are scaled)."""
    scale: float

    def apply(self, c2w: np.ndarray) -> np.ndarray:
        out = _homogeneous(self.transform) @ np.asarray(c2w, dtype=float)
        out[:3, 3] *= self.scale
        return out

    def invert(self, c2w: np.ndarray) -> np.ndarray:
        m = np.array(c2w, dtype=float)
        m[:3, 3] /= self.scale
        return np.linalg.inv(_homogeneous(self.transform)) @ m

    def to_json(self) -> dict:
        return {"transform": self.transform.tolist(), "scale": self.scale}

    @staticmethod
    def from_json(d: dict) -> DataparserTransform:
        try:
            t = np.array(d["transform"], dtype=float)[:3, :4]
            return DataparserTransform(t, float(d["scale"]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise UserError("the dataparser transform needs 'transform' (3x4) and 'scale'") from None


def _homogeneous(t: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :4] = t
    return m


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation taking unit direction ``a`` to ``b`` (Rodrigues), as nerfstudio's ``rotation_matrix``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(np.dot(a, b))
    s = float(np.linalg.norm(v))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        raise UserError("the cameras' mean up vector points straight down; nerfstudio's 'up' orientation is undefined")
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k * ((1 - c) / s**2)


def dataparser_transform(c2ws: np.ndarray, orientation: str = ORIENTATION) -> DataparserTransform:
    """What nerfstudio-data computes from every frame's pose (all splits, before it picks one)."""
    c2ws = np.asarray(c2ws, dtype=float)
    mean = c2ws[:, :3, 3].mean(axis=0)
    if orientation == "none":
        rot = np.eye(3)
    elif orientation == "up":
        rot = _rotation_between(c2ws[:, :3, 1].mean(axis=0), np.array([0.0, 0.0, 1.0]))
    else:
        raise UserError(f"orientation '{orientation}' is not supported (none or up)")
    transform = np.hstack([rot, (rot @ -mean)[:, None]])
    moved = np.einsum("ij,njk->nik", _homogeneous(transform), c2ws)
    reach = float(np.max(np.abs(moved[:, :3, 3])))
    # One camera (or all at one spot) leaves nothing to scale by; nerfstudio would divide by zero.
    return DataparserTransform(transform, 1.0 / reach if reach > 0 else 1.0)


def camera_path_json(
    c2ws: list[np.ndarray], fov_y_deg: list[float], size: tuple[int, int], fps: float, frame: DataparserTransform
) -> dict:
    """The file ``ns-render camera-path`` reads; poses are scene camera-to-world, moved into ``frame``."""
    if not c2ws:
        raise UserError("a camera path needs at least one camera")
    w, h = size
    path = [
        {"camera_to_world": _flat(frame.apply(m)), "fov": float(f), "aspect": w / h}
        for m, f in zip(c2ws, fov_y_deg, strict=True)
    ]
    picks = sorted({int(i) for i in np.linspace(0, len(path) - 1, min(KEYFRAMES, len(path)))})
    return {
        "camera_type": "perspective",
        "render_height": int(h),
        "render_width": int(w),
        "fps": float(fps),
        "seconds": len(path) / float(fps),
        "smoothness_value": 0.0,
        "is_cycle": False,
        "crop": None,
        "keyframes": [{"matrix": path[i]["camera_to_world"], "fov": path[i]["fov"], "aspect": w / h} for i in picks],
        "camera_path": path,
        "dataparser_transform": frame.to_json(),
    }


def _flat(m: np.ndarray) -> list[float]:
    return [round(float(x), 12) + 0.0 for x in np.asarray(m).reshape(-1)]


@dataclass(frozen=True)
class PathCamera:
    c2w: np.ndarray
    """Scene camera-to-world, OpenGL (= Blender camera) axes."""
    fov_y_deg: float


def read_camera_path(d: dict, frame: DataparserTransform | None = None) -> tuple[list[PathCamera], dict]:
    """The cameras of a camera path in scene coordinates, and its render settings (size, fps).

    ``frame`` defaults to the transform stored in the file; a path without one is taken as it is.
    """
    try:
        cams = d["camera_path"]
        if frame is None:
            frame = (
                DataparserTransform.from_json(d["dataparser_transform"])
                if "dataparser_transform" in d
                else DataparserTransform(np.eye(4)[:3], 1.0)
            )
        out = [
            PathCamera(frame.invert(np.array(c["camera_to_world"], dtype=float).reshape(4, 4)), float(c["fov"]))
            for c in cams
        ]
        settings = {"width": int(d["render_width"]), "height": int(d["render_height"]), "fps": float(d.get("fps", 24))}
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"not a nerfstudio camera path: {type(exc).__name__} {exc}") from None
    if not out:
        raise UserError("the camera path has no cameras")
    return out, settings


def fov_y_deg(fl_y: float, h: int) -> float:
    return float(np.degrees(2 * np.arctan(0.5 * h / fl_y)))


def write_camera_paths(plan: Plan, out_dir: Path) -> list[Path]:
    """``camera_paths/`` (nerfstudio's folder for them): the test views, and ``--camera-path-from``'s camera."""
    intr = plan.intrinsics
    if not plan.split("test") and not plan.scene.flythrough:
        return []
    frame = dataparser_transform(np.array([v.c2w_array() for v in plan.views]))
    paths = {}
    if plan.split("test"):
        name = "test_frames" if plan.settings.rig in GIVEN_RIGS else "test_ring"
        test = plan.split("test")
        fovs = [fov_y_deg(plan.intrinsics_of(v).fl_y, intr.h) for v in test]  # a zoomed camera's, per view
        paths[name] = camera_path_json([v.c2w_array() for v in test], fovs, (intr.w, intr.h), plan.scene.fps, frame)
    if plan.scene.flythrough:
        poses = [np.array(m).reshape(4, 4) for _, m, _ in plan.scene.flythrough]
        fovs = [fov for _, _, fov in plan.scene.flythrough]
        paths[plan.scene.flythrough_name] = camera_path_json(poses, fovs, (intr.w, intr.h), plan.scene.fps, frame)
    return [write_json_atomic(Path(out_dir) / _path_file(n), d) for n, d in paths.items()]


def camera_path_files(plan: Plan) -> list[str]:
    """The files ``write_camera_paths`` may write, relative to the output folder."""
    names = ["test_frames" if plan.settings.rig in GIVEN_RIGS else "test_ring"]
    return [_path_file(n) for n in names + ([plan.scene.flythrough_name] if plan.scene.flythrough_name else [])]


def _path_file(name: str) -> str:
    return f"{CAMERA_PATHS_DIR}/{_safe_name(name)}.json"


CAMERA_PATHS_DIR = "camera_paths"


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "camera"
