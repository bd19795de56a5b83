"""A new user's first runs: their own model, imported. stdout carries our lines only (the importers' chatter
only with --verbose), and a file that cannot give a dataset is refused up front, in one line, writing nothing."""

from __future__ import annotations

import base64
import json
import struct

import pytest

BASE = ["--train", "1", "--val", "0", "--test", "0", "--resolution", "16x16", "--samples", "1"]

CUBE_OBJ = "".join(f"v {x} {y} {z}\n" for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)) + (
    "f 1 3 4 2\nf 5 6 8 7\nf 1 2 6 5\nf 3 7 8 4\nf 1 5 7 3\nf 2 4 8 6\n"
)


def tetrahedron_gltf() -> str:
    """A glTF 2.0 tetrahedron with its buffer inline."""
    positions = struct.pack("<12f", 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1)
    indices = struct.pack("<12H", 0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3)
    data = positions + indices
    return json.dumps(
        {
            "asset": {"version": "2.0"},
            "scene": 0,
            "scenes": [{"nodes": [0]}],
            "nodes": [{"mesh": 0, "name": "Tetra"}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
            "buffers": [
                {
                    "byteLength": len(data),
                    "uri": "data:application/octet-stream;base64," + base64.b64encode(data).decode(),
                }
            ],
            "bufferViews": [
                {"buffer": 0, "byteOffset": 0, "byteLength": len(positions)},
                {"buffer": 0, "byteOffset": len(positions), "byteLength": len(indices)},
            ],
            "accessors": [
                {
                    "bufferView": 0,
                    "componentType": 5126,
                    "count": 4,
                    "type": "VEC3",
                    "min": [0, 0, 0],
                    "max": [1, 1, 1],
                },
                {"bufferView": 1, "componentType": 5123, "count": 12, "type": "SCALAR"},
            ],
        }
    )


MODELS = {"cube.obj": CUBE_OBJ, "tetra.gltf": tetrahedron_gltf()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_an_imported_model_leaves_only_our_lines_on_stdout(name, cli, tmp_path):
    (tmp_path / name).write_text(MODELS[name])
    out = tmp_path / "out"
    r = cli("--import", tmp_path / name, "--out", out, *BASE)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["wrote", "validate:"], r.stdout
    assert lines[0] == f"wrote 1 view (16x16, nerf) to {out}; contact sheet: preview.png"


def test_verbose_shows_the_importers_own_output(cli, tmp_path):
    (tmp_path / "cube.obj").write_text(CUBE_OBJ)
    r = cli("--import", tmp_path / "cube.obj", "--out", tmp_path / "out", *BASE, "--verbose")
    assert r.returncode == 0, r.stderr
    assert "OBJ import of 'cube.obj'" in r.stdout


PLY_HEADER = "ply\nformat ascii 1.0\nelement vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
TRIANGLE_VERTICES = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"
HOPELESS = {
    "points.ply": (PLY_HEADER.format(n=3) + "end_header\n0 0 0\n1 0 0\n0 1 0\n", "has no faces, only 3 vertices"),
    "vertices_only.obj": (TRIANGLE_VERTICES, "has no faces"),
    "bad_face_indices.obj": (TRIANGLE_VERTICES + "f 1 2 7\nf 4 5 6\n", "has no faces"),  # the importer drops them
    "collinear.obj": ("v 0 0 0\nv 1 0 0\nv 2 0 0\nv 3 0 0\nf 1 2 3\nf 2 3 4\n", "all of zero area"),
    "one_point.obj": ("v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n", "all of zero area"),
    "nan.blend": (None, "1 of 4 vertices whose coordinates are not numbers"),
}


@pytest.fixture(scope="module")
def nan_blend(tmp_path_factory):
    """A .blend whose mesh has a NaN vertex (importers turn NaN into 0; scripts and modifiers don't)."""
    import bpy

    path = tmp_path_factory.mktemp("nan") / "nan.blend"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mesh = bpy.data.meshes.new("Bad")
    mesh.from_pydata([(float("nan"), 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)], [], [(0, 1, 2), (1, 2, 3)])
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Bad", mesh))
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


@pytest.mark.parametrize("name", sorted(HOPELESS))
def test_a_scene_without_a_surface_is_refused_up_front(name, cli, tmp_path, request):
    text, reason = HOPELESS[name]
    if text is None:
        source = ["--blend", request.getfixturevalue("nan_blend")]
    else:
        (tmp_path / name).write_text(text)
        source = ["--import", tmp_path / name]
    out = tmp_path / "out"
    r = cli(*source, "--out", out, *BASE)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("cli.py: error: target '"), r.stderr
    assert reason in lines[0]
    assert "Traceback" not in r.stdout + r.stderr and r.stdout == ""
    assert not out.exists()
