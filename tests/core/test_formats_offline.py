"""Every format end to end without Blender: a box "rendered" by projecting it through the planned cameras,
exported, read back by each format's reader and validated, clean and with planted consumer traps.

The images' alpha is the box's exact silhouette (``core.silhouette.coverage``), so ``validate(out, mesh)``
passing proves the cameras as each reader understands them, not merely that the files parse.
"""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fake_scenes import facts
from PIL import Image

from nerf_dataset.app.dataset import export, format_dir
from nerf_dataset.app.ownership import image_namer
from nerf_dataset.app.validate import check_folder, validate
from nerf_dataset.core.camera import Raster
from nerf_dataset.core.plan import build_plan
from nerf_dataset.core.settings import Settings
from nerf_dataset.core.silhouette import coverage, project
from nerf_dataset.exporters import FORMATS

W, H = 32, 24
COUNTS = {"train": 3, "val": 1, "test": 2}
COMBOS = [(name,) for name in FORMATS] + [tuple(FORMATS)]


def make(out: Path, formats: tuple[str, ...]):
    """Plan, write the primary format's RGBA images (alpha = the box's silhouette), export every format."""
    settings = Settings(formats=formats, transparent=True, points=0, **COUNTS)
    plan = build_plan(settings, facts(raster=Raster(W, H)), image_namer(formats))
    vertices, triangles = box_mesh(plan)
    for view in plan.views:
        uv, z = project(vertices, view.c2w_array(), plan.intrinsics.matrix())
        assert (z > 0).all()
        alpha = np.round(coverage(uv, triangles, W, H) * 255).astype(np.uint8)
        path = out / view.image
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.dstack([np.full((H, W, 3), 180, np.uint8), alpha]), "RGBA").save(path)
    export(plan, out)
    return plan


def box_mesh(plan):
    """The target's bounding box as 8 corners and 12 triangles (corner i takes the max on axis k if bit k)."""
    lo, hi = plan.scene.bounds_min, plan.scene.bounds_max
    vertices = np.array([[(lo, hi)[i >> k & 1][k] for k in range(3)] for i in range(8)], dtype=float)
    triangles = []
    for k in range(3):
        for side in (0, 1):
            a, b, c, d = [i for i in range(8) if (i >> k & 1) == side]  # a-b-d-c runs around the face
            triangles += [(a, b, d), (a, d, c)]
    return vertices, np.array(triangles)


def messages(report) -> list[str]:
    return [f"{f.where}: {f.message}" for f in report.problems]


@pytest.mark.parametrize("formats", COMBOS, ids="+".join)
def test_clean_export_validates_with_and_without_the_mesh(tmp_path, formats):
    plan = make(tmp_path, formats)
    report = validate(tmp_path)
    assert messages(report) == []
    assert sorted(ds.formats for ds in report.datasets) == sorted([f] for f in formats)
    for ds in report.datasets:
        assert Counter(c.split for c in ds.cameras) == COUNTS, ds.folder
    # The silhouette check runs on every view of every format and finds each one exact.
    report = validate(tmp_path, mesh=box_mesh(plan))
    assert messages(report) == []
    assert len(report.scores) == len(plan.views) * len(formats)
    assert all(s.wrong_share == 0 and s.iou == 1 and s.centroid_px < 0.05 for s in report.scores)
    # The summary counts views once, however many formats hold them; the silhouettes once per camera.
    views = f"{len(plan.views)} views" + (f" × {len(formats)} formats" if len(formats) > 1 else "")
    assert report.summary().startswith(f"0 problems in {views}")
    assert f"silhouettes checked on {len(plan.views) * len(formats)} cameras" in report.summary()


@pytest.mark.parametrize("formats", COMBOS, ids="+".join)
def test_each_reader_reads_back_the_planned_poses_and_intrinsics(tmp_path, formats):
    """Writer and reader agree to 1e-6, COLMAP's OpenCV world-to-camera flip and quaternion included."""
    plan = make(tmp_path, formats)
    i = plan.intrinsics
    K = np.array([[i.fl_x, 0, i.cx], [0, i.fl_y, i.cy], [0, 0, 1]])
    for name in formats:
        folder = format_dir(tmp_path, formats, name)
        ds = check_folder(folder)
        assert ds.formats == [name]
        cams = {c.image: c for c in ds.cameras}
        assert len(cams) == len(ds.cameras) == len(plan.views)
        for view in plan.views:
            cam = cams[folder / FORMATS[name].image_relpath(view.split, view.index)]
            assert cam.split == view.split
            assert np.allclose(cam.c2w, view.c2w_array(), rtol=0, atol=1e-6), cam.label
            assert np.allclose(cam.K, K, rtol=0, atol=1e-6), cam.label
            assert tuple(cam.size) == (W, H)


