"""Issue 16, without Blender: every layout read back as the dataset rig's cameras, foreign files as other tools
write them, the world transform, and the refusals (one sentence each)."""

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from fake_scenes import facts
from foreign_datasets import write_colmap_bin
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image
from test_formats_offline import make

from nerf_dataset.app.ownership import image_namer
from nerf_dataset.core.camera import Intrinsics, Optics, Raster
from nerf_dataset.core.conventions import look_at_c2w_opengl
from nerf_dataset.core.dataset_rig import rig_cameras
from nerf_dataset.core.errors import UserError
from nerf_dataset.core.plan import build_plan
from nerf_dataset.core.settings import SettingError, Settings
from nerf_dataset.core.source_cameras import read_source_cameras
from nerf_dataset.core.world_transform import read_world_transform
from nerf_dataset.exporters import FORMATS


def _plan_from(source: Path, formats=("nerfstudio",), **kw):
    settings = Settings(formats=formats, rig="dataset", cameras_from=str(source), points=0, **kw)
    cams = rig_cameras(read_source_cameras(source, settings.holdout), None, settings.resolution)
    return build_plan(settings, facts(), image_namer(formats), cams)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_layout_we_write_reads_back_as_the_same_views(tmp_path, fmt):
    plan = make(tmp_path, tuple(FORMATS))
    again = _plan_from(tmp_path / fmt)
    assert [(v.split, v.index, v.frame) for v in again.views] == [(v.split, v.index, v.frame) for v in plan.views]
    for a, b in zip(plan.views, again.views, strict=True):
        assert np.allclose(a.c2w_array(), b.c2w_array(), atol=1e-9)
    assert np.allclose(
        [getattr(plan.intrinsics, k) for k in ("fl_x", "fl_y", "cx", "cy")],
        [getattr(again.intrinsics, k) for k in ("fl_x", "fl_y", "cx", "cy")],
        atol=1e-9,
    )
    assert (again.intrinsics.w, again.intrinsics.h) == (plan.intrinsics.w, plan.intrinsics.h)
    assert not again.per_view_intrinsics


def test_a_multi_format_folder_names_its_format_folders(tmp_path):
    make(tmp_path, tuple(FORMATS))
    with pytest.raises(UserError, match="give one of its format folders .*colmap.*nerf"):
        read_source_cameras(tmp_path)


def _per_view_source(tmp_path: Path, fmt: str):
    """A dataset of ``fmt`` whose 5 views each have their own intrinsics, exported from a dataset rig plan."""
    raster, views = Raster(40, 30), []
    for i in range(5):
        c2w = look_at_c2w_opengl([4 * math.cos(i), 4 * math.sin(i), 1.0 + 0.2 * i], [1.0, -0.4, 1.0])
        intr = Intrinsics(raster.width, raster.height, 30.0 + 4 * i, (30.0 + 4 * i) * 1.25, 19.0 + i, 16.5 - i)
        views.append(({0: "train", 1: "train", 2: "val"}.get(i, "test"), f"v{i}", c2w, intr))
    from nerf_dataset.core.source_cameras import SourceCameras, SourceView

    source = SourceCameras("test", tmp_path, tuple(SourceView(*v) for v in views))
    settings = Settings(formats=(fmt,), rig="dataset", cameras_from="x", points=0)
    plan = build_plan(settings, facts(), image_namer((fmt,)), rig_cameras(source, None))
    FORMATS[fmt].write(plan, tmp_path / fmt, None)
    return plan


