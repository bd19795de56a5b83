import math
from pathlib import PurePosixPath

import numpy as np
import pytest
from fake_scenes import facts

from nerf_dataset.core.errors import UserError
from nerf_dataset.core.plan import Plan, build_plan
from nerf_dataset.core.settings import Settings


def namer(split, i):
    return PurePosixPath(split) / f"r_{i}.png"


def test_defaults_mirror_nerf_synthetic():
    plan = build_plan(Settings(), facts(), namer)
    assert [len(plan.split(s)) for s in ("train", "val", "test")] == [100, 100, 200]
    # One frame per view, train then val then test, starting at frame 1.
    assert [v.frame for v in plan.views] == list(range(1, 401))
    assert [v.split for v in plan.views[99:101]] == ["train", "val"]


def test_every_camera_sees_the_whole_target():
    plan = build_plan(Settings(train=20, val=5, test=5), facts(), namer)
    lo, hi = np.array(plan.scene.bounds_min), np.array(plan.scene.bounds_max)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    from nerf_dataset.core.silhouette import project

    for v in plan.views:
        uv, z = project(corners, v.c2w_array(), plan.intrinsics.matrix())
        assert (z > 0).all()
        assert (uv >= 0).all() and (uv[:, 0] <= plan.intrinsics.w).all() and (uv[:, 1] <= plan.intrinsics.h).all()


def test_same_seed_same_bytes_other_seed_differs():
    a = build_plan(Settings(seed=7), facts(), namer).to_json()
    b = build_plan(Settings(seed=7), facts(), namer).to_json()
    c = build_plan(Settings(seed=8), facts(), namer).to_json()
    assert a == b and a != c


def test_plan_round_trips_through_json():
    plan = build_plan(Settings(train=3, val=1, test=2, resolution=(64, 48), lens=35.0), facts(), namer)
    assert Plan.from_json(plan.to_json()) == plan


def test_resolution_and_lens_override_the_scene():
    plan = build_plan(Settings(resolution=(320, 240), lens=25.0, train=1, val=0, test=0), facts(), namer)
    assert (plan.intrinsics.w, plan.intrinsics.h) == (320, 240)
    assert plan.intrinsics.fl_x == pytest.approx(25.0 / 36.0 * 320)


def _camera_path(n):
    path = []
    for f in range(1, n + 1):
        a = 2 * math.pi * f / n
        m = np.eye(4)
        m[:3, 3] = (5 * math.cos(a), 5 * math.sin(a), 1.0)
        path.append((f, tuple(m.reshape(-1))))
    return tuple(path)


def test_camera_rig_holds_out_every_eighth_frame_by_default():
    plan = build_plan(Settings(rig="camera"), facts(camera_path=_camera_path(24)), namer)
    assert [v.source_frame for v in plan.split("test")] == [1, 9, 17]
    assert [v.source_frame for v in plan.split("val")] == [5, 13, 21]
    assert len(plan.split("train")) == 18


def test_camera_rig_counts_must_fit_the_frames():
    with pytest.raises(UserError, match="fewer than"):
        build_plan(Settings(rig="camera", train=20, val=5, test=5), facts(camera_path=_camera_path(24)), namer)
    plan = build_plan(Settings(rig="camera", train=10, val=2, test=4), facts(camera_path=_camera_path(24)), namer)
    frames = [v.source_frame for v in plan.views]
    assert len(frames) == len(set(frames)) == 16


def test_no_views_is_a_user_error():
    with pytest.raises(UserError):
        build_plan(Settings(train=0, val=0, test=0), facts(), namer)


@pytest.mark.parametrize(
    "bad",
    [
        dict(formats=("nerf", "xyz")),
        dict(rig="cube"),
        dict(resolution=(0, 100)),
        dict(resolution=(100000, 100)),
        dict(engine="RENDERMAN"),
        dict(samples=0),
        dict(train=-1),
    ],
)
def test_invalid_settings_name_the_problem(bad):
    with pytest.raises(UserError):
        Settings(**bad).validate(("nerf", "ngp"))