def test_colmap_text_model_reads_back_like_the_binary_twin(tmp_path):
    # The reader prefers sparse/0/*.bin (as 3DGS does), so the text files are only read once those are gone.
    make(tmp_path, ("colmap",))
    binary = check_folder(tmp_path).cameras
    for p in (tmp_path / "sparse" / "0").glob("*.bin"):
        p.unlink()
    text = check_folder(tmp_path).cameras
    assert [c.image for c in text] == [c.image for c in binary]
    for a, b in zip(text, binary):
        assert np.allclose(a.c2w, b.c2w, rtol=0, atol=1e-12) and np.allclose(a.K, b.K, rtol=0, atol=1e-12)


def test_transposed_rotation_is_caught_only_by_reprojection_on_that_view(tmp_path):
    # R^T is still a proper rotation, so no structural check can see it: only the mesh can.
    plan = make(tmp_path, ("nerf",))
    path = tmp_path / "transforms_train.json"
    meta = json.loads(path.read_text())
    m = np.array(meta["frames"][1]["transform_matrix"])
    m[:3, :3] = m[:3, :3].T
    meta["frames"][1]["transform_matrix"] = m.tolist()
    path.write_text(json.dumps(meta))
    assert messages(validate(tmp_path)) == []
    report = validate(tmp_path, mesh=box_mesh(plan))
    assert [f.where for f in report.problems] == [f"{tmp_path.name}/train/r_1.png"]
    assert "misses the image" in report.problems[0].message
    assert report.scores[0].label == f"{tmp_path.name}/train/r_1"  # the worst score is that view's


def edit_json(rel: str, change):
    def plant(out: Path, plan) -> None:
        meta = json.loads((out / rel).read_text())
        change(meta)
        (out / rel).write_text(json.dumps(meta))

    return plant


def add_png_extension(meta):
    for frame in meta["frames"]:
        frame["file_path"] += ".png"


def opencv_camera(out: Path, plan) -> None:
    """A text-only model whose camera has distortion (COLMAP reads the .bin first, so drop it)."""
    sparse = out / "sparse" / "0"
    for p in sparse.glob("*.bin"):
        p.unlink()
    i = plan.intrinsics
    (sparse / "cameras.txt").write_text(f"1 OPENCV {W} {H} {i.fl_x} {i.fl_y} {i.cx} {i.cy} 0.01 0 0 0\n")


TRAPS = {
    # name: (format, plant(out, plan), where the problem is reported (relative to out), words of its message)
    "missing_image": ("nerf", lambda out, plan: (out / "train/r_1.png").unlink(), "train/r_1.png", "is missing"),
    "wrong_size": (
        "nerf",
        lambda out, plan: Image.new("RGBA", (W // 2, H // 2)).save(out / "test/r_0.png"),
        "test/r_0.png",
        "is 16x12, but its metadata says 32x24",
    ),
    "float_w": (
        "nerf",
        edit_json("transforms_train.json", lambda m: m.update(w=32.0)),
        "transforms_train.json",
        "'w' is 32.0",
    ),
    "png_extension": (
        "nerf",
        edit_json("transforms_val.json", add_png_extension),
        "transforms_val.json",
        "has an extension",
    ),
    "nerfstudio_without_fl_x": (
        "nerfstudio",
        edit_json("transforms.json", lambda m: m.pop("fl_x")),
        "transforms.json",
        "nerfstudio's dataparser rejects it",
    ),
    "colmap_opencv_camera": ("colmap", opencv_camera, "sparse/0", "camera 1 is OPENCV"),
    "sparse_beside_transforms": (
        "colmap",
        lambda out, plan: FORMATS["nerf"].write(plan, out),
        "",
        "holds sparse/ and transforms_*.json",
    ),
}


@pytest.mark.parametrize("trap", TRAPS)
def test_planted_trap_is_a_problem(tmp_path, trap):
    fmt, plant, where, words = TRAPS[trap]
    out = tmp_path / "out"
    plant(out, make(out, (fmt,)))
    found = [f for f in validate(out).problems if f.where == str(Path(out.name) / where)]
    assert any(words in f.message for f in found), messages(validate(out))


def test_each_record_claims_its_own_folder_and_no_other(tmp_path):
    # Alone (the format fills OUT) and together (OUT/<format> each): a format's folder is claimed by it only.
    folders = {}
    for name in FORMATS:
        make(tmp_path / "alone" / name, (name,))
        folders[f"alone/{name}"] = (name, tmp_path / "alone" / name)
    make(tmp_path / "together", tuple(FORMATS))
    for name in FORMATS:
        folders[f"together/{name}"] = (name, tmp_path / "together" / name)
    for label, (owner, folder) in folders.items():
        claimed = {name for name, rec in FORMATS.items() if rec.claims(folder)}
        assert claimed == {owner}, label
