"""The rig camera's animation is the plan; rendering leaves the user's scene as it was."""

from __future__ import annotations

import numpy as np

from nerf_dataset.app.ownership import image_namer
from nerf_dataset.core.settings import Settings


def demo_plan(bpy, settings):
    from nerf_dataset.blender_io.demo import build_demo_scene
    from nerf_dataset.blender_io.scene import pick_target, scene_facts
    from nerf_dataset.core.plan import build_plan

    scene = build_demo_scene()
    target, objs = pick_target(scene, None)
    return scene, build_plan(settings, scene_facts(scene, target, objs, settings.rig), image_namer(settings.formats))


def test_every_frame_of_the_rig_shows_its_planned_view(fresh_bpy):
    from nerf_dataset.blender_io.rig import build_rig_camera

    scene, plan = demo_plan(fresh_bpy, Settings(train=12, val=4, test=6, rig="spiral"))
    camera = build_rig_camera(scene, plan)
    for view in plan.views:
        scene.frame_set(view.frame)
        assert np.allclose(np.array(camera.matrix_world), view.c2w_array(), atol=1e-6)
    # Between keys the camera holds the last view instead of blending two.
    scene.frame_set(plan.views[0].frame)
    held = np.array(camera.matrix_world)
    scene.frame_set(plan.views[0].frame, subframe=0.5)
    assert np.allclose(np.array(camera.matrix_world), held)


def test_rebuilding_the_rig_adds_no_data_blocks(fresh_bpy):
    from nerf_dataset.blender_io.rig import build_rig_camera

    bpy = fresh_bpy
    scene, plan = demo_plan(bpy, Settings(train=5, val=1, test=2))
    from nerf_dataset.blender_io.rig import find_rig

    build_rig_camera(scene, plan)
    counts = lambda: (len(bpy.data.objects), len(bpy.data.cameras), len(bpy.data.actions))
    before = counts()
    camera, center = find_rig(scene)
    camera.name = "renamed by the user"
    build_rig_camera(scene, plan, *find_rig(scene))
    assert counts() == before
    assert find_rig(scene) == (camera, center)


def test_render_restores_the_users_scene_settings(fresh_bpy, tmp_path):
    from nerf_dataset.blender_io.render import ViewRenderer
    from nerf_dataset.blender_io.rig import build_rig_camera

    scene, plan = demo_plan(
        fresh_bpy, Settings(train=2, val=1, test=1, resolution=(16, 12), samples=1, transparent=True)
    )
    r = scene.render
    snapshot = lambda: (
        scene.camera.name, scene.frame_start, scene.frame_end, scene.frame_current, r.resolution_x, r.resolution_y,
        r.resolution_percentage, r.filepath, r.engine, r.film_transparent, r.image_settings.color_mode,
        scene.cycles.samples,
    )  # fmt: skip
    before = snapshot()
    camera = build_rig_camera(scene, plan)
    ViewRenderer(scene, camera, plan, tmp_path, plan.views).run()
    assert snapshot() == before
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["r_0.png", "r_1.png"]


def test_each_frame_is_published_as_soon_as_blender_writes_it(fresh_bpy, tmp_path):
    """A crash loses at most the frame in progress: no finished frame waits in staging for its chunk."""
    from nerf_dataset.blender_io.render import ViewRenderer
    from nerf_dataset.blender_io.rig import build_rig_camera
    from nerf_dataset.core.layout import STAGING_DIR

    scene, plan = demo_plan(fresh_bpy, Settings(train=6, val=0, test=0, resolution=(16, 12), samples=1))
    job = ViewRenderer(scene, build_rig_camera(scene, plan), plan, tmp_path, plan.views)
    waiting_in_staging = []
    job.on_view = lambda view: waiting_in_staging.append(len(list((tmp_path / STAGING_DIR).glob("*.png"))))
    job.run()
    assert waiting_in_staging == [0] * 6


def test_the_rig_keys_each_views_own_intrinsics_and_rebuilds_cleanly(fresh_bpy, tmp_path):
    """A zoomed scene camera (issue 15): on each view's frame the rig camera has that view's intrinsics, and a
    rebuild (resume) re-keys them without adding actions."""
    from blend_scenes import save_zoom_blend

    from nerf_dataset.blender_io.rig import build_rig_camera, find_rig
    from nerf_dataset.blender_io.scene import pick_target, read_optics, read_raster, scene_facts
    from nerf_dataset.core.camera import intrinsics_from_optics
    from nerf_dataset.core.plan import build_plan

    bpy = fresh_bpy
    save_zoom_blend(tmp_path / "zoom.blend", 8)
    scene = bpy.context.scene
    target, objs = pick_target(scene, "NeRF Demo Object")
    settings = Settings(rig="camera", formats=("nerfstudio",))
    plan = build_plan(settings, scene_facts(scene, target, objs, "camera"), image_namer(settings.formats))
    assert plan.per_view_intrinsics
    build_rig_camera(scene, plan)
    actions = len(bpy.data.actions)
    camera = build_rig_camera(scene, plan, *find_rig(scene))
    assert len(bpy.data.actions) == actions
    scene.camera = camera
    for view in plan.views:
        scene.frame_set(view.frame)
        got, want = intrinsics_from_optics(read_optics(scene), read_raster(scene)), plan.intrinsics_of(view)
        assert np.allclose([got.fl_x, got.fl_y, got.cx, got.cy], [want.fl_x, want.fl_y, want.cx, want.cy])
