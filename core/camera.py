"""Pinhole intrinsics of a Blender perspective camera, exactly as Blender's renderer forms its view plane.

Blender's rule (``BKE_camera_params_compute_viewplane``): the sensor dimension named by ``sensor_fit``
spans the image side it fits; AUTO fits the sensor *width* to the longer side (in pixel-aspect-corrected
units); shift is measured in units of that fitted side. Checked against Cycles renders to < 0.1 px
(``tests/blender/test_geometric_truth.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

SensorFit = Literal["AUTO", "HORIZONTAL", "VERTICAL"]


@dataclass(frozen=True)
class Optics:
    """A perspective camera's optics, in Blender's own terms."""

    lens_mm: float = 50.0
    """Focal length in millimetres."""
    sensor_width_mm: float = 36.0
    sensor_height_mm: float = 24.0
    sensor_fit: SensorFit = "AUTO"
    shift_x: float = 0.0
    """Lens shift in units of the fitted image side (Blender's ``shift_x``)."""
    shift_y: float = 0.0
    clip_start: float = 0.1
    clip_end: float = 1000.0


@dataclass(frozen=True)
class Raster:
    """The rendered image: pixel size after ``resolution_percentage`` and the pixel aspect ratio."""

    width: int
    height: int
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels; see ``core.conventions`` for the pixel frame (corner origin)."""

    w: int
    h: int
    fl_x: float
    fl_y: float
    cx: float
    cy: float

    @property
    def camera_angle_x(self) -> float:
        """Horizontal field of view in radians, as NeRF-synthetic's ``camera_angle_x`` (centred principal point)."""
        return 2.0 * math.atan(self.w / (2.0 * self.fl_x))

    @property
    def camera_angle_y(self) -> float:
        return 2.0 * math.atan(self.h / (2.0 * self.fl_y))

    def matrix(self):
        import numpy as np

        return np.array([[self.fl_x, 0.0, self.cx], [0.0, self.fl_y, self.cy], [0.0, 0.0, 1.0]])


def resolved_fit(optics: Optics, raster: Raster) -> Literal["HORIZONTAL", "VERTICAL"]:
    if optics.sensor_fit != "AUTO":
        return optics.sensor_fit
    wide = raster.width * raster.pixel_aspect_x >= raster.height * raster.pixel_aspect_y
    return "HORIZONTAL" if wide else "VERTICAL"


def intrinsics_from_optics(optics: Optics, raster: Raster) -> Intrinsics:
    """Intrinsics of ``optics`` rendering ``raster``, matching Blender's view plane."""
    fit = resolved_fit(optics, raster)
    sensor_mm = optics.sensor_height_mm if optics.sensor_fit == "VERTICAL" else optics.sensor_width_mm
    # y-correction of non-square pixels: one image row spans ycor times the height of a column's width.
    ycor = raster.pixel_aspect_y / raster.pixel_aspect_x
    fitted_side_px = raster.width if fit == "HORIZONTAL" else ycor * raster.height
    fl_x = optics.lens_mm / sensor_mm * fitted_side_px
    return Intrinsics(
        w=raster.width,
        h=raster.height,
        fl_x=fl_x,
        fl_y=fl_x / ycor,
        cx=raster.width / 2.0 - optics.shift_x * fitted_side_px,
        cy=raster.height / 2.0 + optics.shift_y * fitted_side_px / ycor,
    )


def horizontal_optics(intr: Intrinsics, raster: Raster, like: Optics) -> Optics:
    """Optics that make Blender render exactly ``intr`` on ``raster``: the sensor width fitted to the image
    width, so only lens and shift change from view to view (three animatable values, whatever the user keyed:
    lens, sensor size, sensor fit or shift). Clipping is kept from ``like``."""
    ycor = raster.pixel_aspect_y / raster.pixel_aspect_x
    sensor_mm = like.sensor_width_mm
    return Optics(
        lens_mm=intr.fl_x / intr.w * sensor_mm,
        sensor_width_mm=sensor_mm,
        sensor_height_mm=like.sensor_height_mm,
        sensor_fit="HORIZONTAL",
        shift_x=(intr.w / 2.0 - intr.cx) / intr.w,
        shift_y=(intr.cy - intr.h / 2.0) * ycor / intr.w,
        clip_start=like.clip_start,
        clip_end=like.clip_end,
    )


def half_angles_to_edges(intr: Intrinsics) -> tuple[float, float, float, float]:
    """Angles (radians) from the optical axis to the left, right, top and bottom image edges."""
    return (
        math.atan(intr.cx / intr.fl_x),
        math.atan((intr.w - intr.cx) / intr.fl_x),
        math.atan(intr.cy / intr.fl_y),
        math.atan((intr.h - intr.cy) / intr.fl_y),
    )
