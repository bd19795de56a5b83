"""Pieces every writer shares: intrinsics keys and matrix rows."""

from __future__ import annotations

from ..core.camera import Intrinsics
from ..core.passes import DEPTH_KIND, DEPTH_PNG_UNIT
from ..core.plan import Plan


def intrinsics_keys(intr: Intrinsics) -> dict:
    """The keys instant-ngp, nerfstudio and torch-ngp read; ``w``/``h`` are integers as strict parsers want."""
    return {
        "camera_angle_x": intr.camera_angle_x,
        "camera_angle_y": intr.camera_angle_y,
        "fl_x": intr.fl_x,
        "fl_y": intr.fl_y,
        "cx": intr.cx,
        "cy": intr.cy,
        "w": int(intr.w),
        "h": int(intr.h),
    }


# Per-frame keys of the pass files: nerfstudio's names, used by the NeRF-synthetic output too.
PASS_KEYS = {"depth": "depth_file_path", "normal": "normal_file_path", "mask": "mask_path"}


def depth_keys(plan: Plan) -> dict:
    """What the depth files hold, for readers and people: kind, unit and the PNG's unit per count."""
    if "depth" not in plan.settings.passes:
        return {}
    return {"depth_kind": DEPTH_KIND, "depth_unit": plan.scene.unit, "depth_png_unit": DEPTH_PNG_UNIT}


def matrix_rows(c2w) -> list[list[float]]:
    return [list(row) for row in c2w]
