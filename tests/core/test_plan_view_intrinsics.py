"""Per-view intrinsics (issue 15): a ``--rig camera`` whose lens, sensor or shift is animated gets each view's
own intrinsics in the plan, in every format that holds them, and NeRF-synthetic is refused up front."""

import json
import math

import numpy as np
import pytest
from fake_scenes import facts
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from nerf_dataset.app.dataset import export
from nerf_dataset.app.ownership import image_namer
from nerf_dataset.app.validate import validate
from nerf_dataset.core.camera import Optics, Raster, horizontal_optics, intrinsics_from_optics
from nerf_dataset.core.colmap_model import read_model
from nerf_dataset.core.errors import UserError
from nerf_dataset.core.plan import Plan, build_plan, check_formats_hold, save_plan
from nerf_dataset.core.settings import Settings
from nerf_dataset.exporters import FORMATS

N = 12
FORMATS_THAT_HOLD = ("nerfstudio", "colmap", "ngp")


def _path(n=N):
    path = []
    for f in range(1, n + 1):
        m = np.eye(4)
        m[:3, 3] = (5 * math.cos(f), 5 * math.sin(f), 1.0)
        path.append((f, tuple(m.reshape(-1))))
    return tuple(path)


def zoom(n=N, **optics):
    """The scene camera's optics per frame: lens 40 -> 65 mm and a shift that drifts."""
    return tuple(Optics(lens_mm=40 + 25 * i / (n - 1), shift_x=0.05 - 0.1 * i / (n - 1), **optics) for i in range(n))


def plan_of(camera_optics, formats=FORMATS_THAT_HOLD, raster=None, **kw) -> Plan:
    scene = facts(raster=raster, camera_path=_path())
    scene = type(scene)(**{**scene.__dict__, "camera_optics": camera_optics})
    return build_plan(Settings(rig="camera", formats=formats, **kw), scene, image_namer(formats))


def test_each_view_gets_its_frames_intrinsics():
    plan = plan_of(zoom())
    raster = plan.scene.raster
    assert plan.per_view_intrinsics
    for v in plan.views:
        assert plan.intrinsics_of(v) == intrinsics_from_optics(zoom()[v.source_frame - 1], raster)
    assert plan.intrinsics == plan.intrinsics_of(plan.views[0])


def test_lens_override_applies_to_every_frame_and_leaves_the_shift():
    plan = plan_of(zoom(), lens=35.0)
    fls = {plan.intrinsics_of(v).fl_x for v in plan.views}
    cxs = {plan.intrinsics_of(v).cx for v in plan.views}
    assert len(fls) == 1 and len(cxs) == N


def test_one_optics_on_every_frame_is_one_camera():
    plan = plan_of((Optics(lens_mm=42),) * N)
    assert not plan.per_view_intrinsics and plan.scene.optics.lens_mm == 42
    assert '"camera_optics"' not in plan.to_json() and '"intrinsics": {' not in plan.to_json().split('"views"')[1]


def test_the_saved_plan_keeps_every_views_intrinsics(tmp_path):
    plan = plan_of(zoom())
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.to_json() == plan.to_json()


def test_an_edited_views_intrinsics_are_refused():
    d = json.loads(plan_of(zoom()).to_json())
    d["views"][0]["intrinsics"]["w"] += 1
    with pytest.raises(ValueError, match="intrinsics"):
        Plan.from_json(json.dumps(d))


@given(
    lens=st.floats(10, 200),
    shift=st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5)),
    fit=st.sampled_from(["AUTO", "HORIZONTAL", "VERTICAL"]),
    size=st.tuples(st.integers(16, 800), st.integers(16, 800)),
    aspect=st.sampled_from([(1, 1), (1, 2), (2, 1), (3, 2)]),
)
def test_horizontal_optics_render_the_same_intrinsics(lens, shift, fit, size, aspect):
    raster = Raster(*size, *aspect)
    intr = intrinsics_from_optics(Optics(lens_mm=lens, shift_x=shift[0], shift_y=shift[1], sensor_fit=fit), raster)
    again = intrinsics_from_optics(horizontal_optics(intr, raster, Optics()), raster)
    assert np.allclose([again.fl_x, again.fl_y, again.cx, again.cy], [intr.fl_x, intr.fl_y, intr.cx, intr.cy])


@pytest.mark.parametrize("case", ["varying", "tall_pixels"])
def test_nerf_synthetic_is_refused_with_the_formats_that_hold_it(case):
    optics, raster = (zoom(), None) if case == "varying" else ((), Raster(200, 150, 1.0, 2.0))
    plan = plan_of(optics, formats=("nerf", "ngp"), raster=raster)
    with pytest.raises(UserError) as err:
        check_formats_hold(plan, FORMATS)
    line = str(err.value)
    assert "\n" not in line and "--format nerf cannot hold this dataset" in line
    assert line.endswith("use ngp, nerfstudio, colmap")


def test_constant_square_cameras_are_held_by_every_format():
    check_formats_hold(plan_of((), formats=tuple(FORMATS)), FORMATS)


def rendered(tmp_path, plan):
    save_plan(plan, tmp_path)
    for v in plan.views:
        (tmp_path / v.image).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGBA", (plan.intrinsics.w, plan.intrinsics.h)).save(tmp_path / v.image)
    export(plan, tmp_path)
    return plan


