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
    assert lines[0] == f"wrote 1 views (16x16, nerf) to {out}"


def test_verbose_shows_the_importers_own_output(cli, tmp_path):
    (tmp_path / "cube.obj").write_text(CUBE_OBJ)
    r = cli("--import", tmp_path / "cube.obj", "--out", tmp_path / "out", *BASE, "--verbose")
    assert r.returncode == 0, r.stderr
    assert "OBJ import of 'cube.obj'" in r.stdout