@pytest.mark.parametrize("fmt", ["ngp", "nerfstudio", "colmap"])
def test_per_view_intrinsics_and_tall_pixels_survive_the_round_trip(tmp_path, fmt):
    plan = _per_view_source(tmp_path, fmt)
    assert plan.per_view_intrinsics and plan.scene.raster.pixel_aspect_y / plan.scene.raster.pixel_aspect_x == 0.8
    again = _plan_from(tmp_path / fmt)
    assert again.scene.raster == plan.scene.raster
    for a, b in zip(plan.views, again.views, strict=True):
        assert (a.split, a.index) == (b.split, b.index)
        assert np.allclose(a.c2w_array(), b.c2w_array(), atol=1e-9)
        ia, ib = plan.intrinsics_of(a), again.intrinsics_of(b)
        assert np.allclose([ia.fl_x, ia.fl_y, ia.cx, ia.cy], [ib.fl_x, ib.fl_y, ib.cx, ib.cy], atol=1e-9)


def _png(path: Path, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)


def test_a_foreign_nerf_synthetic_folder_with_only_camera_angle_x(tmp_path):
    """Paths with and without ``.png``; the size from the first image, as NeRF-synthetic loaders take it."""
    angle = 0.6911112070083618
    poses = [look_at_c2w_opengl([3, 0, 1 + i], [0, 0, 0]).tolist() for i in range(3)]
    for split, name in (("train", "./train/r_0"), ("test", "./test/r_0.png")):
        _png(tmp_path / split / "r_0.png")
        frames = [
            {"file_path": name, "rotation": 0.0, "transform_matrix": poses[i]}
            for i in range(2 if split == "train" else 1)
        ]
        (tmp_path / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    cams = read_source_cameras(tmp_path)
    assert cams.layout == "nerf" and [v.split for v in cams.views] == ["train", "train", "test"]
    fl = 0.5 * 40 / math.tan(0.5 * angle)
    assert all(v.intrinsics == Intrinsics(40, 30, fl, fl, 20.0, 15.0) for v in cams.views)
    assert np.allclose(cams.views[2].c2w, poses[0])


def test_no_size_anywhere_is_one_sentence(tmp_path):
    frames = [{"file_path": "./train/r_0", "transform_matrix": np.eye(4).tolist()}]
    (tmp_path / "transforms_train.json").write_text(json.dumps({"camera_angle_x": 0.7, "frames": frames}))
    with pytest.raises(UserError, match="no w and h, and its first image cannot be read"):
        read_source_cameras(tmp_path)


def test_instant_ngp_frames_override_the_header_and_scale_offset_stay_out(tmp_path):
    c2w = look_at_c2w_opengl([2, 2, 2], [0, 0, 0])
    meta = {
        "fl_x": 50.0, "cx": 20.0, "cy": 15.0, "w": 40, "h": 30, "scale": 0.33, "offset": [0.5, 0.5, 0.5],
        "frames": [
            {"file_path": "a.png", "transform_matrix": c2w.tolist()},
            {"file_path": "b.png", "transform_matrix": c2w.tolist(), "fl_x": 60.0, "fl_y": 61.0},
        ],
    }  # fmt: skip
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    cams = read_source_cameras(tmp_path)
    assert cams.layout == "ngp"
    assert cams.views[0].intrinsics == Intrinsics(40, 30, 50.0, 50.0, 20.0, 15.0)
    assert cams.views[1].intrinsics == Intrinsics(40, 30, 60.0, 61.0, 20.0, 15.0)
    assert np.allclose(cams.views[0].c2w, c2w)


def _nerfstudio(tmp_path: Path, **extra) -> dict:
    meta = {
        "camera_model": "OPENCV", "fl_x": 50.0, "fl_y": 50.0, "cx": 20.0, "cy": 15.0, "w": 40, "h": 30,
        "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0,
        "frames": [
            {"file_path": f"images/f{i}.jpg", "transform_matrix": look_at_c2w_opengl([3, i, 1], [0, 0, 0]).tolist()}
            for i in range(4)
        ],
        "test_filenames": ["images/f1.jpg"],
        **extra,
    }  # fmt: skip
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    return meta


def test_nerfstudio_lists_make_the_splits_and_the_header_wins(tmp_path):
    meta = _nerfstudio(tmp_path)
    meta["frames"][0]["fl_x"] = 99.0  # nerfstudio reads the header's
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    cams = read_source_cameras(tmp_path)
    assert cams.layout == "nerfstudio" and [v.split for v in cams.views] == ["train", "test", "train", "train"]
    assert {v.intrinsics.fl_x for v in cams.views} == {50.0}


@pytest.mark.parametrize(
    "extra, words",
    [
        ({"k1": 0.1}, "lens distortion \\(k1 = 0.1\\)"),
        ({"camera_model": "OPENCV_FISHEYE"}, "camera_model 'OPENCV_FISHEYE'"),
        ({"camera_model": "EQUIRECTANGULAR"}, "renders pinholes only"),
    ],
)
def test_distortion_and_other_models_are_refused(tmp_path, extra, words):
    _nerfstudio(tmp_path, **extra)
    with pytest.raises(UserError, match=words):
        read_source_cameras(tmp_path)


def test_holdout_every_eighth_of_a_source_without_splits(tmp_path):
    meta = _nerfstudio(tmp_path)
    meta["frames"] = meta["frames"] * 5  # 20 frames, file order kept
    del meta["test_filenames"]
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    assert [v.split for v in read_source_cameras(tmp_path).views] == ["train"] * 20
    splits = [v.split for v in read_source_cameras(tmp_path, holdout=8).views]
    assert [i for i, s in enumerate(splits) if s == "test"] == [0, 8, 16]


def test_a_colmap_binary_model_with_simple_pinhole_and_pinhole_cameras(tmp_path):
    poses = [look_at_c2w_opengl([3 * math.cos(i), 3 * math.sin(i), 1], [0, 0, 0]) for i in range(3)]
    write_colmap_bin(
        tmp_path / "sparse" / "0",
        {1: (0, 40, 30, (45.0, 20.5, 14.0)), 2: (1, 40, 30, (45.0, 45.0, 20.0, 15.0))},
        [("c.jpg", 1, poses[2]), ("a.jpg", 2, poses[0]), ("b.jpg", 1, poses[1])],
    )
    cams = read_source_cameras(tmp_path)
    assert [v.name for v in cams.views] == ["a.jpg", "b.jpg", "c.jpg"]  # by name, as 3DGS orders them
    assert cams.views[0].intrinsics == Intrinsics(40, 30, 45.0, 45.0, 20.0, 15.0)
    assert cams.views[1].intrinsics == Intrinsics(40, 30, 45.0, 45.0, 20.5, 14.0)
    for v, pose in zip(cams.views, poses, strict=True):
        assert np.allclose(v.c2w, pose, atol=1e-12)


@pytest.mark.parametrize(
    "model, params, words",
    [
        (4, (45.0, 45.0, 20.0, 15.0, 0.01, 0.0, 0.0, 0.0), "OPENCV with lens distortion"),
        (5, (45.0, 45.0, 20.0, 15.0, 0.0, 0.0, 0.0, 0.0), "OPENCV_FISHEYE"),
    ],
)
def test_colmap_distortion_is_refused_and_zero_distortion_is_a_pinhole(tmp_path, model, params, words):
    pose = look_at_c2w_opengl([3, 0, 1], [0, 0, 0])
    write_colmap_bin(tmp_path / "sparse" / "0", {1: (model, 40, 30, params)}, [("a.jpg", 1, pose)])
    with pytest.raises(UserError, match=words):
        read_source_cameras(tmp_path)
    write_colmap_bin(tmp_path / "m", {1: (4, 40, 30, (45.0, 45.0, 20.0, 15.0, 0, 0, 0, 0))}, [("a.jpg", 1, pose)])
    assert read_source_cameras(tmp_path / "m" / "cameras.bin").views[0].intrinsics.fl_x == 45.0


def test_images_of_two_sizes_are_refused(tmp_path):
    pose = look_at_c2w_opengl([3, 0, 1], [0, 0, 0])
    cams = {1: (1, 40, 30, (45.0, 45.0, 20.0, 15.0)), 2: (1, 80, 60, (90.0, 90.0, 40.0, 30.0))}
    write_colmap_bin(tmp_path, cams, [("a.jpg", 1, pose), ("b.jpg", 2, pose)])
    with pytest.raises(UserError, match="40x30 and 80x60 pixels; one dataset renders one size"):
        read_source_cameras(tmp_path)


def test_missing_or_unreadable_sources(tmp_path):
    with pytest.raises(UserError, match="is missing"):
        read_source_cameras(tmp_path / "nothing")
    (tmp_path / "transforms.json").write_text("{not json")
    with pytest.raises(UserError, match="is not readable JSON"):
        read_source_cameras(tmp_path)
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(UserError, match="no dataset file this tool reads"):
        read_source_cameras(tmp_path / "notes.txt")


def test_a_dataparser_transform_maps_the_capture_frame_into_the_model(tmp_path):
    """nerfstudio saves its dataparser transform from the frame *before* applied_transform: undo that first."""
    applied = np.array([[0.0, 1.0, 0.0, 0.3], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.1]])
    meta = _nerfstudio(tmp_path, applied_transform=applied.tolist())
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    (tmp_path / "dataparser_transforms.json").write_text(
        json.dumps({"transform": np.hstack([rot, [[0.5], [-0.2], [0.0]]]).tolist(), "scale": 0.25})
    )
    source = read_source_cameras(tmp_path)
    cams = rig_cameras(source, read_world_transform(tmp_path / "dataparser_transforms.json"))
    file_c2w = np.array(meta["frames"][0]["transform_matrix"])
    a4 = np.vstack([applied, [0, 0, 0, 1]])
    original = np.linalg.inv(a4) @ file_c2w
    want = np.eye(4)
    want[:3, :3] = rot @ original[:3, :3]
    want[:3, 3] = 0.25 * (rot @ original[:3, 3] + [0.5, -0.2, 0.0])
    assert np.allclose(cams.views[0].c2w, want, atol=1e-12)
    plain = rig_cameras(source, None)  # no transform: the file's own frame
    assert np.allclose(plain.views[0].c2w, file_c2w)


