"""Bad input: exit 2, one clear line on stderr, no traceback, and nothing that looks like a dataset."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def blends(tmp_path_factory):
    """.blend files for the scene-dependent errors."""
    import bpy

    tmp = tmp_path_factory.mktemp("bad_scenes")
    paths = {}
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    paths["no_mesh"] = tmp / "no_mesh.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(paths["no_mesh"]))
    bpy.ops.mesh.primitive_cube_add()
    for kind in ("ORTHO", "PANO"):
        cam.data.type = kind
        paths[kind] = tmp / f"{kind.lower()}.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(paths[kind]))
    (tmp / "a_file").write_text("not a folder")
    (tmp / "foreign").mkdir()
    (tmp / "foreign" / "notes.txt").write_text("mine")
    (tmp / "model.fbx").write_text("")
    paths["tmp"] = tmp
    return paths


BASE = ["--train", "2", "--val", "1", "--test", "1", "--resolution", "16x16", "--samples", "1"]

CASES = {
    "unknown object": (["--demo", "--object", "Nope"], "no object named 'Nope'"),
    "no mesh in scene": (["--blend", "{no_mesh}"], "no visible mesh"),
    "resolution zero": (["--demo", "--resolution", "0x100"], "resolution"),
    "resolution absurd": (["--demo", "--resolution", "200000x100"], "resolution"),
    "resolution unreadable": (["--demo", "--resolution", "big"], "resolution"),
    "orthographic camera": (["--blend", "{ORTHO}"], "orthographic"),
    "panoramic camera": (["--blend", "{PANO}"], "panoramic"),
    "unwritable out": (["--demo", "--out", "{tmp}/a_file/sub"], "not a folder"),
    "unknown format": (["--demo", "--format", "nerf,splat"], "unknown format 'splat'"),
    "unknown rig": (["--demo", "--rig", "cube"], "unknown rig 'cube'"),
    "unknown engine": (["--demo", "--engine", "LUXCORE"], "unknown engine"),
    "missing blend": (["--blend", "{tmp}/nowhere.blend"], "file not found"),
    "missing import": (["--import", "{tmp}/nowhere.obj"], "file not found"),
    "unsupported import": (["--import", "{tmp}/model.fbx"], "cannot import '.fbx'"),
    "foreign non-empty out": (["--demo", "--out", "{tmp}/foreign", "--overwrite"], 'did not write ("notes.txt")'),
    "no scene given": ([], "give the scene"),
    "blend and import together": (["--blend", "a.blend", "--import", "b.obj"], "not allowed with"),
    "negative views": (["--demo", "--train", "-3"], "--train"),
    "bad elevation": (["--demo", "--elevation", "80,10"], "elevation"),
    "unknown pass": (["--demo", "--passes", "depth,albedo"], "unknown pass 'albedo'"),
    "mask on EEVEE": (["--demo", "--passes", "mask", "--engine", "BLENDER_EEVEE"], "mask pass needs Cycles"),
    "downscales of nerf only": (["--demo", "--downscales", "2"], "nerfstudio and colmap"),
    "camera path from a mesh": (["--demo", "--camera-path-from", "NeRF Demo Object"], "needs a camera object"),
    "radius too small to place cameras": (["--demo", "--radius", "1e-30"], "--radius must be at least 1e-06"),
    "lens below Blender's 1 mm": (["--demo", "--lens", "0.5"], "--lens must be at least 1"),
    "an empty list": (["--demo", "--passes", ","], "--passes lists nothing"),
    "an empty name": (["--demo", "--camera-path-from", ""], "--camera-path-from is empty"),
    "an empty shard": (["--demo", "--shard", ""], "--shard must look like I/N"),
    "collect with settings": (["--collect", "--resolution", "64x64"], "it takes only --out, not --"),
    "odd downscale": (["--demo", "--format", "colmap", "--downscales", "3"], "choose from 2, 4, 8, 16"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_line(case, blends, cli, tmp_path):
    args, expected = CASES[case]
    args = [a.format(**blends) for a in args]
    out = tmp_path / "out"
    if "--out" not in args:
        args += ["--out", str(out)]
    r = cli(*BASE, *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("cli.py: error: "), r.stderr
    assert expected in lines[0]
    assert "Traceback" not in r.stdout + r.stderr
    assert not list(tmp_path.rglob("transforms*.json"))
    assert not list(blends["tmp"].rglob("transforms*.json"))


def test_missing_out_is_bad_input(cli):
    r = cli("--demo")
    assert r.returncode == 2 and "--out" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_non_empty_out_needs_overwrite_and_overwrite_replaces_our_dataset(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("--demo", *BASE, "--out", out).returncode == 0
    r = cli("--demo", *BASE, "--out", out)
    assert r.returncode == 2 and "--overwrite" in r.stderr
    r = cli("--demo", *BASE, "--train", "3", "--out", out, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "train").iterdir()) == ["r_0.png", "r_1.png", "r_2.png"]
