"""A plan this tool makes reads back as itself, however odd the user's scene (what Blender allows, the checks of a
read-back plan allow); a camera that the rig cannot render as planned is refused when planning, not after."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fake_scenes import facts
from test_plan_view_intrinsics import _path

from nerf_dataset.app.ownership import image_namer
from nerf_dataset.core.camera import Optics, Raster
from nerf_dataset.core.errors import UserError
from nerf_dataset.core.plan import Plan, build_plan
from nerf_dataset.core.settings import Settings

namer = image_namer(("nerfstudio",))


@pytest.mark.parametrize(
    "scene",
    [
        dataclasses.replace(facts(), fps=2000.0),  # Blender's fps goes to 32767 (and fps_base below 1)
        facts(optics=Optics(clip_start=float(np.float32(1e-6)))),  # Blender's floor, stored as a float32
        dataclasses.replace(facts(), source="/scenes/tab\tname.blend"),  # a file name may hold a tab
        facts(raster=Raster(200, 150, 2.0, 1.0)),
        facts(optics=Optics(lens_mm=1.0, sensor_width_mm=100.0, shift_x=10.0)),
    ],
)
def test_a_plan_of_a_scene_blender_allows_reads_back_as_itself(scene):
    settings = Settings(train=2, val=1, test=1, formats=("nerfstudio",))
    plan = build_plan(settings, scene, namer)
    assert Plan.from_json(plan.to_json()).to_json() == plan.to_json()  # read back, not refused as damaged


def test_a_shift_the_rig_cannot_render_is_refused_when_planning():
    """A portrait image fitted vertically with shift 9 is a shift of 12 image widths on the rig's horizontally
    fitted sensor: Blender would clamp it to 10 and render another camera than the one published."""
    n = 8
    optics = [Optics(lens_mm=35 + k, sensor_fit="VERTICAL", shift_x=9.0, shift_y=9.0) for k in range(n)]
    scene = facts(raster=Raster(24, 32), optics=optics[0], camera_path=_path(n))
    scene = dataclasses.replace(scene, camera_optics=tuple(optics))
    with pytest.raises(UserError, match="needs a lens shift of 12 image widths, beyond Blender's 10"):
        build_plan(Settings(rig="camera", formats=("nerfstudio",)), scene, namer)
