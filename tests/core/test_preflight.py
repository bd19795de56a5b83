from nerf_dataset.core.camera import Optics, Raster, intrinsics_from_optics
from nerf_dataset.core.framing import fit_radius
from nerf_dataset.core.preflight import human_bytes, preflight

INTR = intrinsics_from_optics(Optics(), Raster(200, 100))


def test_a_fitted_radius_gives_no_warning():
    assert preflight(INTR, 1.0, fit_radius(INTR, 1.0), 400, 4).warnings == ()


def test_camera_inside_and_object_too_big_are_warned():
    assert "inside the object" in preflight(INTR, 1.0, 0.5, 10, 3).warnings[0]
    assert "does not fit" in preflight(INTR, 1.0, 1.5, 10, 3).warnings[0]


def test_passes_add_to_the_size_estimate():
    plain = preflight(INTR, 1.0, 4.0, 10, 3).estimated_bytes
    assert preflight(INTR, 1.0, 4.0, 10, 3, ("depth", "normal", "mask")).estimated_bytes == plain * (3 + 22) // 3


def test_size_estimate_scales_with_views_and_pixels():
    a = preflight(INTR, 1.0, 5.0, 100, 4).estimated_bytes
    assert preflight(INTR, 1.0, 5.0, 200, 4).estimated_bytes == 2 * a
    assert human_bytes(2_500_000) == "2.5 MB"
