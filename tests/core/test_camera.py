"""Intrinsics of Blender's camera model. The table's values were measured against Cycles renders
(emissive-sphere centroids, see shared/research/blender-headless.md §7)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerf_dataset.core.camera import Optics, Raster, intrinsics_from_optics

TABLE = [
    # (w, h, fit, shift, pixel aspect, fx, fy, cx, cy)
    (320, 240, "AUTO", (0.1, 0.0), (1, 1), 311.111, 311.111, 128.0, 120.0),
    (240, 320, "AUTO", (0.1, 0.0), (1, 1), 311.111, 311.111, 88.0, 160.0),
    (240, 320, "AUTO", (0.1, -0.05), (1, 1), 311.111, 311.111, 88.0, 144.0),
    (320, 240, "HORIZONTAL", (0.1, 0.05), (1, 1), 311.111, 311.111, 128.0, 136.0),
    (240, 320, "VERTICAL", (0.1, 0.05), (1, 1), 466.667, 466.667, 88.0, 176.0),
    (320, 240, "AUTO", (0.1, 0.05), (1, 2), 466.667, 233.333, 112.0, 132.0),
    (240, 320, "AUTO", (0.1, 0.05), (2, 1), 233.333, 466.667, 96.0, 184.0),
    (320, 240, "VERTICAL", (-0.2, 0.1), (1.5, 1), 233.333, 350.0, 192.0, 144.0),
]


@pytest.mark.parametrize("w,h,fit,shift,aspect,fx,fy,cx,cy", TABLE)
def test_intrinsics_match_measured_blender_cameras(w, h, fit, shift, aspect, fx, fy, cx, cy):
    optics = Optics(
        lens_mm=35, sensor_width_mm=36, sensor_height_mm=24, sensor_fit=fit, shift_x=shift[0], shift_y=shift[1]
    )
    intr = intrinsics_from_optics(optics, Raster(w, h, *aspect))
    assert (intr.fl_x, intr.fl_y, intr.cx, intr.cy) == pytest.approx((fx, fy, cx, cy), abs=1e-3)
    assert (intr.w, intr.h) == (w, h) and isinstance(intr.w, int)


def test_camera_angle_x_is_the_horizontal_field_of_view():
    intr = intrinsics_from_optics(Optics(lens_mm=50, sensor_width_mm=36), Raster(800, 800))
    assert intr.camera_angle_x == pytest.approx(2 * math.atan(18 / 50))


@given(
    lens=st.floats(5, 300),
    w=st.integers(8, 4096),
    h=st.integers(8, 4096),
    fit=st.sampled_from(["AUTO", "HORIZONTAL", "VERTICAL"]),
)
def test_fitted_sensor_side_spans_its_image_side(lens, w, h, fit):
    """Whatever the fit, the fitted sensor dimension maps exactly onto the image side Blender fits it to."""
    optics = Optics(lens_mm=lens, sensor_width_mm=36, sensor_height_mm=24, sensor_fit=fit)
    intr = intrinsics_from_optics(optics, Raster(w, h))
    horizontal = fit == "HORIZONTAL" or (fit == "AUTO" and w >= h)
    sensor = 24 if fit == "VERTICAL" else 36
    side_px = w if horizontal else h
    focal = intr.fl_x if horizontal else intr.fl_y
    assert side_px / focal == pytest.approx(sensor / lens, rel=1e-9)
    assert (intr.cx, intr.cy) == (w / 2, h / 2)
