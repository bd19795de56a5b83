"""NeRF-synthetic ("blender") layout, as the original scenes and their loaders expect.

``transforms_{train,val,test}.json`` with ``camera_angle_x`` (plus ``fl_x, fl_y, cx, cy, w, h`` for
loaders that honour them) and frames ``{"file_path": "./train/r_0", "transform_matrix": c2w}``; the
file path has no extension because 3D Gaussian Splatting, nerfstudio's ``blender-data`` and ngp_pl
append ``.png``. Images are ``{split}/r_<i>.png``; the surface points, when sampled, are ``points3d.ply``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ..core.files import link_or_copy, write_json_atomic
from ..core.plan import Plan
from ..core.points import ScenePoints, write_ply
from ..core.rigs import SPLITS
from .common import PASS_KEYS, depth_keys, intrinsics_keys, matrix_rows

# The exact name 3D Gaussian Splatting's Blender loader opens (it makes random points when it is missing).
PLY_NAME = "points3d.ply"
# The same file under COLMAP's capitalisation, for tools that look for that name (one file, two links).
ALIAS_PLY_NAME = "points3D.ply"


# Whether this format writes the surface points (core.points).
USES_POINTS = True


def image_relpath(split: str, index: int) -> PurePosixPath:
    return PurePosixPath(split) / f"r_{index}.png"


def pass_relpath(split: str, index: int, name: str, ext: str) -> PurePosixPath:
    """Beside the image, as the original NeRF-synthetic test split keeps ``r_0_depth_0000.png``."""
    return PurePosixPath(split) / f"r_{index}_{name}{ext}"


def write(plan: Plan, format_dir: Path, points: ScenePoints | None = None) -> list[Path]:
    header = {**intrinsics_keys(plan.intrinsics), **depth_keys(plan)}
    written = []
    for split in SPLITS:
        frames = [
            {
                "file_path": f"./{image_relpath(v.split, v.index).with_suffix('')}",
                "transform_matrix": matrix_rows(v.c2w),
                **{PASS_KEYS[p]: f"./{pass_relpath(v.split, v.index, p, '.png')}" for p in plan.settings.passes},
            }
            for v in plan.split(split)
        ]
        written.append(write_json_atomic(Path(format_dir) / f"transforms_{split}.json", {**header, "frames": frames}))
    if points is not None:
        ply = write_ply(Path(format_dir) / PLY_NAME, points)
        link_or_copy(ply, Path(format_dir) / ALIAS_PLY_NAME)
        written += [ply, Path(format_dir) / ALIAS_PLY_NAME]
    return written
