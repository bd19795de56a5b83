"""The CLI on real Blender: determinism, both invocation forms, model import, the camera rig."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

TINY = ["--resolution", "24x16", "--samples", "1", "--train", "4", "--val", "2", "--test", "3"]


def transforms_bytes(out, pattern="transforms*.json"):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob(pattern))}


def test_same_seed_gives_byte_identical_transforms_and_other_seeds_differ(cli, tmp_path):
    runs = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        r = cli("--demo", *TINY, "--format", "nerf,ngp", "--seed", seed, "--out", tmp_path / name)
        assert r.returncode == 0, r.stderr
        runs[name] = transforms_bytes(tmp_path / name)
    assert len(runs["a"]) == 6
    assert runs["a"] == runs["b"]
    # Images too: a fixed Cycles seed and no time stamps in the PNGs make a re-render byte-identical.
    assert transforms_bytes(tmp_path / "a", "*.png") == transforms_bytes(tmp_path / "b", "*.png")
    assert all(runs["a"][k] != runs["c"][k] for k in runs["a"])


def test_success_prints_where_the_dataset_is(cli, tmp_path):
    r = cli("--demo", *TINY, "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    wrote, checked = r.stdout.strip().splitlines()[-2:]
    assert wrote == f"wrote 9 views (24x16, nerf) to {tmp_path / 'o'}; contact sheet: preview.png"
    assert checked.startswith("validate: 0 problems in 9 views")
    assert "Fra:" not in r.stdout  # Blender's render chatter stays out of the user's terminal


def test_blender_dash_p_form_uses_the_loaded_file_and_options_after_double_dash(tmp_path, user_resources):
    """As ``blender -b scene.blend -P cli.py -- OPTIONS``: Blender has opened the file, argv has its own flags."""
    import bpy

    from nerf_dataset.blender_io.demo import build_demo_scene

    build_demo_scene()
    bpy.data.objects["NeRF Demo Object"].location.x += 5.0
    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    out = tmp_path / "out"
    argv = ["blender", "-b", str(blend), "-P", str(ROOT / "cli.py"), "--", "--out", str(out), *TINY]
    script = (
        "import sys, bpy, runpy\n"
        f"bpy.ops.wm.open_mainfile(filepath={str(blend)!r})\n"
        "import nerf_dataset.blender_io.compat as compat\n"
        "compat.inside_blender_executable = lambda: True\n"  # what bpy.app.binary_path says inside Blender
        f"sys.argv = {argv!r}\n"
        "sys.exit(__import__('nerf_dataset.commands').commands.main(sys.argv))\n"
    )
    boot = f"import runpy; runpy.run_path({str(ROOT / 'tests' / 'conftest.py')!r})\n"
    env = {"BLENDER_USER_RESOURCES": str(user_resources), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", boot + script], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    plan = json.loads((out / ".nerf_dataset" / "plan.json").read_text())
    assert plan["scene"]["target"] == "NeRF Demo Object"
    assert plan["center"][0] > 4.0  # the edited, loaded file was used, not a fresh demo scene


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The demo object exported by Blender in each format --import accepts."""
    import bpy  # first: it puts addon_utils on sys.path

    import addon_utils

    from nerf_dataset.blender_io.demo import build_demo_scene

    tmp = tmp_path_factory.mktemp("models")
    build_demo_scene()
    bpy.ops.object.select_all(action="DESELECT")
    obj = bpy.data.objects["NeRF Demo Object"]
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.wm.obj_export(filepath=str(tmp / "m.obj"), export_selected_objects=True)
    bpy.ops.wm.ply_export(filepath=str(tmp / "m.ply"), export_selected_objects=True)
    bpy.ops.wm.stl_export(filepath=str(tmp / "m.stl"), export_selected_objects=True)
    addon_utils.enable("io_scene_gltf2", default_set=False)
    bpy.ops.export_scene.gltf(filepath=str(tmp / "m.glb"), use_selection=True)
    return tmp


@pytest.mark.parametrize("ext", ["obj", "ply", "stl", "glb"])
def test_import_orbits_the_imported_model(ext, models, cli, tmp_path):
    out = tmp_path / "out"
    r = cli("--import", models / f"m.{ext}", *TINY, "--transparent", "--out", out)
    assert r.returncode == 0, r.stderr
    from PIL import Image

    alpha = np.asarray(Image.open(out / "train" / "r_0.png"))[..., 3]
    assert alpha.max() == 255  # the model is in view
    plan = json.loads((out / ".nerf_dataset" / "plan.json").read_text())
    size = np.array(plan["scene"]["bounds_max"]) - np.array(plan["scene"]["bounds_min"])
    assert 1.0 < size.max() < 4.0  # the demo object's extent, whatever axis convention the format has


