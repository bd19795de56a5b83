"""nerfstudio camera paths: written in the frame nerfstudio's dataparser gives the trained model, and
imported back as a Blender camera that retraces the test ring and the user's own animated camera."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nerf_dataset

ARGS = ["--format", "nerfstudio,nerf", "--camera-path-from", "Flycam", "--train", "6", "--val", "2", "--test", "5"]
ARGS += ["--samples", "2", "--points", "0", "--resolution", "80x60"]


@pytest.fixture(scope="module")
def made(tmp_path_factory, user_resources):
    import bpy
    from conftest import run_cli

    from nerf_dataset.blender_io.demo import build_demo_scene

    tmp = tmp_path_factory.mktemp("camera_path")
    scene = build_demo_scene()
    cam = bpy.data.objects.new("Flycam", bpy.data.cameras.new("Flycam"))
    scene.collection.objects.link(cam)
    scene.frame_start, scene.frame_end = 1, 12
    for frame, (loc, rot, lens) in {1: ((6, -6, 2), (1.3, 0, 0.8), 35), 12: ((-5, -7, 4), (1.1, 0, -0.6), 60)}.items():
        cam.location, cam.rotation_euler, cam.data.lens = loc, rot, lens
        cam.keyframe_insert("location", frame=frame)
        cam.keyframe_insert("rotation_euler", frame=frame)
        cam.data.keyframe_insert("lens", frame=frame)
    truth = []
    for frame in range(1, 13):
        scene.frame_set(frame)
        truth.append((np.array(cam.matrix_world), cam.data.lens, cam.data.sensor_width))
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp / "scene.blend"))
    r = run_cli("--blend", tmp / "scene.blend", *ARGS, "--out", tmp / "out", user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    return tmp / "out", truth


def _path(out, name):
    return json.loads((out / "camera_paths" / f"{name}.json").read_text())


def test_test_ring_is_in_nerfstudios_dataparser_frame(made):
    """What nerfstudio-data does with our transforms.json (orientation_override "none", centre on the mean
    camera position, scale so the farthest camera sits at 1), done here from the JSON alone."""
    out, _ = made
    meta = json.loads((out / "nerfstudio" / "transforms.json").read_text())
    assert meta["orientation_override"] == "none"
    poses = np.array([f["transform_matrix"] for f in meta["frames"]])
    mean = poses[:, :3, 3].mean(axis=0)
    scale = 1.0 / np.abs(poses[:, :3, 3] - mean).max()
    by_name = {f["file_path"]: np.array(f["transform_matrix"]) for f in meta["frames"]}
    path = _path(out, "test_ring")
    assert len(path["camera_path"]) == len(meta["test_filenames"]) == 5
    assert (path["render_width"], path["render_height"]) == (80, 60)
    for name, cam in zip(meta["test_filenames"], path["camera_path"], strict=True):
        expected = by_name[name].copy()
        expected[:3, 3] = (expected[:3, 3] - mean) * scale
        assert np.allclose(np.array(cam["camera_to_world"]).reshape(4, 4), expected, atol=1e-9)
        # ns-render's pinhole: focal = (render_height / 2) / tan(fov / 2), fx = fy, centred
        focal = path["render_height"] / 2 / np.tan(np.radians(cam["fov"]) / 2)
        assert focal == pytest.approx(meta["fl_y"], rel=1e-9)
    assert path["seconds"] * path["fps"] == pytest.approx(5)


@pytest.fixture
def blank(fresh_bpy):
    nerf_dataset.register()
    yield fresh_bpy
    nerf_dataset.unregister()


def _imported(bpy, path, **kw):
    assert bpy.ops.nerf_dataset.import_camera_path(filepath=str(path), **kw) == {"FINISHED"}
    scene = bpy.context.scene
    cam = scene.camera
    poses = []
    for frame in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(frame)
        fov = 2 * np.arctan(cam.data.sensor_height / 2 / cam.data.lens)
        poses.append((np.array(cam.matrix_world), np.degrees(fov)))
    return scene, poses


def test_test_ring_imports_back_onto_the_test_views(made, blank):
    out, _ = made
    scene, poses = _imported(blank, out / "camera_paths" / "test_ring.json")
    test = json.loads((out / "nerf" / "transforms_test.json").read_text())
    assert (scene.render.resolution_x, scene.render.resolution_y) == (80, 60)
    assert len(poses) == len(test["frames"])
    fov_y = np.degrees(test["camera_angle_y"])
    for (m, fov), frame in zip(poses, test["frames"], strict=True):
        assert np.allclose(m, frame["transform_matrix"], atol=1e-5)
        assert fov == pytest.approx(fov_y, rel=1e-5)


def test_an_animated_camera_round_trips(made, blank):
    out, truth = made
    _, poses = _imported(blank, out / "camera_paths" / "Flycam.json")
    assert len(poses) == len(truth) == 12
    aspect = 80 / 60
    for (m, fov), (m0, lens, sensor) in zip(poses, truth, strict=True):
        assert np.allclose(m, m0, atol=1e-5)
        fov0 = 2 * np.arctan(sensor / aspect / 2 / lens)  # AUTO fit on a landscape image: the sensor is the width
        assert fov == pytest.approx(np.degrees(fov0), rel=1e-5)


def test_nerfstudios_own_dataparser_transforms_take_precedence(made, blank, tmp_path):
    """A path saved by nerfstudio's viewer carries no transform; the model's dataparser_transforms.json maps it."""
    out, _ = made
    path = _path(out, "test_ring")
    (tmp_path / "dataparser_transforms.json").write_text(json.dumps(path.pop("dataparser_transform")))
    (tmp_path / "viewer_path.json").write_text(json.dumps(path))
    _, poses = _imported(
        blank, tmp_path / "viewer_path.json", dataparser_transforms=str(tmp_path / "dataparser_transforms.json")
    )
    test = json.loads((out / "nerf" / "transforms_test.json").read_text())
    for (m, _), frame in zip(poses, test["frames"], strict=True):
        assert np.allclose(m, frame["transform_matrix"], atol=1e-5)


def test_a_broken_file_is_one_error_report(blank, tmp_path):
    (tmp_path / "bad.json").write_text('{"camera_path": 3}')
    with pytest.raises(RuntimeError, match="not a nerfstudio camera path"):
        blank.ops.nerf_dataset.import_camera_path(filepath=str(tmp_path / "bad.json"))