def own(plan, v):
    i = plan.intrinsics_of(v)
    return [i.fl_x, i.fl_y, i.cx, i.cy]


def test_nerfstudio_frames_hold_what_its_dataparser_reads_per_frame(tmp_path):
    plan = rendered(tmp_path, plan_of(zoom(), formats=("nerfstudio",)))
    d = json.loads((tmp_path / "transforms.json").read_text())
    # nerfstudio takes a key from the header when it is there: the header must not hold them.
    assert not {"fl_x", "fl_y", "cx", "cy"} & d.keys() and (d["w"], d["h"]) == (200, 150)
    for v, frame in zip(plan.views, d["frames"], strict=True):
        assert [frame[k] for k in ("fl_x", "fl_y", "cx", "cy")] == own(plan, v)


def test_ngp_frames_carry_w_and_h_beside_their_principal_point(tmp_path):
    plan = rendered(tmp_path, plan_of(zoom(), formats=("ngp",)))
    frames = []
    for rel in ("transforms.json", "eval/transforms_val.json", "eval/transforms_test.json"):
        d = json.loads((tmp_path / rel).read_text())
        assert "fl_x" not in d and "camera_angle_x" not in d
        frames += d["frames"]
    assert len(frames) == len(plan.views)
    for f in frames:
        assert {"fl_x", "fl_y", "cx", "cy", "w", "h"} <= f.keys() and (f["w"], f["h"]) == (200, 150)


def test_colmap_has_one_camera_per_distinct_intrinsics(tmp_path):
    plan = rendered(tmp_path, plan_of(zoom(), formats=("colmap",)))
    cameras, images = read_model(tmp_path / "sparse" / "0", tmp_path)
    assert len(cameras) == len({tuple(own(plan, v)) for v in plan.views}) == N
    for image_id, v in enumerate(plan.views, start=1):
        K = cameras[images[image_id].camera_id].K()
        assert np.allclose([K[0, 0], K[1, 1], K[0, 2], K[1, 2]], own(plan, v))


@pytest.mark.parametrize("formats", [("nerfstudio",), ("ngp",), ("colmap",)])
def test_validate_reads_each_frames_own_camera(tmp_path, formats):
    plan = rendered(tmp_path, plan_of(zoom(), formats=formats))
    report = validate(tmp_path)
    assert not report.problems, report.problems
    Ks = sorted(round(float(c.K[0, 0]), 6) for ds in report.datasets for c in ds.cameras)
    assert Ks == sorted(round(own(plan, v)[0], 6) for v in plan.views)


def test_validate_reports_nerf_synthetic_camera_angle_y_against_square_pixels(tmp_path):
    rendered(tmp_path, plan_of((), formats=("nerf",)))
    assert not validate(tmp_path).problems
    path = tmp_path / "transforms_train.json"
    d = json.loads(path.read_text())
    d["camera_angle_y"] *= 1.5
    path.write_text(json.dumps(d))
    problems = [p.message for p in validate(tmp_path).problems if "camera_angle_y" in p.message]
    assert problems and "contradicts square pixels" in problems[0]


def test_the_test_views_camera_path_zooms_with_them(tmp_path):
    from nerf_dataset.core.camera_path import fov_y_deg, write_camera_paths

    plan = plan_of(zoom(), train=4, val=0, test=4)
    (path,) = write_camera_paths(plan, tmp_path)
    fovs = [c["fov"] for c in json.loads(path.read_text())["camera_path"]]
    assert fovs == pytest.approx([fov_y_deg(plan.intrinsics_of(v).fl_y, 150) for v in plan.split("test")])
    assert len(set(fovs)) == 4


def test_validate_reports_frames_their_consumer_would_read_wrongly(tmp_path):
    """nerfstudio ignores a frame's fl_x under a header fl_x; instant-ngp throws without any fl_x."""
    rendered(tmp_path / "ns", plan_of(zoom(), formats=("nerfstudio",)))
    path = tmp_path / "ns" / "transforms.json"
    d = json.loads(path.read_text())
    d.update({k: d["frames"][0][k] for k in ("fl_x", "fl_y", "cx", "cy")})
    path.write_text(json.dumps(d))
    problems = [p.message for p in validate(tmp_path / "ns").problems]
    assert any("which nerfstudio ignores" in m for m in problems), problems
    rendered(tmp_path / "ngp", plan_of(zoom(), formats=("ngp",)))
    path = tmp_path / "ngp" / "transforms.json"
    d = json.loads(path.read_text())
    del d["frames"][0]["fl_x"]
    path.write_text(json.dumps(d))
    problems = [p.message for p in validate(tmp_path / "ngp").problems]
    assert any("1 frames have no fl_x" in m for m in problems), problems


def test_an_angle_whose_tangent_underflows_is_never_fatal(tmp_path):
    """hypothesis found it: camera_angle_x = 5e-324 made the square-pixel check divide by zero."""
    rendered(tmp_path, plan_of((), formats=("nerf",)))
    path = tmp_path / "transforms_train.json"
    d = json.loads(path.read_text())
    d["camera_angle_x"] = 5e-324
    path.write_text(json.dumps(d))
    validate(tmp_path)  # runs to its end: a report, not a traceback
