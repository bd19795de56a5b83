"""NeRF-synthetic ("blender") layout, as the original scenes and their loaders expect.

``transforms_{train,val,test}.json`` with ``camera_angle_x`` (plus ``fl_x, fl_y, cx, cy, w, h`` for
loaders that honour them) and frames ``{"file_path": "./train/r_0", "transform_matrix": c2w}``; the
file path has no extension because 3D Gaussian Splatting, nerfstudio's ``blender-data`` and ngp_pl
append ``.png``. Images are ``{split}/r_<i>.png``; the surface points, when sampled, are ``points3d.ply``.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath

from ..core.files import link_or_copy, write_json_atomic
from ..core.images import read_image_size
from ..core.plan import Plan
from ..core.points import ScenePoints, write_ply
from ..core.reader_kit import (
    IMAGE_EXTS,
    Camera,
    Dataset,
    c2w_of,
    frame_files,
    frames_of,
    intrinsics,
    load_json,
    off_centre,
    shown,
)
from ..core.rigs import SPLITS
from ..core.untrusted import Unreadable, present
from .common import PASS_KEYS, depth_keys, intrinsics_keys, matrix_rows, source_keys
from .format import Format

# The exact name 3D Gaussian Splatting's Blender loader opens (it makes random points when it is missing).
PLY_NAME = "points3d.ply"
# The same file under COLMAP's capitalisation, for tools that look for that name (one file, two links).
ALIAS_PLY_NAME = "points3D.ply"
# Loaders open transforms_train.json first: it is written last, once everything else is in place.
WRITE_ORDER = ("val", "test", "train")


def image_relpath(split: str, index: int) -> PurePosixPath:
    return PurePosixPath(split) / f"r_{index}.png"


def pass_relpath(split: str, index: int, name: str, ext: str) -> PurePosixPath:
    """Beside the image, as the original NeRF-synthetic test split keeps ``r_0_depth_0000.png``."""
    return PurePosixPath(split) / f"r_{index}_{name}{ext}"


def write(plan: Plan, format_dir: Path, points: ScenePoints | None = None) -> list[Path]:
    header = {**intrinsics_keys(plan.intrinsics), **depth_keys(plan)}
    written = []
    if points is not None:
        ply = write_ply(Path(format_dir) / PLY_NAME, points)
        link_or_copy(ply, Path(format_dir) / ALIAS_PLY_NAME)
        written += [ply, Path(format_dir) / ALIAS_PLY_NAME]
    for split in WRITE_ORDER:
        frames = [
            {
                "file_path": f"./{image_relpath(v.split, v.index).with_suffix('')}",
                "transform_matrix": matrix_rows(v.c2w),
                **source_keys(v),
                **{PASS_KEYS[p]: f"./{pass_relpath(v.split, v.index, p, '.png')}" for p in plan.settings.passes},
            }
            for v in plan.split(split)
        ]
        written.append(write_json_atomic(Path(format_dir) / f"transforms_{split}.json", {**header, "frames": frames}))
    return written


def claims(folder: Path) -> bool:
    return any(present(Path(folder) / f"transforms_{s}.json") for s in SPLITS)


def read(ds: Dataset) -> None:
    """As 3DGS's readNerfSyntheticInfo, nerfstudio's blender-data and ngp_pl read it: ``file_path`` + ``.png``."""
    folder = ds.folder
    ds.formats.append("nerf")
    for split in SPLITS:
        path = folder / f"transforms_{split}.json"
        if not present(path):
            who = {"train": "every loader", "val": "nerfstudio's blender-data (it reads val while training)"}
            ds.problem(path, f"is missing: {who.get(split, '3D Gaussian Splatting')} needs it")
            continue
        meta = load_json(ds, path)
        if meta is None:
            continue
        if "camera_angle_x" not in meta:
            ds.problem(path, "has no camera_angle_x: 3D Gaussian Splatting and blender-data read only that")
        frames = [(frame, frame_files(ds, path, frame, suffix=".png")) for frame in frames_of(ds, path, meta)]
        found = _first_size(ds, [files for _, files in frames if files])
        K, size = intrinsics(ds, path, meta, need_fl=False, image_size=found)
        if K is not None and off_centre(K, size or found):
            ds.note(
                path,
                "off-centre principal point or non-square pixels: 3DGS's Blender loader and nerfstudio's "
                "blender-data ignore cx, cy, fl_y (use the nerfstudio or colmap output for them)",
            )
        _check_square_pixels(ds, path, meta, size or found)
        for frame, files in frames:
            c2w = c2w_of(ds, path, frame)
            if files is None:
                continue
            fp = files.file_path
            if "\\" in fp:
                ds.problem(path, f"file_path {shown(fp)} has backslashes: only instant-ngp rewrites them")
            if Path(fp).suffix.lower() in IMAGE_EXTS:
                opened = shown(fp + ".png")
                ds.problem(path, f"file_path {shown(fp)} has an extension: 3DGS and blender-data open {opened}")
            if c2w is not None:
                label = f"{folder.name}/{fp.lstrip('./')}"
                ds.cameras.append(Camera(label, split, files.image, c2w, K, size, files.mask))


def _check_square_pixels(ds: Dataset, path, meta: dict, size) -> None:
    """3DGS, blender-data and ngp_pl derive the vertical field of view from camera_angle_x and the image's
    aspect (square pixels); a camera_angle_y that says otherwise means they train every view stretched."""
    ax, ay = meta.get("camera_angle_x"), meta.get("camera_angle_y")
    numbers = all(isinstance(a, (int, float)) and not isinstance(a, bool) and 0 < a < math.pi for a in (ax, ay))
    if not (numbers and size and min(size) > 0):
        return
    tx, ty = math.tan(ax / 2), math.tan(ay / 2)
    if not (tx > 0 and ty > 0):  # an angle so small its tangent underflows: the camera checks report it
        return
    fl_x, fl_y = size[0] / (2 * tx), size[1] / (2 * ty)
    if abs(fl_y / fl_x - 1.0) > 1e-3:
        ds.problem(
            path,
            f"camera_angle_y {ay:.6g} contradicts square pixels (pixel aspect {fl_x / fl_y:.4g}): its loaders "
            "assume square pixels (use the nerfstudio, ngp or colmap output)",
        )


def _first_size(ds: Dataset, files: list) -> tuple[int, int] | None:
    """The size of the split's first image, which NeRF-synthetic loaders take w and h from."""
    try:
        return read_image_size(files[0].image, ds.folder) if files else None
    except Unreadable:
        return None  # reported with the other images' checks


FORMAT = Format(
    name="nerf",
    label="NeRF",
    description="NeRF-synthetic transforms_{train,val,test}.json (3DGS, nerfstudio blender-data, torch-ngp)",
    image_relpath=image_relpath,
    pass_relpath=pass_relpath,
    write=write,
    read=read,
    claims=claims,
    files=(PLY_NAME, ALIAS_PLY_NAME, *(f"transforms_{s}.json" for s in WRITE_ORDER)),
    uses_points=True,
    holds_view_intrinsics=False,
)
