"""``cli.py validate``: a good dataset passes; each consumer trap (prior-art c7), planted in a copy, is caught.

The good dataset is rendered once; every test plants one trap in its own copy and runs the validator
as a user would (``cli.py validate DIR``, in-process for speed; one test goes through a subprocess).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

ARGS = ["--demo", "--train", "4", "--val", "2", "--test", "2", "--resolution", "64x48", "--samples", "4"]
ARGS += ["--transparent", "--points", "50", "--format", "nerf,ngp,nerfstudio,colmap", "--seed", "3"]
ARGS += ["--passes", "mask"]


@pytest.fixture(scope="module")
def good(tmp_path_factory, user_resources):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("validate") / "good"
    r = run_cli(*ARGS, "--out", out, user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    assert "validate: 0 problems in 8 views × 4 formats" in r.stdout  # render ran the validator at its end
    return out


@pytest.fixture
def copy(good, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(good, dst)
    return dst


def validate(path, *extra) -> tuple[int, list[str], str]:
    import contextlib
    import io

    from nerf_dataset.commands import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["cli.py", "validate", str(path), *map(str, extra)])
    return rc, err.getvalue().splitlines(), out.getvalue()


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_the_good_dataset_passes_with_its_silhouettes(good, cli):
    r = cli("validate", good, "--demo")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("validate: 0 problems in 8 views × 4 formats (colmap, nerf, nerfstudio, ngp)")
    assert "silhouettes checked on 32 cameras" in r.stdout
    assert "Traceback" not in r.stderr


def _caught(path, needle, *extra):
    rc, lines, _ = validate(path, *extra)
    assert rc == 1
    problems = [ln for ln in lines if "note:" not in ln]
    assert any(needle in ln for ln in problems), lines
    return problems


def test_extension_in_nerf_file_path(copy):
    edit_json(copy / "nerf/transforms_train.json", lambda d: d["frames"][0].update(file_path="./train/r_0.png"))
    _caught(copy, "has an extension: 3DGS and blender-data open './train/r_0.png.png'")


def test_nerfstudio_file_path_without_extension(copy):
    edit_json(copy / "nerfstudio/transforms.json", lambda d: d["frames"][1].update(file_path="images/train_0001"))
    _caught(copy, "has no extension: nerfstudio opens it as written")


def test_only_camera_angle_x_for_nerfstudio(copy):
    def angle_only(d):
        d["camera_angle_x"] = 2 * np.arctan(0.5 * d["w"] / d.pop("fl_x"))
        del d["fl_y"]

    edit_json(copy / "nerfstudio/transforms.json", angle_only)
    _caught(copy, "camera_angle_x but no fl_x/fl_y: nerfstudio's dataparser rejects it")


def test_pose_only_split(copy):
    shutil.rmtree(copy / "nerf/test")
    _caught(copy, "the test split has poses but none of its 2 images (pose-only)")


def test_float_width_and_height(copy):
    edit_json(copy / "ngp/transforms.json", lambda d: d.update(w=float(d["w"])))
    _caught(copy, "'w' is 64.0, not an integer")


def test_colmap_camera_with_distortion(copy):
    sparse = copy / "colmap/sparse/0"
    for name in ("cameras.bin", "images.bin", "points3D.bin"):
        (sparse / name).unlink()
    lines = (sparse / "cameras.txt").read_text().splitlines()
    cam = lines[-1].split()
    lines[-1] = " ".join([cam[0], "OPENCV", *cam[2:], "0.01", "0", "0", "0"])
    (sparse / "cameras.txt").write_text("\n".join(lines) + "\n")
    _caught(copy, "camera 1 is OPENCV: 3D Gaussian Splatting accepts only PINHOLE")


def test_colmap_and_nerf_in_one_folder(copy):
    shutil.copy(copy / "nerf/transforms_train.json", copy / "colmap/transforms_train.json")
    _caught(copy, "holds sparse/ and transforms_*.json: 3D Gaussian Splatting silently picks COLMAP")


def test_transforms_json_beside_split_files(copy):
    shutil.copy(copy / "ngp/transforms.json", copy / "nerf/transforms.json")
    _caught(copy, "holds transforms.json and transforms_*.json: torch-ngp picks its colmap mode")


def test_extra_json_with_frames(copy):
    shutil.copy(copy / "ngp/transforms.json", copy / "ngp/transforms_old.json")
    _caught(copy, "transforms_old.json: has frames beside the dataset's own JSON: instant-ngp given the folder")


def test_missing_image(copy):
    (copy / "nerfstudio/images/train_0002.png").unlink()
    _caught(copy, "nerfstudio/images/train_0002.png: is missing")


def test_image_of_the_wrong_size(copy):
    path = copy / "colmap/images/val_0001.png"
    Image.open(path).resize((32, 24)).save(path)
    _caught(copy, "colmap/images/val_0001.png: is 32x24, but its metadata says 64x48")


def test_mask_of_nothing(copy):
    path = copy / "nerfstudio/masks/val_0000.png"
    Image.new("L", Image.open(path).size).save(path)
    _caught(copy, "masks/val_0000.png: disagrees with its image's alpha on")


def test_mask_of_the_wrong_size(copy):
    path = copy / "nerf/test/r_1_mask.png"
    Image.open(path).resize((16, 12)).save(path)
    _caught(copy, "r_1_mask.png: is 16x12, but its image is 64x48")


def test_rotation_that_is_not_orthonormal(copy):
    def stretch(d):
        m = np.array(d["frames"][0]["transform_matrix"])
        m[:3, 0] *= 1.1
        d["frames"][0]["transform_matrix"] = m.tolist()

    edit_json(copy / "nerf/transforms_val.json", stretch)
    _caught(copy, "has a camera rotation that is not orthonormal")


def test_view_repeated_across_splits(copy):
    train = json.loads((copy / "nerf/transforms_train.json").read_text())
    edit_json(copy / "nerf/transforms_test.json", lambda d: d["frames"].append(train["frames"][0]))
    _caught(copy, "repeats the pose of nerf/train/r_0 (train): held-out views leak into training")


def test_windows_backslashes(copy):
    edit_json(copy / "nerf/transforms_train.json", lambda d: d["frames"][0].update(file_path=".\\train\\r_0"))
    _caught(copy, "has backslashes: only instant-ngp rewrites them")


def test_transposed_pose_fails_the_reprojection(copy):
    def transpose(d):
        m = np.array(d["frames"][0]["transform_matrix"])
        m[:3, :3] = m[:3, :3].T
        d["frames"][0]["transform_matrix"] = m.tolist()

    edit_json(copy / "nerfstudio/transforms.json", transpose)
    assert validate(copy)[0] == 0  # still a rotation: only the scene can tell it is the wrong one
    problems = _caught(copy, "the object projected with its camera misses the image", "--demo")
    assert len(problems) == 1 and "nerfstudio/images/train_0000.png" in problems[0]


def test_a_sample_of_views(good):
    rc, _, out = validate(good, "--demo", "--sample", "2")
    assert rc == 0 and "silhouettes checked on 8 cameras" in out  # 2 per format


def test_not_a_dataset(tmp_path):
    rc, lines, out = validate(tmp_path)
    assert rc == 2 and len(lines) == 1 and "holds no dataset" in lines[0] and out == ""
    rc, lines, _ = validate(tmp_path / "nowhere")
    assert rc == 2 and len(lines) == 1 and "is not a folder" in lines[0]


def test_preview_shows_each_split_and_every_camera(good):
    from nerf_dataset.core.preview import PAD, PLOT, SPLIT_COLORS

    image = np.asarray(Image.open(good / "preview.png").convert("RGB"))
    plots = image[:, -PLOT:]
    sheet = image[:, : -PLOT - PAD]
    for split, color in SPLIT_COLORS.items():
        assert (plots == color).all(axis=-1).sum() >= 4, split  # each split's camera dots in the plots
    assert np.unique(sheet.reshape(-1, 3), axis=0).shape[0] > 500  # thumbnails of real renders, not a blank


def test_off_centre_principal_point_is_a_note_for_nerf_synthetic(copy):
    edit_json(copy / "nerf/transforms_train.json", lambda d: d.update(cx=d["cx"] + 3))
    rc, lines, out = validate(copy)
    assert rc == 0 and out.startswith("validate: 0 problems")  # the data may be right: only some readers err
    assert any("note:" in ln and "3DGS's Blender loader and nerfstudio's blender-data ignore cx" in ln for ln in lines)


def test_blender_style_arguments_reach_validate(good):
    import contextlib
    import io

    from nerf_dataset.commands import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["blender", "-b", "scene.blend", "-P", "cli.py", "--", "validate", str(good)])
    assert rc == 0 and out.getvalue().startswith("validate: 0 problems")


def test_the_original_nerf_synthetic_layout_without_w_and_h(copy):
    """The original scenes give only camera_angle_x: the size comes from the images, as their loaders do."""

    def original(d):
        for key in ("camera_angle_y", "fl_x", "fl_y", "cx", "cy", "w", "h"):
            d.pop(key)

    for split in ("train", "val", "test"):
        edit_json(copy / f"nerf/transforms_{split}.json", original)
    for other in ("ngp", "nerfstudio", "colmap"):
        shutil.rmtree(copy / other)
    rc, lines, out = validate(copy, "--demo")
    assert rc == 0, lines
    assert "silhouettes checked on 8 cameras" in out


def test_nerfstudio_intrinsics_per_frame(copy):
    """ns-process-data style: fl_x, cx ... in every frame instead of the top level."""

    def per_frame(d):
        keys = {k: d.pop(k) for k in ("fl_x", "fl_y", "cx", "cy", "w", "h")}
        for f in d["frames"]:
            f.update(keys)

    edit_json(copy / "nerfstudio/transforms.json", per_frame)
    rc, lines, out = validate(copy, "--demo")
    assert rc == 0, lines
    assert "silhouettes checked on 32 cameras" in out


def test_the_model_given_with_import_is_reprojected(good, tmp_path, fresh_bpy):
    """``--import MODEL`` works like ``--blend``: the demo object, exported and imported again, matches."""
    from nerf_dataset.blender_io.demo import build_demo_scene

    build_demo_scene()
    model = tmp_path / "demo.obj"
    fresh_bpy.ops.wm.obj_export(filepath=str(model), export_selected_objects=True, export_materials=False)
    rc, lines, out = validate(good, "--import", model)
    assert rc == 0, lines
    assert "silhouettes checked on 32 cameras" in out
    rc, lines, _ = validate(good, "--import", model, "--demo")
    assert rc == 2 and "not allowed with argument" in lines[0]
