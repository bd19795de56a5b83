"""Depth, normal and mask passes: back-projected depth lands on the mesh, the mask is the object's alpha.

The dataset is read as nerfstudio reads it (transforms.json, ``depth_file_path`` 16-bit PNG in
millimetres, ``mask_path``), the EXRs with the OpenEXR bindings; the mesh comes from Blender's own
evaluated geometry. Non-square image with lens shift, so a wrong cx/cy or axis shows.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

ARGS = ["--train", "4", "--val", "1", "--test", "1", "--resolution", "96x72", "--samples", "8", "--transparent"]
ARGS += ["--format", "nerfstudio,nerf,ngp", "--passes", "mask,depth,normal", "--points", "0", "--seed", "5"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory, user_resources):
    from blend_scenes import save_demo_blend
    from conftest import run_cli

    tmp = tmp_path_factory.mktemp("passes")
    mesh = save_demo_blend(tmp / "scene.blend", resolution=(96, 72), shift_x=0.1, shift_y=-0.05)
    r = run_cli("--blend", tmp / "scene.blend", *ARGS, "--out", tmp / "out", user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    return tmp / "out", mesh


@pytest.fixture(scope="module")
def eevee(scene, user_resources):
    """The same views with EEVEE (depth and normals; it has no object index pass for masks)."""
    from conftest import run_cli

    out, mesh = scene
    args = [*ARGS[: ARGS.index("--passes")], "--passes", "depth,normal", "--engine", "BLENDER_EEVEE"]
    args += ["--points", "0", "--seed", "5", "--samples", "1"]  # depth is the geometry's from one sample: 3x faster
    r = run_cli(
        "--blend", out.parent / "scene.blend", *args, "--out", out.parent / "eevee", user_resources=user_resources
    )
    assert r.returncode == 0, r.stderr
    return out.parent / "eevee", mesh


def _exr(path) -> np.ndarray:
    import OpenEXR

    channels = OpenEXR.File(str(path)).channels()
    return np.stack([channels[c].pixels for c in sorted(channels)], axis=-1)


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3x3 binary dilation."""
    padded = np.pad(mask, 1)
    h, w = mask.shape
    return np.any([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)


def _frames(out):
    meta = json.loads((out / "nerfstudio" / "transforms.json").read_text())
    return meta, meta["frames"]


def _backproject(meta, frame, depth_m):
    """World points of the pixels with depth, as nerfstudio casts rays (pixel centres, OpenGL camera)."""
    v, u = np.nonzero(depth_m > 0)
    z = depth_m[v, u]
    x = (u + 0.5 - meta["cx"]) / meta["fl_x"] * z
    y = (v + 0.5 - meta["cy"]) / meta["fl_y"] * z
    cam = np.stack([x, -y, -z], axis=1)  # OpenCV pixel ray -> OpenGL camera axes
    c2w = np.array(frame["transform_matrix"])
    return cam @ c2w[:3, :3].T + c2w[:3, 3], (v, u)


@pytest.fixture(scope="module")
def bvh(scene):
    from mathutils.bvhtree import BVHTree

    mesh = scene[1]
    return BVHTree.FromPolygons(mesh["vertices"].tolist(), mesh["triangles"].tolist())


@pytest.mark.parametrize("engine", ["scene", "eevee"])
def test_depth_backprojects_onto_the_mesh(engine, request, bvh):
    from mathutils import Vector

    out, mesh = request.getfixturevalue(engine)
    size = float(np.linalg.norm(np.ptp(mesh["vertices"], axis=0)))
    meta, frames = _frames(out)
    assert meta["depth_kind"] == "z" and meta["depth_unit"] == "m" and meta["depth_png_unit"] == 0.001
    for frame in frames:
        png = np.array(Image.open(out / "nerfstudio" / frame["depth_file_path"]))
        assert png.dtype == np.uint16
        points, _ = _backproject(meta, frame, png * 1e-3)  # nerfstudio's depth_unit_scale_factor
        assert len(points) > 300
        sample = np.random.default_rng(0).choice(len(points), min(len(points), 1500), replace=False)
        distances = np.array([bvh.find_nearest(Vector(p))[3] for p in points[sample]])  # a median needs no more
        assert np.median(distances) < 0.005 * size, frame["file_path"]
        assert np.quantile(distances, 0.9) < 0.02 * size


def test_depth_exr_is_float_z_with_zero_background(scene):
    out, _ = scene
    meta, frames = _frames(out)
    for frame in frames:
        png = np.array(Image.open(out / "nerfstudio" / frame["depth_file_path"])).astype(float)
        exr = _exr(out / "nerfstudio" / frame["depth_file_path"].replace(".png", ".exr"))[..., 0]
        assert exr.dtype == np.float32 and exr.shape == png.shape
        assert np.isfinite(exr).all()
        assert ((exr == 0) == (png == 0)).all()
        assert np.abs(exr * 1000 - png).max() <= 0.5


def test_mask_is_alpha_up_to_a_one_pixel_edge(scene):
    out, _ = scene
    _, frames = _frames(out)
    for frame in frames:
        alpha = np.array(Image.open(out / "nerfstudio" / frame["file_path"]))[..., 3] >= 128
        mask = np.array(Image.open(out / "nerfstudio" / frame["mask_path"]))
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        edge = _dilate(alpha) & _dilate(~alpha)
        wrong = (mask == 255) != alpha
        assert not (wrong & ~edge).any(), frame["mask_path"]
        assert alpha.sum() > 300


def test_normals_are_world_space_and_face_the_camera(scene, bvh):
    from mathutils import Vector

    out, _ = scene
    meta, frames = _frames(out)
    for frame in frames:
        depth = np.array(Image.open(out / "nerfstudio" / frame["depth_file_path"])) * 1e-3
        normals = _exr(out / "nerfstudio" / frame["normal_file_path"].replace(".png", ".exr"))
        alpha = np.array(Image.open(out / "nerfstudio" / frame["file_path"]))[..., 3]
        inside = ~_dilate(alpha < 255)  # edge pixels average the normal with the empty background
        points, (v, u) = _backproject(meta, frame, np.where(inside, depth, 0))
        n = normals[v, u]
        assert len(n) > 200
        length = np.linalg.norm(n, axis=1)  # the pixel's average: shorter where it spans a crease
        assert np.median(length) > 0.98 and length.min() > 0.3 and length.max() < 1.001
        eye = np.array(frame["transform_matrix"])[:3, 3]
        assert np.mean(np.einsum("ij,ij->i", n, eye - points) > 0) > 0.97
        surface = np.array([bvh.find_nearest(Vector(p))[1] for p in points])
        agree = np.einsum("ij,ij->i", n, surface / np.linalg.norm(surface, axis=1, keepdims=True))
        # Smooth shading on the coarse demo mesh tilts shading normals off the faces' (medians 0.92-0.95);
        # normals in camera axes would agree at about 0.2.
        assert np.median(agree) > np.cos(np.radians(30))
        vis = np.array(Image.open(out / "nerfstudio" / frame["normal_file_path"]))
        assert np.abs(vis[v, u] / 255.0 * 2 - 1 - n).max() < 0.01


def test_every_format_names_its_pass_files(scene):
    out, _ = scene
    for split in ("train", "val", "test"):
        nerf = json.loads((out / "nerf" / f"transforms_{split}.json").read_text())
        assert nerf["depth_unit"] == "m"
        for f in nerf["frames"]:
            for key in ("depth_file_path", "normal_file_path", "mask_path"):
                assert (out / "nerf" / f[key]).is_file()
    ngp = json.loads((out / "ngp" / "transforms.json").read_text())
    assert ngp["integer_depth_scale"] == 0.001 and ngp["enable_depth_loading"] is True
    for f in ngp["frames"]:
        assert np.array(Image.open(out / "ngp" / f["depth_path"])).dtype == np.uint16
    test = json.loads((out / "ngp" / "eval" / "transforms_test.json").read_text())
    assert all((out / "ngp" / "eval" / f["depth_path"]).is_file() for f in test["frames"])


def test_mask_needs_no_transparent_film(scene, tmp_path, user_resources):
    from conftest import run_cli

    out, _ = scene
    args = [a for a in ARGS if a != "--transparent"]
    r = run_cli(
        "--blend", out.parent / "scene.blend", *args, "--out", tmp_path / "opaque", user_resources=user_resources
    )
    assert r.returncode == 0, r.stderr
    _, frames = _frames(out)
    for frame in frames:
        image = np.array(Image.open(tmp_path / "opaque" / "nerfstudio" / frame["file_path"]))
        assert image.shape[2] == 3  # no alpha to take the mask from
        same = [np.array(Image.open(o / "nerfstudio" / frame["mask_path"])) for o in (out, tmp_path / "opaque")]
        assert (same[0] == same[1]).all()
        exrs = [
            (o / "nerfstudio" / frame["depth_file_path"]).with_suffix(".exr").read_bytes()
            for o in (out, tmp_path / "opaque")
        ]
        assert exrs[0] == exrs[1]  # no render date or time in the EXR header: re-renders are byte-identical


def test_resume_rebuilds_a_view_and_its_passes(scene, tmp_path, user_resources):
    from conftest import run_cli

    out, _ = scene
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    victim = copy / "nerfstudio/images/train_0001.png"
    victim.write_bytes(victim.read_bytes()[:100])  # a crash mid-write
    for folder in ("depths", "normals", "masks"):
        for f in (copy / "nerfstudio" / folder).glob("train_0001.*"):
            f.unlink()
    r = run_cli("--blend", out.parent / "scene.blend", *ARGS, "--out", copy, "--resume", user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    for folder in ("images", "depths", "normals", "masks"):
        for f in (out / "nerfstudio" / folder).glob("train_0001.*"):
            assert (copy / "nerfstudio" / folder / f.name).read_bytes() == f.read_bytes(), f
