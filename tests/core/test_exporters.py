"""Writers, read back the way their consumers read them (rules from shared/research/prior-art.md §c)."""

import json
from pathlib import Path

import numpy as np
import pytest
from fake_scenes import facts
from PIL import Image

from nerf_dataset.app.dataset import export
from nerf_dataset.app.ownership import image_namer
from nerf_dataset.core.plan import build_plan, save_plan
from nerf_dataset.core.settings import Settings
from nerf_dataset.exporters import FORMATS


def fake_render(plan, out: Path):
    for v in plan.views:
        p = out / v.image
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGBA", (plan.intrinsics.w, plan.intrinsics.h)).save(p)


def make(tmp_path, formats, **kw):
    settings = Settings(formats=formats, train=4, val=2, test=3, **kw)
    plan = build_plan(settings, facts(), image_namer(formats))
    save_plan(plan, tmp_path)
    fake_render(plan, tmp_path)
    export(plan, tmp_path)
    return plan


def read_like_3dgs_blender(root: Path, split: str):
    """As 3D Gaussian Splatting's readCamerasFromTransforms: camera_angle_x, path + '.png'."""
    d = json.loads((root / f"transforms_{split}.json").read_text())
    fovx = d["camera_angle_x"]
    cams = []
    for frame in d["frames"]:
        image = root / (frame["file_path"] + ".png")
        assert image.is_file(), image
        c2w = np.array(frame["transform_matrix"])
        c2w[:3, 1:3] *= -1
        cams.append((np.linalg.inv(c2w), fovx, Image.open(image).size))
    return cams


def test_nerf_synthetic_loads_as_3dgs_reads_it(tmp_path):
    plan = make(tmp_path, ("nerf",))
    for split, n in (("train", 4), ("val", 2), ("test", 3)):
        assert len(read_like_3dgs_blender(tmp_path, split)) == n
    d = json.loads((tmp_path / "transforms_train.json").read_text())
    assert d["frames"][0]["file_path"] == "./train/r_0"
    assert type(d["w"]) is int and type(d["h"]) is int
    assert {"fl_x", "fl_y", "cx", "cy"} <= d.keys()
    assert np.allclose(d["frames"][1]["transform_matrix"], plan.split("train")[1].c2w_array())


def read_like_instant_ngp(path: Path):
    """instant-ngp: a folder loads every *.json directly inside it; a frame whose image is missing throws."""
    jsons = sorted(path.glob("*.json")) if path.is_dir() else [path]
    frames = []
    for j in jsons:
        d = json.loads(j.read_text())
        for f in d.get("frames", []):
            assert (j.parent / f["file_path"]).is_file(), f["file_path"]
            frames.append(f)
    return frames


def test_instant_ngp_trains_on_train_only_and_scores_held_out(tmp_path):
    make(tmp_path, ("ngp",))
    assert len(read_like_instant_ngp(tmp_path)) == 4
    assert len(read_like_instant_ngp(tmp_path / "transforms.json")) == 4
    assert len(read_like_instant_ngp(tmp_path / "eval" / "transforms_test.json")) == 3
    d = json.loads((tmp_path / "transforms.json").read_text())
    assert d["frames"][0]["file_path"] == "train/r_0.png"
    assert d["aabb_scale"] in (1, 2, 4, 8, 16, 32, 64, 128)


def test_instant_ngp_scale_and_offset_put_the_target_in_the_unit_cube(tmp_path):
    plan = make(tmp_path, ("ngp",))
    d = json.loads((tmp_path / "transforms.json").read_text())
    corners = np.array([plan.scene.bounds_min, plan.scene.bounds_max])
    ngp = corners * d["scale"] + np.array(d["offset"])
    assert ngp.min() >= 0.0 and ngp.max() <= 1.0
    assert np.allclose(ngp.mean(axis=0), 0.5)


def test_several_formats_get_one_self_contained_folder_each(tmp_path):
    make(tmp_path, ("nerf", "ngp"))
    shared = [".nerf_dataset", "camera_paths", "preview.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*shared, "nerf", "ngp"])
    assert not list((tmp_path / "nerf").glob("transforms.json"))
    assert not list((tmp_path / "ngp").glob("transforms_*.json"))
    assert len(read_like_3dgs_blender(tmp_path / "nerf", "test")) == 3
    assert len(read_like_instant_ngp(tmp_path / "ngp")) == 4
    # The images are shared, not rendered twice: hard links to the same file.
    a, b = tmp_path / "nerf/train/r_0.png", tmp_path / "ngp/train/r_0.png"
    assert a.stat().st_ino == b.stat().st_ino


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_output_is_deterministic(tmp_path, fmt):
    make(tmp_path / "a", (fmt,))
    make(tmp_path / "b", (fmt,))
    for p in (tmp_path / "a").rglob("*.json"):
        assert p.read_bytes() == (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes()


def test_linking_twice_leaves_no_temporary_files(tmp_path):
    from nerf_dataset.core.files import link_or_copy

    src, dst = tmp_path / "a.png", tmp_path / "sub" / "a.png"
    src.write_bytes(b"x")
    link_or_copy(src, dst)
    link_or_copy(src, dst)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["a.png"]


@pytest.mark.parametrize("reader", ["read_text", "read_binary"])
def test_colmap_model_reads_back_in_pycolmap_as_planned(tmp_path, reader):
    import pycolmap

    from nerf_dataset.core.conventions import c2w_opengl_to_w2c_opencv

    plan = make(tmp_path, ("colmap",))
    rec = pycolmap.Reconstruction()
    getattr(rec, reader)(str(tmp_path / "sparse" / "0"))
    assert (rec.num_cameras(), rec.num_images(), rec.num_points3D()) == (1, len(plan.views), 0)
    camera = rec.cameras[1]
    i = plan.intrinsics
    assert camera.model == pycolmap.CameraModelId.PINHOLE and (camera.width, camera.height) == (i.w, i.h)
    assert np.allclose(camera.params, [i.fl_x, i.fl_y, i.cx, i.cy], atol=1e-9)
    for image_id, view in enumerate(plan.views, start=1):
        image = rec.images[image_id]
        assert (tmp_path / "images" / image.name).is_file()
        w2c = c2w_opengl_to_w2c_opencv(view.c2w_array())
        got = image.cam_from_world()
        assert np.allclose(got.rotation.matrix(), w2c[:3, :3], atol=1e-6)
        assert np.allclose(got.translation, w2c[:3, 3], atol=1e-6)


def test_nerfstudio_data_rules(tmp_path):
    """As nerfstudio-data reads it: intrinsics present, every file_path opened literally, every split name
    matching a frame, downscales found as images_<k>/<file name>."""
    plan = make(tmp_path, ("nerfstudio",))
    d = json.loads((tmp_path / "transforms.json").read_text())
    assert {"fl_x", "fl_y", "cx", "cy", "w", "h", "camera_model"} <= d.keys()
    paths = [f["file_path"] for f in d["frames"]]
    assert all((tmp_path / p).is_file() and p.endswith(".png") for p in paths)
    assert len({Path(p).name for p in paths}) == len(paths)  # flat: images_<k>/<name> is unambiguous
    for split in ("train", "val", "test"):
        names = d[f"{split}_filenames"]
        assert set(names) <= set(paths) and len(names) == len(plan.split(split))
    assert not set(d["train_filenames"]) & (set(d["val_filenames"]) | set(d["test_filenames"]))