def test_camera_rig_uses_the_scenes_own_animated_camera(cli, tmp_path):
    import bpy

    from nerf_dataset.blender_io.demo import build_demo_scene

    scene = build_demo_scene()
    scene.frame_start, scene.frame_end = 1, 16
    cam = scene.camera
    constraint = cam.constraints.new("TRACK_TO")
    constraint.target = bpy.data.objects["NeRF Demo Object"]
    for f in range(1, 17):
        cam.location = (7 * np.cos(f / 3), 7 * np.sin(f / 3), 2 + f / 8)
        cam.keyframe_insert("location", frame=f)
    expected = {}
    for f in range(1, 17):
        scene.frame_set(f)
        expected[f] = np.array(cam.matrix_world)
    blend = tmp_path / "anim.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    out = tmp_path / "out"
    r = cli("--blend", blend, "--rig", "camera", "--resolution", "24x16", "--samples", "1", "--out", out)
    assert r.returncode == 0, r.stderr
    plan = json.loads((out / ".nerf_dataset" / "plan.json").read_text())
    assert [v["source_frame"] for v in plan["views"] if v["split"] == "test"] == [1, 9]
    assert len(plan["views"]) == 16
    for v in plan["views"]:
        assert np.allclose(v["c2w"], expected[v["source_frame"]], atol=1e-6)


@pytest.mark.parametrize("engine", ["BLENDER_WORKBENCH", "BLENDER_EEVEE"])
def test_other_engines_render_the_dataset(engine, cli, tmp_path):
    """EEVEE's identifier differs between 4.5 (BLENDER_EEVEE_NEXT) and 5.0; the CLI takes one name for both."""
    from PIL import Image

    out = tmp_path / "out"
    r = cli("--demo", "--engine", engine, "--resolution", "24x16", "--samples", "1", "--transparent",
            "--train", "1", "--val", "1", "--test", "0", "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    alpha = np.asarray(Image.open(out / "train" / "r_0.png"))[..., 3]
    assert alpha.max() >= 250 and alpha.min() == 0  # the object (EEVEE 4.5 tops out at 254), transparent around it


def test_a_collection_instance_is_a_target_like_any_mesh(cli, tmp_path):
    """Linked and appended assets arrive as an Empty instancing a collection: orbit what it shows."""
    import bpy
    from blend_scenes import world_triangles
    from test_geometric_truth import check_view, passes, views

    from nerf_dataset.blender_io.demo import DEMO_OBJECT, build_demo_scene

    scene = build_demo_scene()
    obj = bpy.data.objects[DEMO_OBJECT]
    asset = bpy.data.collections.new("Asset")
    asset.objects.link(obj)
    scene.collection.objects.unlink(obj)  # only the instance is in the scene
    instancer = bpy.data.objects.new("Asset Instance", None)
    instancer.instance_type, instancer.instance_collection = "COLLECTION", asset
    instancer.location, instancer.rotation_euler, instancer.scale = (2.0, 1.0, -0.5), (0.3, 0.0, 1.1), (1.5, 1.0, 0.7)
    scene.collection.objects.link(instancer)
    blend = tmp_path / "instanced.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    mesh = world_triangles(obj)
    m = np.array(instancer.matrix_world)
    mesh["vertices"] = mesh["vertices"] @ m[:3, :3].T + m[:3, 3]

    out = tmp_path / "out"
    r = cli("--blend", blend, "--object", "Asset Instance", "--train", 3, "--val", 1, "--test", 2,
            "--resolution", "120x90", "--samples", 4, "--transparent", "--points", 50, "--out", out,
            "--passes", "mask")  # fmt: skip
    assert r.returncode == 0, r.stderr
    results = [check_view(alpha, c2w, K, mesh) for _, alpha, c2w, K in views(out)]
    assert len(results) == 6 and all(passes(x) for x in results), results
    for path in out.glob("*/r_*_mask.png"):  # the object index reaches the instanced geometry too
        mask = np.asarray(Image.open(path)) == 255
        alpha = np.asarray(Image.open(str(path).replace("_mask", "")))[..., 3] >= 128
        assert mask.sum() > 100 and (mask != alpha).sum() < 0.1 * alpha.sum()


def test_points_are_sampled_only_for_formats_that_write_them(cli, tmp_path):
    for fmt, expected in (("ngp", False), ("colmap", True)):
        out = tmp_path / fmt
        assert cli("--demo", *TINY, "--format", fmt, "--points", 100, "--out", out).returncode == 0
        assert (out / ".nerf_dataset" / "points.npz").is_file() == expected


def test_a_write_failure_is_one_line_and_exit_1(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("--demo", *TINY, "--out", out).returncode == 0
    blocked = out / "train" / "r_1.png"
    blocked.unlink()
    blocked.mkdir()
    r = cli("--demo", *TINY, "--resume", "--out", out)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("cli.py: failed: ")
