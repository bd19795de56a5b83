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
    props.use_train, props.use_val, props.use_test = True, True, True
    props.train, props.val, props.test = 4, 2, 3
    props.use_resolution, props.resolution = True, (40, 30)
    props.use_samples, props.samples = True, 4
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
    assert not flawed and "validate: 0 problems in 9 views × 2 formats" in message, message

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
    props.use_radius, props.radius = True, 0.3
    assert "inside the object" in feedback(fresh_bpy.context, props).warnings[0]
    props.radius = 2.0
    assert "does not fit" in feedback(fresh_bpy.context, props).warnings[0]


def test_bad_input_is_reported_as_one_sentence(scene, fresh_bpy, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    scene.nerf_dataset.output_dir = str(foreign)
    with pytest.raises(RuntimeError, match="Output Folder .* holds files this tool did not write"):
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


def test_camera_rig_with_the_panels_defaults_gives_the_clis_split(fresh_bpy, tmp_path):
    """A 250-frame scene camera and untouched view counts: the panel sends "auto" as the CLI does (187/31/32)."""
    nerf_dataset.register()
    try:
        from nerf_dataset.app.pipeline import plan_scene
        from nerf_dataset.blender_io.demo import build_demo_scene
        from nerf_dataset.commands.render import build_parser, settings_from_args
        from nerf_dataset.operators.scene_values import settings_from_props, source_from_props
        from nerf_dataset.panels.main import feedback

        scene = build_demo_scene()
        scene.frame_start, scene.frame_end = 1, 250
        props = scene.nerf_dataset
        props.rig = "camera"
        from_panel = settings_from_props(props, fresh_bpy.context)
        from_cli = settings_from_args(build_parser().parse_args(["--out", "x", "--rig", "camera"]))
        assert from_panel == from_cli
        plan = plan_scene(from_panel, source_from_props(props))[2]
        assert [len(plan.split(s)) for s in ("train", "val", "test")] == [187, 31, 32]
        assert feedback(fresh_bpy.context, props).views == 250
        assert fresh_bpy.ops.nerf_dataset.build_rig() == {"FINISHED"}
    finally:
        nerf_dataset.unregister()


def test_errors_name_settings_by_their_panel_labels(scene, fresh_bpy):
    props = scene.nerf_dataset
    props.rig = "camera"
    scene.frame_start, scene.frame_end = 1, 5  # fewer frames than the 9 views asked for
    with pytest.raises(RuntimeError, match="Rig camera has 5 frames") as failure:
        fresh_bpy.ops.nerf_dataset.build_rig()
    assert "--" not in str(failure.value)


def test_every_setting_is_a_panel_property_with_its_label(scene):
    from nerf_dataset.core.options import switch_of
    from nerf_dataset.core.settings import SETTING_FIELDS, Settings, label_of

    rna = scene.nerf_dataset.bl_rna.properties
    for name in SETTING_FIELDS:
        assert rna[name].name == label_of(name)
        assert switch_of(Settings, name) is None or switch_of(Settings, name) in rna


def test_the_panel_draws_every_setting(scene):
    from nerf_dataset.core.settings import SETTING_FIELDS
    from nerf_dataset.panels.main import ARRANGED

    assert ARRANGED <= set(SETTING_FIELDS)  # the rest is drawn in the output box, as described
