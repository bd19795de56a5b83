"""``NerfDataset`` over a real dataset: one demo render (Blender through cli.py) written in all four formats,
40x30 on purpose (non-square: a swapped width and height shows), with depth, normals, mask and 2x copies."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from nerf_dataset.core.errors import UserError
from nerf_dataset.stream.dataset import NerfDataset
from nerf_dataset.stream.dataset_files import DatasetFiles

pytestmark = pytest.mark.blender

FORMATS = ("nerf", "ngp", "nerfstudio", "colmap")
W, H = 40, 30
FLIP = np.diag([1.0, -1.0, -1.0, 1.0])


@pytest.fixture(scope="module")
def out(tmp_path_factory, user_resources):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("nerf_dataset") / "out"
    args = ["--demo", "--out", out, "--format", ",".join(FORMATS), "--resolution", f"{W}x{H}", "--samples", "2"]
    args += ["--train", "4", "--val", "2", "--test", "2", "--transparent", "--passes", "depth,normal,mask"]
    args += ["--downscales", "2", "--points", "0"]
    r = run_cli(*args, user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture
def nerf_copy(out, tmp_path):
    """A copy of the NeRF-synthetic output to spoil."""
    copy = tmp_path / "nerf"
    shutil.copytree(out / "nerf", copy)
    return copy


def _edit(path, change):
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("split", ["train", "val", "test", "all"])
def test_the_four_formats_are_the_same_views(out, split):
    sets = {f: DatasetFiles(out / f, split) for f in FORMATS}
    assert {f: s.layout for f, s in sets.items()} == {f: f for f in FORMATS}
    counts = {"train": 4, "val": 2, "test": 2, "all": 8}
    assert {len(s) for s in sets.values()} == {counts[split]}
    for i in range(counts[split]):
        frames = {f: s.frame(i) for f, s in sets.items()}
        ref = frames["nerf"]
        assert ref["image"].shape == (H, W, 4) and ref["image"].dtype == np.float32
        assert (ref["width"], ref["height"]) == (W, H)
        assert 0.0 <= ref["image"].min() and ref["image"].max() <= 1.0
        assert ref["c2w"].dtype == np.float64 and ref["K"].shape == (3, 3)
        assert set(ref) >= {"depth", "normal", "mask"}
        for f, fr in frames.items():
            assert (fr["split"], fr["index"]) == (ref["split"], ref["index"]), f
            np.testing.assert_allclose(fr["c2w"], ref["c2w"], atol=1e-6, err_msg=f)
            np.testing.assert_allclose(fr["K"], ref["K"], atol=1e-6, err_msg=f)
            for key in ("image", "depth", "normal", "mask"):
                np.testing.assert_array_equal(fr[key], ref[key], err_msg=f"{f} {key}")
    names = [sets["nerfstudio"].frame(i)["name"] for i in range(counts[split])]
    assert all(n.startswith("images/") and n.endswith(".png") for n in names)
    assert sets["ngp"].frame(0)["name"] == ("train/r_0.png" if split in ("train", "all") else f"eval/{split}/r_0.png")


def test_the_camera_is_the_one_written(out):
    meta = json.loads((out / "nerf" / "transforms_train.json").read_text())
    frame = DatasetFiles(out / "nerf").frame(1)
    np.testing.assert_array_equal(frame["c2w"], np.array(meta["frames"][1]["transform_matrix"]))
    K = [[meta["fl_x"], 0, meta["cx"]], [0, meta["fl_y"], meta["cy"]], [0, 0, 1]]
    np.testing.assert_array_equal(frame["K"], K)
    assert frame["name"] == "train/r_1.png" and frame["index"] == 1


def test_an_output_folder_with_one_format_is_read_and_with_several_refused(out, tmp_path):
    with pytest.raises(UserError, match="give one of its format folders"):
        DatasetFiles(out)
    shutil.copytree(out / "colmap", tmp_path / "colmap")
    assert DatasetFiles(tmp_path).layout == "colmap"
    assert DatasetFiles(out / "ngp" / "transforms.json", "val").layout == "ngp"


def test_opencv_convention(out):
    gl = NerfDataset(out / "nerfstudio", split="all")
    cv = NerfDataset(out / "nerfstudio", split="all", convention="opencv")
    for i in range(len(gl)):
        a, b = gl[i]["c2w"], cv[i]["c2w"]
        assert a.dtype == b.dtype == torch.float64
        torch.testing.assert_close(b, a @ torch.from_numpy(FLIP), rtol=0, atol=1e-12)
        torch.testing.assert_close(cv.rays(i)["directions"], gl.rays(i)["directions"])  # rays are world-space


def test_background(out):
    keep, white, black = (NerfDataset(out / "nerf", background=b) for b in ("keep", "white", "black"))
    rgba = keep[0]["image"]
    assert rgba.shape == (H, W, 4) and rgba.dtype == torch.float32
    alpha = rgba[..., 3:]
    assert (alpha == 0).any() and (alpha == 1).any()  # transparent render: both background and object
    torch.testing.assert_close(white[0]["image"], rgba[..., :3] * alpha + (1 - alpha))
    torch.testing.assert_close(black[0]["image"], rgba[..., :3] * alpha)
    assert white[0]["image"][alpha[..., 0] == 0].eq(1).all()
    assert NerfDataset(out / "nerf", dtype=torch.float64)[0]["image"].dtype == torch.float64
    with pytest.raises(ValueError, match="background"):
        NerfDataset(out / "nerf", background="grey")
    with pytest.raises(ValueError, match="convention"):
        NerfDataset(out / "nerf", convention="colmap")


def test_depth_back_projects_onto_its_pixels_within_the_scene(out):
    import OpenEXR

    bounds = json.loads((out / ".nerf_dataset" / "plan.json").read_text())["scene"]
    lo, hi = np.array(bounds["scene_bounds_min"]) - 0.01, np.array(bounds["scene_bounds_max"]) + 0.01
    ds = NerfDataset(out / "colmap", split="all")
    hits = 0
    inter = union = 0
    for i in range(len(ds)):
        item, rays = ds[i], ds.rays(i)
        depth = rays["depth"].numpy().astype(np.float64)
        assert rays["origins"].shape == rays["directions"].shape == (H * W, 3)
        assert rays["colors"].shape == (H * W, 4)
        on = depth > 0
        hits += on.sum()
        points = rays["origins"].numpy()[on] + depth[on, None] * rays["directions"].numpy()[on]
        assert ((points >= lo) & (points <= hi)).all(), f"view {i}: a depth point outside the scene"
        # back into the camera (OpenCV axes) and through K: the same pixel centre, at z = the depth
        c2w = item["c2w"].numpy() @ FLIP
        cam = (points - c2w[:3, 3]) @ c2w[:3, :3]
        np.testing.assert_allclose(cam[:, 2], depth[on], rtol=1e-9)
        uv = cam[:, :2] / cam[:, 2:] @ item["K"].numpy()[:2, :2].T + item["K"].numpy()[:2, 2]
        v, u = np.divmod(np.nonzero(on)[0], W)
        np.testing.assert_allclose(uv, np.stack([u + 0.5, v + 0.5], axis=1), atol=1e-3)
        # the PNG's millimetres are the EXR's z
        exr = OpenEXR.File(str(out / "colmap" / "depths" / f"{item['name'][7:-4]}.exr")).channels()["V"].pixels
        np.testing.assert_allclose(item["depth"].numpy()[on.reshape(H, W)], exr[on.reshape(H, W)], atol=6e-4)
        # the mask is the object's alpha, and the normals are unit vectors where there is a surface
        mask, alpha = item["mask"].numpy(), item["image"].numpy()[..., 3] >= 0.5
        inter, union = inter + (mask & alpha).sum(), union + (mask | alpha).sum()
        normal = item["normal"].numpy()
        assert normal.min() >= -1 and normal.max() <= 1
        length = np.linalg.norm(normal[mask], axis=-1)
        assert np.median(length) > 0.95
        assert not normal[item["image"].numpy()[..., 3] == 0].any()
    assert hits > 0.05 * len(ds) * W * H  # the object covers about 15% of the demo views
    assert inter / union > 0.9
    everything = ds.rays()
    assert everything["origins"].shape == (len(ds) * H * W, 3)
    assert everything["depth"].shape == (len(ds) * H * W,)


@pytest.mark.parametrize("fmt", ["nerfstudio", "colmap"])
def test_downscale_reads_the_half_size_copies(out, fmt):
    full, half = DatasetFiles(out / fmt, "val"), DatasetFiles(out / fmt, "val", downscale=2)
    for i in range(len(full)):
        a, b = full.frame(i), half.frame(i)
        assert (b["width"], b["height"]) == (W // 2, H // 2) and b["image"].shape == (H // 2, W // 2, 4)
        np.testing.assert_allclose(b["K"][:2], a["K"][:2] / 2)
        assert b["K"][2, 2] == 1
        np.testing.assert_array_equal(b["c2w"], a["c2w"])
        assert b["name"] == a["name"].replace("images/", "images_2/")
        stored = np.asarray(Image.open(out / fmt / b["name"]), dtype=np.float32) / 255
        np.testing.assert_array_equal(b["image"], stored)
        assert b["depth"].shape == b["mask"].shape == (H // 2, W // 2)
        assert "normal" not in b  # no normals_2/: the add-on downscales masks and depths only
    # a pixel centre of the copy maps to (u + 0.5) * 2 of the original: the same ray
    rays_half = NerfDataset(out / fmt, "val", downscale=2).rays(0)["directions"].reshape(H // 2, W // 2, 3)
    rays_full = NerfDataset(out / fmt, "val").rays(0)["directions"].reshape(H, W, 3)
    corner = (rays_full[0::2, 0::2] + rays_full[1::2, 1::2]) / 2  # midway between pixels (0,0) and (1,1)
    torch.testing.assert_close(rays_half, corner)
    with pytest.raises(UserError, match="no images downscaled by 3.*them for 2"):
        DatasetFiles(out / fmt, downscale=3)


def test_downscale_refused_where_there_are_no_copies(out):
    with pytest.raises(UserError, match="no images downscaled by 2"):
        NerfDataset(out / "nerf", downscale=2)


def test_dataloader_collates(out):
    ds = NerfDataset(out / "ngp", split="train", background="white")
    batches = list(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0))
    assert len(batches) == 2
    batch = batches[0]
    assert batch["image"].shape == (2, H, W, 3) and batch["c2w"].shape == (2, 4, 4) and batch["K"].shape == (2, 3, 3)
    assert batch["depth"].shape == (2, H, W) and batch["normal"].shape == (2, H, W, 3)
    assert batch["mask"].dtype == torch.bool
    assert batch["name"] == ["train/r_0.png", "train/r_1.png"] and batch["index"].tolist() == [0, 1]
    assert batch["width"].tolist() == [W, W] and batch["split"] == ["train", "train"]
    assert repr(ds) == f"NerfDataset(path='{out / 'ngp'}', layout='ngp', split='train', count=4)"


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "./train/../../x/r_0"])
def test_hostile_image_names_are_refused(nerf_copy, name):
    def spoil(meta):
        meta["frames"][0]["file_path"] = name

    _edit(nerf_copy / "transforms_train.json", spoil)
    with pytest.raises(UserError, match="absolute|'\\.\\.'"):
        DatasetFiles(nerf_copy)


def test_pass_files_leading_outside_are_refused(nerf_copy, tmp_path):
    (tmp_path / "secret.png").write_bytes((nerf_copy / "train" / "r_0_mask.png").read_bytes())
    os.symlink(tmp_path / "secret.png", nerf_copy / "train" / "link.png")

    def spoil(meta):
        meta["frames"][0]["mask_path"] = "./train/link.png"

    _edit(nerf_copy / "transforms_train.json", spoil)
    with pytest.raises(UserError, match="outside the dataset folder"):
        DatasetFiles(nerf_copy)


def test_a_missing_split_is_refused(nerf_copy):
    (nerf_copy / "transforms_test.json").unlink()
    assert len(DatasetFiles(nerf_copy, "train")) == 4
    with pytest.raises(UserError, match="has no test views"):
        NerfDataset(nerf_copy, split="test")
    with pytest.raises(ValueError, match="split"):
        DatasetFiles(nerf_copy, split="training")


def test_an_image_of_the_wrong_size_is_refused(nerf_copy):
    image = nerf_copy / "train" / "r_0.png"
    small = Image.open(image).resize((W // 2, H // 2))
    image.unlink()  # a hard link to the other formats' image: replace, don't write through it
    small.save(image)
    ds = NerfDataset(nerf_copy)
    ds[1]  # the others still read
    with pytest.raises(UserError, match=f"is 20x15 pixels, but its camera says {W}x{H}"):
        ds[0]


def test_a_file_that_is_no_image_is_refused(nerf_copy):
    depth = nerf_copy / "train" / "r_0_depth.png"
    depth.unlink()
    depth.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(UserError, match="is not a readable image"):
        DatasetFiles(nerf_copy).frame(0)
