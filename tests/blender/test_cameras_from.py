"""Issue 16: ``--cameras-from`` renders the views of an existing dataset again, in real Blender.

Round trips: a dataset this project rendered (a portrait, VERTICAL-fit, shifted camera; and a zooming camera
whose every view has its own intrinsics), read from each of its formats and rendered again into every format,
gives the same cameras and the same pixels. Foreign sources, written here as other tools write them: each
re-rendered view matches the mesh projected with the source's own cameras.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from blend_scenes import save_demo_blend, save_zoom_blend
from foreign_datasets import similarity_c2w, write_colmap_bin
from PIL import Image
from test_geometric_truth import check_view, passes

from nerf_dataset.core.conventions import look_at_c2w_opengl

ALL = "nerf,ngp,nerfstudio,colmap"
RENDER = ["--samples", "4", "--seed", "3", "--transparent", "--points", "200"]


def _cli(*args, user_resources):
    from conftest import run_cli

    r = run_cli(*args, user_resources=user_resources)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def _images(folder: Path) -> dict[str, np.ndarray]:
    return {
        str(p.relative_to(folder)): np.asarray(Image.open(p)).astype(int)
        for p in sorted(folder.rglob("*.png"))
        if not any(part.startswith("images_") for part in p.relative_to(folder).parts)
    }


def _cameras(folder: Path) -> list[tuple]:
    """(split, c2w, K, size) of every view as this project's reader of any layout gives them."""
    from nerf_dataset.core.source_cameras import read_source_cameras

    return [(v.split, v.c2w, v.intrinsics) for v in read_source_cameras(folder).views]


def _same_cameras(a: Path, b: Path, tol=1e-6) -> None:
    ca, cb = _cameras(a), _cameras(b)
    assert len(ca) == len(cb)
    for (sa, pa, ia), (sb, pb, ib) in zip(ca, cb, strict=True):
        assert sa == sb and np.abs(pa - pb).max() <= tol
        assert (ia.w, ia.h) == (ib.w, ib.h)
        assert np.allclose([ia.fl_x, ia.fl_y, ia.cx, ia.cy], [ib.fl_x, ib.fl_y, ib.cx, ib.cy], atol=tol, rtol=0)


def _same_pixels(a: Path, b: Path, exact: bool) -> None:
    ia, ib = _images(a), _images(b)
    assert ia.keys() == ib.keys() and ia
    off = sum(int((np.abs(ia[k] - ib[k]) > 0).any(axis=-1).sum()) for k in ia)
    total = sum(x.shape[0] * x.shape[1] for x in ia.values())
    worst = max(int(np.abs(ia[k] - ib[k]).max()) for k in ia)
    if exact:
        assert off == 0, f"{off} of {total} pixels differ (by up to {worst})"
    else:  # poses through COLMAP's quaternions
        assert worst <= 1 and off < 0.001 * total, f"{off} of {total} pixels differ (by up to {worst})"


@pytest.fixture(scope="module")
def portrait(tmp_path_factory, user_resources):
    import bpy

    tmp = tmp_path_factory.mktemp("portrait")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    save_demo_blend(tmp / "p.blend", (36, 48), sensor_fit="VERTICAL", shift_x=0.07, shift_y=-0.04, lens=45.0)
    out = tmp / "orig"
    args = ["--train", "5", "--val", "2", "--test", "2", *RENDER]
    _cli("--blend", tmp / "p.blend", "--out", out, "--format", ALL, *args, user_resources=user_resources)
    return tmp, out


@pytest.mark.parametrize("source", ["nerf", "ngp", "nerfstudio", "colmap"])
def test_a_dataset_rendered_again_from_any_format_is_the_same_dataset(portrait, source, user_resources):
    tmp, orig = portrait
    again = tmp / f"from_{source}"
    r = _cli(
        "--blend", tmp / "p.blend", "--out", again, "--cameras-from", orig / source, "--format", ALL, *RENDER,
        user_resources=user_resources,
    )  # fmt: skip
    assert "0 problems" in r.stdout + r.stderr
    for fmt in ALL.split(","):
        _same_cameras(orig / fmt, again / fmt)
        _same_pixels(orig / fmt, again / fmt, exact=source != "colmap")
    frames = json.loads((again / "nerfstudio" / "transforms.json").read_text())["frames"]
    assert all(f["source_image"] for f in frames)  # each view keeps the name the source gave it


@pytest.fixture(scope="module")
def zoomed(tmp_path_factory, user_resources):
    import bpy

    tmp = tmp_path_factory.mktemp("zoom")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    save_zoom_blend(tmp / "z.blend", 8)
    out = tmp / "orig"
    args = ["--rig", "camera", *RENDER, "--format", "ngp,nerfstudio,colmap"]
    _cli("--blend", tmp / "z.blend", "--out", out, *args, user_resources=user_resources)
    return tmp, out


