"""nerfstudio's ``nerfstudio-data`` layout (``ns-train ... nerfstudio-data --data DIR``).

``transforms.json`` with ``camera_model`` OPENCV (distortion keys 0), ``fl_x, fl_y, cx, cy, w, h`` and
one frame per view, ``file_path`` relative to the folder *with* its extension (nerfstudio opens it
literally), ``transform_matrix`` camera-to-world in OpenGL camera axes (nerfstudio's own convention).
The splits are ``train_filenames`` / ``val_filenames`` / ``test_filenames``, whose entries nerfstudio
matches against the frames' file paths. Images sit flat in ``images/`` because nerfstudio finds
downscaled copies as ``images_<k>/<file name>``. ``applied_transform`` is the identity: the poses are
Blender's world as it is (nerfstudio otherwise guesses a COLMAP-style transform).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ..core.camera_path import ORIENTATION
from ..core.files import write_json_atomic
from ..core.plan import Plan
from ..core.points import ScenePoints, write_ply
from ..core.reader_kit import transforms_json_kind
from ..core.rigs import SPLITS
from .common import (
    PASS_KEYS,
    depth_keys,
    frame_intrinsics,
    header_intrinsics,
    matrix_rows,
    read_transforms,
    source_keys,
)
from .format import Format

DISTORTION_KEYS = ("k1", "k2", "p1", "p2")
PLY_NAME = "points3d.ply"


def image_relpath(split: str, index: int) -> PurePosixPath:
    return PurePosixPath("images") / f"{split}_{index:04d}.png"


PASS_DIRS = {"depth": "depths", "normal": "normals", "mask": "masks"}


def pass_relpath(split: str, index: int, name: str, ext: str) -> PurePosixPath:
    """``depths/``, ``normals/``, ``masks/`` with the image's name: nerfstudio finds their downscaled copies
    as ``depths_<k>/<name>`` and ``masks_<k>/<name>``."""
    return PurePosixPath(PASS_DIRS[name]) / image_relpath(split, index).with_suffix(ext).name


def write(plan: Plan, format_dir: Path, points: ScenePoints | None = None) -> list[Path]:
    meta = {
        "camera_model": "OPENCV",
        **depth_keys(plan),
        **header_intrinsics(plan, ("fl_x", "fl_y", "cx", "cy", "w", "h")),
        **dict.fromkeys(DISTORTION_KEYS, 0.0),
        # Blender's world is Z-up already; "up" would tilt it by the cameras' mean up vector (core.camera_path)
        "orientation_override": ORIENTATION,
        "applied_transform": [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
        "frames": [
            {
                "file_path": str(image_relpath(v.split, v.index)),
                "transform_matrix": matrix_rows(v.c2w),
                **source_keys(v),
                **frame_intrinsics(plan, v),
                **{PASS_KEYS[p]: str(pass_relpath(v.split, v.index, p, ".png")) for p in plan.settings.passes},
            }
            for v in plan.views
        ],
    }
    for split in SPLITS:
        meta[f"{split}_filenames"] = [str(image_relpath(v.split, v.index)) for v in plan.split(split)]
    written = []
    if points is not None:
        written.append(write_ply(Path(format_dir) / PLY_NAME, points))
        meta["ply_file_path"] = PLY_NAME  # splatfacto starts from these points instead of random ones
    return [*written, write_json_atomic(Path(format_dir) / "transforms.json", meta)]


FORMAT = Format(
    name="nerfstudio",
    label="nerfstudio",
    description="nerfstudio-data transforms.json with train/val/test file lists",
    image_relpath=image_relpath,
    pass_relpath=pass_relpath,
    write=write,
    read=lambda ds: read_transforms(ds, nerfstudio=True),
    claims=lambda folder: transforms_json_kind(folder) == "nerfstudio",
    files=(PLY_NAME, "transforms.json"),
    uses_points=True,
    takes_downscales=True,
)
