"""Operators registered in this process: cancel and resume, panel feedback, errors as reports."""

from __future__ import annotations

import pytest

import nerf_dataset


@pytest.fixture
def scene(fresh_bpy, tmp_path):
    nerf_dataset.register()
    from nerf_dataset.blender_io.demo import build_demo_scene

    scene = build_demo_scene()
    props = scene.nerf_dataset
    props.train_views, props.val_views, props.test_views = 4, 2, 3
    props.resolution_override, props.resolution_x, props.resolution_y = True, 40, 30
    props.samples_override, props.samples = True, 4
    props.transparent = True
    props.formats = {"nerf", "ngp"}
    yield scene
    nerf_dataset.unregister()


def dataset_files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_cancel_then_resume_equals_an_uninterrupted_run(scene, tmp_path, fresh_bpy):
    from nerf_dataset.operators.render import cancel, finish, start

    context = fresh_bpy.context
    props = scene.nerf_dataset
    props.output_dir = str(tmp_path / "whole")
    job = start(context, resume=False, chunk_frames=1)
    job.render.run()
    message, flawed = finish(job)
    assert not flawed and "validate: 0 problems in 18 views" in message, message

    props.output_dir = str(tmp_path / "cut")
    engine_before = scene.render.engine, scene.render.filepath, scene.camera.name
    job = start(context, resume=False, chunk_frames=1)
    job.render.begin()
    for _ in range(3):
        job.render.step()
    message = cancel(job)  # what the modal operator does on Esc, after the frame in progress
    assert "after 3 of 9 views" in message
    assert (scene.render.engine, scene.render.filepath, scene.camera.name) == engine_before
    assert not list((tmp_path / "cut").rglob("transforms*.json"))
    (tmp_path / "cut" / "nerf" / "train" / "r_1.png").write_bytes(b"\x89PNG truncated by a crash")

    job = start(context, resume=True, chunk_frames=1)
    assert job.render.total == 7  # the two complete images are kept, the truncated one is redone
    job.render.run()
    finish(job)
    whole, cut = dataset_files(tmp_path / "whole"), dataset_files(tmp_path / "cut")
    assert whole.keys() == cut.keys()
    assert [k for k in whole if whole[k] != cut[k]] == []


def test_panel_feedback_counts_views_and_warns_about_framing(scene, fresh_bpy):
    from nerf_dataset.panels.main import feedback

    props = scene.nerf_dataset
    info = feedback(fresh_bpy.context, props)
    assert info.views == 9 and info.estimated_bytes > 0 and info.warnings == ()
    props.radius_auto, props.radius = False, 0.3
    assert "inside the object" in feedback(fresh_bpy.context, props).warnings[0]
    props.radius = 2.0
    assert "does not fit" in feedback(fresh_bpy.context, props).warnings[0]


def test_bad_input_is_reported_as_one_sentence(scene, fresh_bpy, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    scene.nerf_dataset.output_dir = str(foreign)
    with pytest.raises(RuntimeError, match="not empty"):
        fresh_bpy.ops.nerf_dataset.render()
    assert sorted(p.name for p in foreign.iterdir()) == ["keep.txt"]


def test_relative_output_needs_a_saved_blend(scene, fresh_bpy):
    scene.nerf_dataset.output_dir = "//out"
    with pytest.raises(RuntimeError, match="Save the .blend first"):
        fresh_bpy.ops.nerf_dataset.render()


def test_a_view_that_cannot_be_written_is_reported_not_raised(scene, fresh_bpy, tmp_path):
    props = scene.nerf_dataset
    props.output_dir = str(tmp_path / "out")
    fresh_bpy.ops.nerf_dataset.render()
    blocked = tmp_path / "out" / "nerf" / "train" / "r_1.png"
    blocked.unlink()
    blocked.mkdir()  # a folder where the image must go: the render cannot put it back
    with pytest.raises(RuntimeError, match="can be resumed: .*Is a directory") as failure:
        fresh_bpy.ops.nerf_dataset.render(resume=True)
    assert "Traceback" not in str(failure.value)
    assert not list(blocked.parent.glob(".*.tmp"))  # no temporary file left behind


def test_validate_operator_checks_the_output_folder(scene, tmp_path, fresh_bpy):
    from nerf_dataset.operators.render import finish, start

    props = scene.nerf_dataset
    props.output_dir = str(tmp_path / "checked")
    job = start(fresh_bpy.context, resume=False, chunk_frames=1)
    job.render.run()
    finish(job)
    assert fresh_bpy.ops.nerf_dataset.validate() == {"FINISHED"}
    (tmp_path / "checked" / "nerf" / "train" / "r_1.png").unlink()
    assert fresh_bpy.ops.nerf_dataset.validate() == {"FINISHED"}  # reported as a warning, not a failure
    props.output_dir = str(tmp_path / "nowhere")
    with pytest.raises(RuntimeError, match="does not exist yet"):
        fresh_bpy.ops.nerf_dataset.validate()