@pytest.mark.parametrize("source", ["ngp", "colmap"])
def test_per_view_intrinsics_are_rendered_again_view_by_view(zoomed, source, user_resources):
    tmp, orig = zoomed
    again = tmp / f"from_{source}"
    fmts = "ngp,nerfstudio,colmap"
    _cli(
        "--blend", tmp / "z.blend", "--out", again, "--cameras-from", orig / source, "--format", fmts, *RENDER,
        user_resources=user_resources,
    )  # fmt: skip
    for fmt in fmts.split(","):
        _same_cameras(orig / fmt, again / fmt)
        _same_pixels(orig / fmt, again / fmt, exact=source != "colmap")
    plan = json.loads((again / ".nerf_dataset" / "plan.json").read_text())
    assert len({v["intrinsics"]["fl_x"] for v in plan["views"]}) == 8


def test_nerf_synthetic_is_refused_for_per_view_cameras(zoomed, user_resources):
    from conftest import run_cli

    tmp, orig = zoomed
    r = run_cli("--blend", tmp / "z.blend", "--out", tmp / "no", "--cameras-from", orig / "ngp", "--format", "nerf",
                user_resources=user_resources)  # fmt: skip
    assert r.returncode == 2 and "cannot hold this dataset" in r.stderr and not (tmp / "no").exists()


# --- foreign sources ---------------------------------------------------------------------------------------

