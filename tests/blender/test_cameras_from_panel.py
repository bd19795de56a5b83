"""Issue 16 in Blender's UI: File > Import > NeRF / COLMAP Cameras, and the "Cameras from Dataset" rig in the panel."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import nerf_dataset
from nerf_dataset.core.conventions import look_at_c2w_opengl

W, H = 40, 30


@pytest.fixture
def scene(fresh_bpy, tmp_path):
    nerf_dataset.register()
    from nerf_dataset.blender_io.demo import build_demo_scene

    scene = build_demo_scene()
    yield scene
    nerf_dataset.unregister()


def _source(folder, n=6, **extra):
    """A nerfstudio dataset as another tool writes it: each frame its own focal length and principal point."""
    frames = [
        {
            "file_path": f"images/frame_{i:05d}.png",
            "transform_matrix": look_at_c2w_opengl([5 * math.cos(i), 5 * math.sin(i), 2.0], [1.0, 0.5, 0.8]).tolist(),
            "fl_x": 40.0 + 3 * i,
            "fl_y": 40.0 + 3 * i,
            "cx": 20.0 + 0.5 * i,
            "cy": 14.0,
        }
        for i in range(n)
    ]
    meta = {"camera_model": "OPENCV", "w": W, "h": H, "frames": frames, "test_filenames": [frames[1]["file_path"]]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transforms.json").write_text(json.dumps({**meta, **extra}))
    return frames


def _intrinsics_at(scene, cam, frame):
    from nerf_dataset.blender_io.scene import read_optics, read_raster
    from nerf_dataset.core.camera import intrinsics_from_optics

    scene.frame_set(frame)
    return intrinsics_from_optics(read_optics(scene, cam), read_raster(scene))


def test_import_makes_one_keyed_camera_to_look_through(scene, fresh_bpy, tmp_path):
    frames = _source(tmp_path / "src")
    assert fresh_bpy.ops.nerf_dataset.import_cameras(filepath=str(tmp_path / "src" / "transforms.json")) == {"FINISHED"}
    cam = scene.camera
    assert (scene.render.resolution_x, scene.render.resolution_y) == (W, H)
    assert scene.frame_end - scene.frame_start + 1 == len(frames)
    for i, f in enumerate(frames):
        intr = _intrinsics_at(scene, cam, scene.frame_start + i)
        assert np.allclose(np.array(cam.matrix_world), f["transform_matrix"], atol=1e-5)
        assert np.allclose(
            [intr.fl_x, intr.fl_y, intr.cx, intr.cy], [f["fl_x"], f["fl_y"], f["cx"], f["cy"]], atol=1e-4
        )
    props = scene.nerf_dataset
    assert props.rig == "dataset" and props.cameras_from == str(tmp_path / "src" / "transforms.json")


def test_import_one_camera_per_view(scene, fresh_bpy, tmp_path):
    frames = _source(tmp_path / "src")
    fresh_bpy.ops.nerf_dataset.import_cameras(filepath=str(tmp_path / "src"), per_view=True)
    made = [o for o in scene.objects if o.type == "CAMERA" and o.users_collection[0].name.startswith("NeRF Dataset")]
    assert len(made) == len(frames)
    assert sorted(o.name.split(":")[0] for o in made) == ["test"] + ["train"] * 5
    third = next(o for o in made if o.name.endswith("frame_00002.png"))
    intr = _intrinsics_at(scene, third, scene.frame_start)
    assert np.allclose(np.array(third.matrix_world), frames[2]["transform_matrix"], atol=1e-5)
    assert np.isclose(intr.fl_x, frames[2]["fl_x"], atol=1e-4)


def test_a_refused_source_is_one_report(scene, fresh_bpy, tmp_path):
    _source(tmp_path / "src", k1=0.2)
    with pytest.raises(RuntimeError, match="lens distortion") as failure:
        fresh_bpy.ops.nerf_dataset.import_cameras(filepath=str(tmp_path / "src"))
    assert "Traceback" not in str(failure.value)


def test_the_panels_dataset_rig_renders_what_the_cli_plans(scene, fresh_bpy, tmp_path):
    from nerf_dataset.commands.render import build_parser, settings_from_args
    from nerf_dataset.operators.scene_values import settings_from_props
    from nerf_dataset.panels.main import feedback

    _source(tmp_path / "src")
    props = scene.nerf_dataset
    props.rig, props.cameras_from = "dataset", str(tmp_path / "src")
    props.formats = {"nerfstudio"}
    props.use_samples, props.samples = True, 2
    info = feedback(fresh_bpy.context, props)
    assert info.views == 6 and info.warnings == ()
    cli = ["--out", "x", "--cameras-from", str(tmp_path / "src"), "--format", "nerfstudio", "--samples", "2"]
    assert settings_from_props(props, fresh_bpy.context) == settings_from_args(build_parser().parse_args(cli))

    props.output_dir = str(tmp_path / "out")
    assert fresh_bpy.ops.nerf_dataset.render() == {"FINISHED"}
    written = json.loads((tmp_path / "out" / "transforms.json").read_text())
    source = json.loads((tmp_path / "src" / "transforms.json").read_text())
    assert written["test_filenames"] == ["images/test_0000.png"]
    mine = {f["source_image"]: f for f in written["frames"]}
    for f in source["frames"]:
        assert np.allclose(mine[f["file_path"]]["transform_matrix"], f["transform_matrix"])
        assert [mine[f["file_path"]][k] for k in ("fl_x", "cx")] == [f["fl_x"], f["cx"]]

    _source(tmp_path / "src", k1=0.2)  # the panel says why before anything renders
    assert "lens distortion" in feedback(fresh_bpy.context, props).warnings[0]


def test_the_panel_guides_until_the_source_can_be_rendered(scene, fresh_bpy, tmp_path):
    from nerf_dataset.panels.main import feedback

    props = scene.nerf_dataset
    props.rig = "dataset"  # just picked: no source yet
    assert "Choose the dataset" in feedback(fresh_bpy.context, props).warnings[0]
    _source(tmp_path / "src")
    props.cameras_from, props.holdout = str(tmp_path / "src"), 1
    assert "every view a test view" in feedback(fresh_bpy.context, props).warnings[0]
    with pytest.raises(RuntimeError, match="every view a test view"):
        fresh_bpy.ops.nerf_dataset.import_cameras(filepath=str(tmp_path / "src"), holdout=1)
    assert not [c for c in fresh_bpy.data.collections if c.name.startswith("NeRF Dataset")]
