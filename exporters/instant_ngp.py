"""instant-ngp's own layout.

``transforms.json`` holds the training views only, so that instant-ngp given the folder (it loads every
``*.json`` directly inside it, not in subfolders) or the file trains on exactly those. The held-out views
live in ``eval/transforms_{val,test}.json`` with their images beside them, for
``scripts/run.py --test_transforms eval/transforms_test.json``.

Poses stay in scene units (the same matrices as the NeRF-synthetic output). instant-ngp maps a position
``p`` to ``p * scale + offset`` (then cycles the axes), and marches rays in the unit cube. We choose
``scale`` so the target's largest bounding-box half-extent becomes ``TARGET_HALF_EXTENT`` and ``offset``
so its centre lands on 0.5: the target fills the middle of the unit cube. ``aabb_scale`` is the smallest
power of two whose cube (centred on 0.5) holds every visible mesh of the scene, so a ground plane or
backdrop is inside the volume while an isolated object gets 1, the sharpest setting.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from ..core.files import write_json_atomic
from ..core.passes import DEPTH_PNG_UNIT
from ..core.plan import Plan
from ..core.points import ScenePoints
from ..core.reader_kit import transforms_json_kind
from .common import (
    FRAME_INTRINSICS,
    depth_keys,
    frame_intrinsics,
    header_intrinsics,
    matrix_rows,
    read_transforms,
    source_keys,
)
from .format import Format

TARGET_HALF_EXTENT = 0.4
MAX_AABB_SCALE = 128
# Written in this order: instant-ngp opens transforms.json, so it comes last.
FILES = {"eval/transforms_val.json": "val", "eval/transforms_test.json": "test", "transforms.json": "train"}


def image_relpath(split: str, index: int) -> PurePosixPath:
    return (PurePosixPath(split) if split == "train" else PurePosixPath("eval") / split) / f"r_{index}.png"


def pass_relpath(split: str, index: int, name: str, ext: str) -> PurePosixPath:
    return image_relpath(split, index).parent / f"r_{index}_{name}{ext}"


def scale_offset(plan: Plan) -> tuple[float, list[float]]:
    lo, hi = np.array(plan.scene.bounds_min), np.array(plan.scene.bounds_max)
    half_extent = max(float(np.max(hi - lo)) / 2.0, 1e-9)
    scale = TARGET_HALF_EXTENT / half_extent
    center = (lo + hi) / 2.0
    return scale, [float(0.5 - scale * c) for c in center]


def aabb_scale(plan: Plan, scale: float, offset: list[float]) -> int:
    corners = np.array([plan.scene.scene_bounds_min, plan.scene.scene_bounds_max], dtype=float)
    reach = float(np.max(np.abs(corners * scale + np.array(offset) - 0.5)))
    size = 1
    while size < MAX_AABB_SCALE and size / 2.0 < reach:
        size *= 2
    return size


def write(plan: Plan, format_dir: Path, points: ScenePoints | None = None) -> list[Path]:
    scale, offset = scale_offset(plan)
    header = {**header_intrinsics(plan), "aabb_scale": aabb_scale(plan, scale, offset)}
    header.update(scale=scale, offset=offset)
    depth = "depth" in plan.settings.passes
    if depth:  # instant-ngp multiplies the 16-bit values by this, then by ``scale`` like the poses
        header.update(depth_keys(plan), integer_depth_scale=DEPTH_PNG_UNIT, enable_depth_loading=True)
    format_dir = Path(format_dir)
    written = []
    for split, json_path in ((split, format_dir / name) for name, split in FILES.items()):
        rel_to = json_path.parent.relative_to(format_dir)
        frames = [
            {
                "file_path": str(image_relpath(v.split, v.index).relative_to(rel_to.as_posix())),
                "transform_matrix": matrix_rows(v.c2w),
                **source_keys(v),
                **frame_intrinsics(plan, v, (*FRAME_INTRINSICS, "w", "h")),
                **(
                    {"depth_path": str(pass_relpath(v.split, v.index, "depth", ".png").relative_to(rel_to.as_posix()))}
                    if depth
                    else {}
                ),
            }
            for v in plan.split(split)
        ]
        written.append(write_json_atomic(json_path, {**header, "frames": frames}))
    return written


FORMAT = Format(
    name="ngp",
    label="instant-ngp",
    description="instant-ngp's transforms.json with held-out views under eval/",
    image_relpath=image_relpath,
    pass_relpath=pass_relpath,
    write=write,
    read=lambda ds: read_transforms(ds, nerfstudio=False),
    claims=lambda folder: transforms_json_kind(folder) == "ngp",
    files=tuple(FILES),
)