# 80x60 with 16 samples: at smaller sizes the anti-aliased edge alone costs a few per cent of IoU
W, H = 80, 60
FOREIGN = ["--samples", "16", "--seed", "3", "--transparent", "--points", "0"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import bpy

    tmp = tmp_path_factory.mktemp("foreign")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mesh = save_demo_blend(tmp / "d.blend", (W, H))
    centre = mesh["vertices"].mean(axis=0)
    poses = [
        look_at_c2w_opengl(centre + 4.5 * np.array([math.cos(a), math.sin(a), 0.45]), centre)
        for a in np.linspace(0, 2 * math.pi, 5, endpoint=False)
    ]
    return tmp, mesh, poses


def _silhouettes_match(out: Path, views: list[tuple[str, np.ndarray, np.ndarray]], mesh) -> None:
    """Every rendered image (in plan order) against the mesh projected with the source's camera."""
    plan = json.loads((out / ".nerf_dataset" / "plan.json").read_text())
    assert len(plan["views"]) == len(views)
    by_name = {v["source_name"]: v for v in plan["views"]}
    for name, c2w, K in views:
        alpha = np.asarray(Image.open(out / by_name[name]["image"]))[..., 3] / 255.0
        result = check_view(alpha, c2w, K, mesh)
        assert passes(result), (name, result)


def test_a_nerf_synthetic_folder_with_camera_angle_x_only(demo, user_resources):
    tmp, mesh, poses = demo
    src = tmp / "blender_synthetic"
    angle = 0.9
    fl = 0.5 * W / math.tan(0.5 * angle)
    K = np.array([[fl, 0, W / 2], [0, fl, H / 2], [0, 0, 1]])
    views = []
    for split, picks in (("train", [0, 1, 2]), ("test", [3, 4])):
        frames = []
        for n, i in enumerate(picks):
            name = f"./{split}/r_{n}" + (".png" if n % 2 else "")  # with and without the suffix
            (src / split).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (W, H)).save(src / split / f"r_{n}.png")
            frames.append({"file_path": name, "rotation": 0.012, "transform_matrix": poses[i].tolist()})
            views.append((name, poses[i], K))
        (src / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    out = tmp / "from_blender"
    _cli("--blend", tmp / "d.blend", "--out", out, "--cameras-from", src, "--format", "nerf", *FOREIGN,
         user_resources=user_resources)  # fmt: skip
    _silhouettes_match(out, views, mesh)
    assert [len(json.loads((out / f"transforms_{s}.json").read_text())["frames"]) for s in ("train", "test")] == [3, 2]


def test_nerfstudio_with_applied_transform_and_a_trained_models_dataparser_transform(demo, user_resources):
    """The scene is the model's frame (a mesh exported from it): the cameras go through applied_transform's
    inverse, then the dataparser transform and its scale, as nerfstudio saves them."""
    tmp, mesh, poses = demo
    src = tmp / "ns"
    src.mkdir()
    applied = np.array([[0.0, 1.0, 0.0, 0.2], [1.0, 0.0, 0.0, -0.1], [0.0, 0.0, -1.0, 0.4], [0, 0, 0, 1]])
    c, s = math.cos(0.3), math.sin(0.3)
    dataparser = np.array([[c, -s, 0.0, 0.4], [s, c, 0.0, -0.3], [0.0, 0.0, 1.0, 0.1]])
    scale = 0.5
    model = np.diag([scale, scale, scale, 1.0]) @ np.vstack([dataparser, [0, 0, 0, 1]])
    K = np.array([[80.0, 0, 41.5], [0, 80.0, 28.0], [0, 0, 1]])
    frames = []
    for i, pose in enumerate(poses):  # the file holds applied @ original, original = model^-1 (scene camera)
        in_file = applied @ similarity_c2w(np.linalg.inv(model), pose)
        frames.append({"file_path": f"images/frame_{i:05d}.jpg", "transform_matrix": in_file.tolist()})
    meta = {
        "camera_model": "OPENCV", "fl_x": 80.0, "fl_y": 80.0, "cx": 41.5, "cy": 28.0, "w": W, "h": H,
        "k1": 0, "k2": 0, "p1": 0, "p2": 0, "applied_transform": applied[:3].tolist(), "frames": frames,
    }  # fmt: skip
    (src / "transforms.json").write_text(json.dumps(meta))
    (src / "dataparser_transforms.json").write_text(json.dumps({"transform": dataparser.tolist(), "scale": scale}))
    out = tmp / "from_ns"
    r = _cli("--blend", tmp / "d.blend", "--out", out, "--cameras-from", src / "transforms.json",
             "--cameras-transform", src / "dataparser_transforms.json", "--format", "nerfstudio,colmap", *FOREIGN,
             "--passes", "depth,mask", "--downscales", "2", user_resources=user_resources)  # fmt: skip
    _silhouettes_match(out, [(f["file_path"], p, K) for f, p in zip(frames, poses, strict=True)], mesh)
    assert "0 problems" in r.stdout + r.stderr
    written = json.loads((out / "nerfstudio" / "transforms.json").read_text())
    assert all((out / "nerfstudio" / f["depth_file_path"]).is_file() for f in written["frames"])
    assert len(list((out / "colmap" / "images_2").glob("*.png"))) == len(poses)


def test_a_colmap_binary_model_with_simple_pinhole_and_pinhole_cameras(demo, user_resources):
    tmp, mesh, poses = demo
    src = tmp / "colmap_capture"
    cams = {1: (0, W, H, (75.0, 40.5, 31.5)), 2: (1, W, H, (75.0, 75.0, 38.0, 29.0))}
    images = [(f"IMG_{i:04d}.JPG", 1 + i % 2, pose) for i, pose in enumerate(poses)]
    write_colmap_bin(src / "sparse" / "0", cams, images)
    Ks = {
        1: np.array([[75.0, 0, 40.5], [0, 75.0, 31.5], [0, 0, 1]]),
        2: np.array([[75.0, 0, 38.0], [0, 75.0, 29.0], [0, 0, 1]]),
    }
    out = tmp / "from_colmap"
    _cli("--blend", tmp / "d.blend", "--out", out, "--cameras-from", src, "--holdout", "2", "--format", "colmap,ngp",
         *FOREIGN, user_resources=user_resources)  # fmt: skip
    _silhouettes_match(out, [(n, p, Ks[c]) for n, c, p in images], mesh)
    plan = json.loads((out / ".nerf_dataset" / "plan.json").read_text())
    assert [v["source_name"] for v in plan["views"] if v["split"] == "test"] == [
        "IMG_0000.JPG",
        "IMG_0002.JPG",
        "IMG_0004.JPG",
    ]


@pytest.mark.parametrize("case", ["distorted", "missing", "transform"])
def test_refusals_are_one_line_and_exit_2(demo, case, user_resources):
    from conftest import run_cli

    tmp, _, poses = demo
    src, extra = tmp / f"bad_{case}", []
    if case == "distorted":
        write_colmap_bin(src, {1: (4, W, H, (50.0, 50.0, 24.0, 18.0, -0.05, 0.0, 0.0, 0.0))}, [("a.jpg", 1, poses[0])])
    elif case == "transform":
        write_colmap_bin(src, {1: (1, W, H, (50.0, 50.0, 24.0, 18.0))}, [("a.jpg", 1, poses[0])])
        (tmp / "shear.json").write_text(json.dumps([[1, 0.2, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
        extra = ["--cameras-transform", tmp / "shear.json"]
    r = run_cli("--blend", tmp / "d.blend", "--out", tmp / f"out_{case}", "--cameras-from", src, *extra,
                user_resources=user_resources)  # fmt: skip
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert {"distorted": "lens distortion", "missing": "is missing", "transform": "shears"}[case] in lines[0]
    assert not (tmp / f"out_{case}").exists()


def test_resume_refuses_a_source_whose_cameras_changed(portrait, user_resources):
    import shutil

    from conftest import run_cli

    tmp, orig = portrait
    src = tmp / "changing"
    shutil.copytree(orig / "nerfstudio", src)
    out = tmp / "resumed"
    args = ["--blend", tmp / "p.blend", "--out", out, "--cameras-from", src, "--format", "nerfstudio", *RENDER]
    _cli(*args, user_resources=user_resources)
    assert run_cli(*args, "--resume", user_resources=user_resources).returncode == 0
    meta = json.loads((src / "transforms.json").read_text())
    meta["frames"][0]["transform_matrix"][0][3] += 0.5
    (src / "transforms.json").write_text(json.dumps(meta))
    r = run_cli(*args, "--resume", user_resources=user_resources)
    assert r.returncode == 2 and "have changed since the dataset" in r.stderr, r.stderr