@pytest.mark.parametrize(
    "text, words",
    [
        ("1 0 0 0  0 1 0 0  0 0 1 0  0 0 0 1", None),
        (json.dumps([[2, 0, 0, 1], [0, 2, 0, 0], [0, 0, 2, 0]]), None),
        (json.dumps([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "shears or stretches"),
        (json.dumps([[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "mirrors the world"),
        (json.dumps([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]), "not \\[0, 0, 0, 1\\]"),
        (json.dumps([[1, 0, 0], [0, 1, 0]]), "not a 4x4 or 3x4 matrix"),
        ("1 2 3", "has 3 numbers"),
        ("hello", "neither JSON nor 12 or 16 numbers"),
        (json.dumps({"transform": np.eye(4)[:3].tolist(), "scale": -1}), "scale -1"),
        (json.dumps({"matrix": 1}), "without nerfstudio's 'transform' and 'scale'"),
    ],
)
def test_a_transform_must_be_a_rotation_translation_and_scale(tmp_path, text, words):
    path = tmp_path / "t.txt"
    path.write_text(text)
    if words is None:
        assert read_world_transform(path).map.scale > 0
    else:
        with pytest.raises(UserError, match=words):
            read_world_transform(path)


def test_settings_of_the_dataset_rig():
    with pytest.raises(SettingError, match="--rig dataset renders the views of another dataset: give --cameras-from"):
        Settings(rig="dataset").validate(FORMATS)
    with pytest.raises(SettingError, match="--holdout belongs to --rig dataset, not --rig hemisphere"):
        Settings(holdout=8).validate(FORMATS)
    with pytest.raises(SettingError, match="--rig dataset keeps the source's splits; leave --train out"):
        Settings(rig="dataset", cameras_from="x", train=3).validate(FORMATS)
    with pytest.raises(SettingError, match="leave --lens out"):
        Settings(rig="dataset", cameras_from="x", lens=35.0).validate(FORMATS)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.tuples(st.integers(8, 300), st.integers(8, 300)),
    lens=st.floats(10, 200),
    fit=st.sampled_from(["AUTO", "HORIZONTAL", "VERTICAL"]),
    shift=st.tuples(st.floats(-0.4, 0.4), st.floats(-0.4, 0.4)),
    fmt=st.sampled_from(["nerfstudio", "ngp", "colmap"]),
)
def test_any_camera_reads_back_as_itself(tmp_path_factory, size, lens, fit, shift, fmt):
    # A shift is in units of the fitted side; rendered again it is in image widths, which Blender caps at 10.
    assume(max(abs(s) for s in shift) * max(size) / size[0] < 9.5)
    tmp = tmp_path_factory.mktemp("rt")
    optics = Optics(lens_mm=lens, sensor_fit=fit, shift_x=shift[0], shift_y=shift[1])
    settings = Settings(formats=(fmt,), points=0, train=3, val=1, test=1)
    plan = build_plan(settings, facts(raster=Raster(*size), optics=optics), image_namer((fmt,)))
    FORMATS[fmt].write(plan, tmp, None)
    again = _plan_from(tmp, (fmt,))
    a, b = plan.intrinsics, again.intrinsics
    assert np.allclose([a.fl_x, a.fl_y, a.cx, a.cy], [b.fl_x, b.fl_y, b.cx, b.cy], rtol=1e-9, atol=1e-9)
    for u, v in zip(plan.views, again.views, strict=True):
        assert (u.split, u.index) == (v.split, v.index) and np.allclose(u.c2w_array(), v.c2w_array(), atol=1e-9)


def test_a_trained_models_transform_beside_the_source_is_named_not_applied(tmp_path):
    from nerf_dataset.core.dataset_rig import load_rig_cameras

    _nerfstudio(tmp_path)
    (tmp_path / "dataparser_transforms.json").write_text(json.dumps({"transform": np.eye(4)[:3].tolist(), "scale": 2}))
    settings = Settings(rig="dataset", cameras_from=str(tmp_path))
    assert "is not applied" in load_rig_cameras(settings).notes[0]
    given = Settings(
        rig="dataset", cameras_from=str(tmp_path), cameras_transform=str(tmp_path / "dataparser_transforms.json")
    )
    assert load_rig_cameras(given).notes == ()


# --- what a hostile helper found (issue 16's attack), each a sentence now -----------------------------------


def _ngp(tmp_path: Path, frames: list[dict], **header) -> Path:
    meta = {"fl_x": 40.0, "w": 40, "h": 30, **header, "frames": frames}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    return tmp_path


def _frame(name="a.png", c2w=None, **keys) -> dict:
    pose = look_at_c2w_opengl([3, 0, 1], [0, 0, 0]) if c2w is None else np.asarray(c2w)
    return {"file_path": name, "transform_matrix": pose.tolist(), **keys}


def test_a_folder_of_looping_links_is_refused_at_once(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path)
    (tmp_path / "b").symlink_to(tmp_path)
    with pytest.raises(UserError, match="holds no transforms"):
        read_source_cameras(tmp_path)


def test_an_image_that_says_it_is_zero_pixels_wide(tmp_path):
    import zlib

    ihdr = struct.pack(">IIBBBBB", 0, 30, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "r_0.png").write_bytes(png)
    frames = [_frame("./train/r_0")]
    (tmp_path / "transforms_train.json").write_text(json.dumps({"camera_angle_x": 0.7, "frames": frames}))
    with pytest.raises(UserError, match="says it is 0x30 pixels"):
        read_source_cameras(tmp_path)


def test_images_of_two_sizes_without_w_and_h_are_refused(tmp_path):
    _png(tmp_path / "a.png", (32, 24))
    _png(tmp_path / "b.png", (48, 24))
    frames = [_frame("a.png"), _frame("b.png")]
    (tmp_path / "transforms_train.json").write_text(json.dumps({"camera_angle_x": 0.7, "frames": frames}))
    with pytest.raises(UserError, match="32x24 and 48x24 pixels"):
        read_source_cameras(tmp_path)


@pytest.mark.parametrize(
    "frame, words",
    [
        (_frame(fl_y=80.0), None),
        (_frame(cy=3.0), None),
        (_frame(k2=0.1), "lens distortion \\(k2"),
        (_frame(p1=0.01), "lens distortion \\(p1"),
        (_frame(distortion_params=[0.1, 0, 0, 0, 0, 0]), "lens distortion \\(distortion_params"),
        (_frame(camera_model="OPENCV_FISHEYE"), "camera_model 'OPENCV_FISHEYE'"),
        (_frame(c2w=np.diag([1.0, 1.0, 1.0, 2.0])), "a last row other than 0 0 0 1"),
        (_frame(c2w=np.diag([1.0, 1.0, 1.001, 1.0])), "scaled, sheared or mirrored"),
        (_frame(c2w=np.diag([-1.0, 1.0, 1.0, 1.0])), "scaled, sheared or mirrored"),
        (_frame(c2w=[[1, 0, 0, 1e300], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "beyond what Blender can place"),
    ],
)
def test_a_frames_own_camera_keys_are_read_or_refused(tmp_path, frame, words):
    _ngp(tmp_path, [_frame(), frame])
    if words is None:
        own = read_source_cameras(tmp_path).views[1].intrinsics
        assert (own.fl_y, own.cy) == (frame.get("fl_y", 40.0), frame.get("cy", 15.0))
    else:
        with pytest.raises(UserError, match=words):
            read_source_cameras(tmp_path)


@pytest.mark.parametrize(
    "header, words",
    [
        ({"fl_x": 1e300}, "beyond a 179 degree field of view"),
        ({"fl_x": 1e-30}, "beyond a 179 degree field of view"),
        ({"cx": 1e308}, "a principal point"),
    ],
)
def test_intrinsics_blender_cannot_render_are_refused(tmp_path, header, words):
    _ngp(tmp_path, [_frame()], **header)
    with pytest.raises(UserError, match=words):
        rig_cameras(read_source_cameras(tmp_path), None)


def test_a_nerfstudio_applied_transform_must_be_a_similarity(tmp_path):
    _nerfstudio(tmp_path, applied_transform=[[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    with pytest.raises(UserError, match="applied_transform shears or stretches"):
        read_source_cameras(tmp_path)
    _nerfstudio(tmp_path, applied_transform=[[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    with pytest.raises(UserError, match="applied_transform mirrors"):
        read_source_cameras(tmp_path)


def test_nerfstudio_split_names_compare_as_paths(tmp_path):
    meta = _nerfstudio(tmp_path, test_filenames=["./images/f1.jpg"], train_filenames=["images/f0.jpg", "images/f2.jpg"])
    assert [v.split for v in read_source_cameras(tmp_path).views] == ["train", "test", "train"]  # f3: in no list
    meta["val_filenames"] = ["images/f1.jpg"]
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="in both val_filenames and test_filenames"):
        read_source_cameras(tmp_path)
    meta["val_filenames"] = ["images/nope.jpg"]
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="val_filenames names 'images/nope.jpg', which no frame has"):
        read_source_cameras(tmp_path)
    del meta["val_filenames"]
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="has its own splits; --holdout is for a source without them"):
        read_source_cameras(tmp_path, holdout=8)


def test_a_colmap_quaternion_must_be_a_unit_one(tmp_path):
    write_colmap_bin(tmp_path, {1: (1, 40, 30, (45.0, 45.0, 20.0, 15.0))}, [("a.jpg", 1, np.eye(4))])
    data = bytearray((tmp_path / "images.bin").read_bytes())
    data[12:20] = struct.pack("<d", 1e300)  # QW of the first image
    (tmp_path / "images.bin").write_bytes(bytes(data))
    with pytest.raises(UserError, match="no unit quaternion"):
        read_source_cameras(tmp_path)


def test_a_colmap_text_model_without_its_points_lines_is_refused(tmp_path):
    (tmp_path / "cameras.txt").write_text("1 PINHOLE 40 30 45 45 20 15\n")
    (tmp_path / "images.txt").write_text("1 1 0 0 0 0 0 5 1 a.jpg\n2 1 0 0 0 0 0 5 1 b.jpg\n")
    with pytest.raises(UserError, match="no list of 2D points"):
        read_source_cameras(tmp_path)
    (tmp_path / "images.txt").write_text("1 1 0 0 0 0 0 5 1 a.jpg\n\n2 1 0 0 0 0 0 5 1 b.jpg\n\n")
    assert len(read_source_cameras(tmp_path).views) == 2


def test_too_many_frames_are_refused_before_they_are_read(tmp_path, monkeypatch):
    import nerf_dataset.core.source_cameras as sc

    monkeypatch.setattr(sc, "MAX_SOURCE_VIEWS", 3)
    _ngp(tmp_path, [_frame()] * 4)
    with pytest.raises(UserError, match="has 4 frames, more than the 3"):
        read_source_cameras(tmp_path)


def test_a_stretching_resolution_and_a_holdout_of_one_are_refused(tmp_path):
    _ngp(tmp_path, [_frame()])
    with pytest.raises(UserError, match="does not keep the cameras' 40x30 aspect"):
        rig_cameras(read_source_cameras(tmp_path), None, (30, 40))
    assert rig_cameras(read_source_cameras(tmp_path), None, (80, 60)).views[0].intrinsics.fl_x == 80.0
    with pytest.raises(SettingError, match="--holdout 1 would make every view a test view"):
        Settings(rig="dataset", cameras_from="x", holdout=1).validate(FORMATS)


def test_overflowing_transforms_are_one_sentence_without_warnings(tmp_path):
    import warnings

    path = tmp_path / "t.json"
    for text in (
        json.dumps({"transform": np.eye(4)[:3].tolist(), "scale": 1e308}),
        "1e300 0 0 0 0 1e300 0 0 0 0 1e300 0",
    ):
        path.write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(UserError, match="scale|finite numbers"):
                read_world_transform(path)
    path.write_text(" ".join(["0"] * 40000))
    with pytest.raises(UserError, match="is 78 KiB, over the 64 KiB"):
        read_world_transform(path)


def test_the_output_folder_stays_apart_from_the_source(tmp_path):
    from nerf_dataset.core.dataset_rig import check_apart

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "transforms.json").write_text("{}")
    settings = Settings(rig="dataset", cameras_from=str(tmp_path / "src" / "transforms.json"))
    for out in (tmp_path / "src", tmp_path / "src" / "again", tmp_path):
        with pytest.raises(SettingError, match="overlaps the dataset the cameras come from"):
            check_apart(settings, out)
    check_apart(settings, tmp_path / "again")


def test_deeply_nested_distortion_and_names_that_are_no_text_are_refused(tmp_path):
    deep = "[" * 900 + "0" + "]" * 900
    (tmp_path / "transforms.json").write_text(
        '{"fl_x": 40, "w": 40, "h": 30, "k1": ' + deep + ', "frames": [' + json.dumps(_frame()) + "]}"
    )
    with pytest.raises(UserError, match="lens distortion"):
        read_source_cameras(tmp_path)
    _ngp(tmp_path, [_frame("\ud800.png")])
    with pytest.raises(UserError, match="not valid UTF-8 text"):
        read_source_cameras(tmp_path)


def test_a_missing_source_is_named_as_missing_not_as_overlapping(tmp_path):
    from nerf_dataset.core.dataset_rig import check_apart

    check_apart(Settings(rig="dataset", cameras_from=str(tmp_path / "nothere")), tmp_path / "out")
    with pytest.raises(UserError, match="nothere is missing"):
        read_source_cameras(tmp_path / "nothere")
