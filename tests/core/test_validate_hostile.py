"""``validate`` on anyone's files: every file hostile, and validate never crashes, hangs, reads without bound
or reads outside the dataset; what is wrong is a problem on one line, and the CLI keeps its exit codes.

Each hostile class has its test on a copy of a clean four-format dataset made without Blender
(``test_formats_offline.make``); a property test then mutates that dataset at random.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from conftest import CLI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_formats_offline import box_mesh, make

from nerf_dataset.app.validate import validate
from nerf_dataset.commands import main
from nerf_dataset.core.reader_kit import MAX_FINDINGS
from nerf_dataset.core.untrusted import Unreadable, inside, read_bounded
from nerf_dataset.exporters import FORMATS

# A hostile file must be answered within this (the clean dataset takes a few tens of milliseconds).
SECONDS = 10


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "good"
    return out, box_mesh(make(out, tuple(FORMATS)))


@pytest.fixture
def ds(pristine, tmp_path) -> Path:
    """A copy of the clean dataset (copied file by file: the export's hard links are not shared)."""
    return Path(shutil.copytree(pristine[0], tmp_path / "ds"))


def bounded(fn, seconds: float = SECONDS):
    """``fn()`` in a daemon thread: a call that blocks (a FIFO opened) fails the test instead of hanging it."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def checked(root: Path, mesh=None):
    """validate's report, produced in bounded time, every line of it one printable line."""
    report = bounded(lambda: validate(root, mesh))
    for line in [*report.lines(), report.summary()]:
        assert line.splitlines() == [line], line
        line.encode("utf-8")  # no lone surrogates: a terminal can print it
    for ds in report.datasets:
        assert all(inside(ds.folder, cam.image) for cam in ds.cameras)
    return report


def lines_of(root: Path, mesh=None) -> list[str]:
    return checked(root, mesh).lines()


def found(lines: list[str], where: str, words: str) -> bool:
    return any(line.startswith(where) and words in line for line in lines)


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# Files that aren't files -------------------------------------------------------------------------------


def test_a_fifo_named_like_a_dataset_file_is_not_opened(ds):
    for rel in ("ngp/transforms.json", "nerf/transforms_val.json", "nerfstudio/images/train_0000.png"):
        (ds / rel).unlink()
        os.mkfifo(ds / rel)
    os.mkfifo(ds / "nerf/old.json")  # instant-ngp opens every *.json of the folder
    lines = lines_of(ds)
    for rel in ("ngp/transforms.json", "nerf/transforms_val.json", "nerfstudio/images/train_0000.png", "nerf/old"):
        assert found(lines, rel, "is a FIFO, not a regular file: not read"), lines


def test_a_link_to_dev_zero_is_not_read(ds):
    (ds / "nerf/transforms_train.json").unlink()
    (ds / "nerf/transforms_train.json").symlink_to("/dev/zero")
    assert found(lines_of(ds), "nerf/transforms_train.json", "resolves outside the dataset folder: not read")
    with pytest.raises(Unreadable, match="is a character device, not a regular file"):
        read_bounded("/dev/zero")  # and outside of any folder, it is still no file to read


def test_a_file_of_gigabytes_is_not_read(ds):
    os.truncate(ds / "ngp/transforms.json", 3 * 2**30)  # sparse: takes no disk, would take 3 GiB of memory
    start = time.monotonic()
    assert found(lines_of(ds), "ngp/transforms.json", "is 3072 MiB, over the 64 MiB a metadata file may have")
    assert time.monotonic() - start < 2


def test_json_nested_a_hundred_thousand_deep(ds):
    (ds / "nerf/transforms_val.json").write_text("[" * 100_000 + "]" * 100_000)
    (ds / "nerfstudio/transforms.json").write_text('{"frames": ' + "[" * 100_000 + "]" * 100_000 + "}")
    lines = lines_of(ds)
    assert found(lines, "nerf/transforms_val.json", "is not readable JSON (nested too deeply)")
    assert found(lines, "nerfstudio/transforms.json", "is not readable JSON (nested too deeply)")


# Paths that leave the dataset ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, words",
    [
        ("../../../../../../etc/passwd", "leads outside the dataset folder: not read"),
        ("/etc/passwd", "is absolute: the dataset works only where it was made"),
        ("C:\\Windows\\win.ini", "is absolute"),
        ("images/a\x00b.png", "has a NUL character"),
        (12, "file_path 12 is a number, not a path"),
        (None, "file_path null is null, not a path"),
    ],
)
def test_a_file_path_outside_the_folder_is_a_problem_and_not_opened(ds, value, words):
    edit(ds / "nerfstudio/transforms.json", lambda d: d["frames"][0].update(file_path=value))
    edit(ds / "nerf/transforms_train.json", lambda d: d["frames"][0].update(file_path=value))
    lines = lines_of(ds)
    assert found(lines, "nerfstudio/transforms.json", words), lines
    assert found(lines, "nerf/transforms_train.json", words), lines


def test_mask_and_depth_paths_outside_the_folder(ds):
    def passes(d):
        d["frames"][0].update(mask_path="../../secret.png", depth_file_path="/etc/shadow")

    edit(ds / "nerfstudio/transforms.json", passes)
    lines = lines_of(ds)
    assert found(lines, "nerfstudio/transforms.json", "mask_path '../../secret.png' leads outside the dataset")
    assert found(lines, "nerfstudio/transforms.json", "depth_file_path '/etc/shadow' is absolute")


def test_a_link_out_of_the_folder_is_not_followed(ds, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGBA", (32, 24)).save(secret)
    (ds / "nerf/train/r_0.png").unlink()
    (ds / "nerf/train/r_0.png").symlink_to(secret)
    (ds / "colmap/images").rename(ds / "elsewhere")
    (ds / "colmap/images").symlink_to(ds / "elsewhere")  # the whole images/ folder: out of colmap/
    lines = lines_of(ds)
    assert found(lines, "nerf/transforms_train.json", "file_path './train/r_0' leads outside the dataset folder")
    assert found(lines, "colmap/sparse/0", "image name 'train_0000.png' leads outside the dataset folder")


def test_a_colmap_image_name_outside_the_folder(ds):
    sparse = ds / "colmap/sparse/0"
    for p in sparse.glob("*.bin"):
        p.unlink()
    text = (sparse / "images.txt").read_text().replace("train_0000.png", "../../../etc/passwd")
    (sparse / "images.txt").write_text(text)
    assert found(lines_of(ds), "colmap/sparse/0", "image name '../../../etc/passwd' leads outside the dataset")


# Wrong types and numbers in the JSON -------------------------------------------------------------------

NGP, NS, NERF = "ngp/transforms.json", "nerfstudio/transforms.json", "nerf/transforms_train.json"


def _set(key, value):
    return lambda d: d.update({key: value})


def _set_frame(key, value):
    return lambda d: d["frames"][0].update({key: value})


WRONG = {
    "fl_x a string": (NS, _set("fl_x", "abc"), "'fl_x' is 'abc', not a number"),
    "cx a numeric string": (NS, _set("cx", "12"), "'cx' is '12', not a number"),
    "fl_x infinite": (NS, _set("fl_x", float("inf")), "'fl_x' is inf, not a finite number"),
    "fl_x of 400 digits": (NGP, _set("fl_x", 10**400), "not a finite number"),
    "fl_y zero": (NS, _set("fl_y", 0), "'fl_y' is 0: it must be between 0 and inf"),
    "fl_x negative": (NGP, _set("fl_x", -300.5), "'fl_x' is -300.5: it must be between 0 and inf"),
    "fov zero": (NERF, _set("camera_angle_x", 0), "'camera_angle_x' is 0: it must be between 0 and 3.1416"),
    "fov negative": (NERF, _set("camera_angle_x", -0.5), "'camera_angle_x' is -0.5: it must be between 0"),
    "fov of 4 radians": (NERF, _set("camera_angle_x", 4.0), "'camera_angle_x' is 4.0: it must be between 0"),
    "w a boolean": (NGP, _set("w", True), "'w' is true, not an integer: strict parsers reject it"),
    "h zero": (NGP, _set("h", 0), "'h' is 0: an image size must be between 1 and"),
    "w negative": (NS, _set("w", -32), "'w' is -32: an image size must be between 1 and"),
    "w of 400 digits": (NERF, _set("w", 10**400), "an image size must be between 1 and"),
    "h a float": (NGP, _set("h", 24.0), "'h' is 24.0, not an integer: strict parsers reject it"),
    "no frames": (NERF, lambda d: d.pop("frames"), "has no 'frames': every loader reads its views from them"),
    "frames null": (NGP, _set("frames", None), "'frames' is null, not a list"),
    "frames an object": (NGP, _set("frames", {"a": 1}), "'frames' is an object, not a list"),
    "a frame a number": (NERF, lambda d: d["frames"].append(1), "frame 3 is 1, not an object"),
    "frames of strings": (NS, _set("frames", ["a", "b"]), "frame 0 is 'a', not an object (and 1 more)"),
    "no file_path": (NS, lambda d: d["frames"][0].pop("file_path"), "has a frame without file_path"),
    "matrix of strings": (NERF, _set_frame("transform_matrix", [["1"] * 4] * 4), "has no 4x4 transform_matrix"),
    "matrix of booleans": (NGP, _set_frame("transform_matrix", [[True] * 4] * 4), "has no 4x4 transform_matrix"),
    "matrix 2x2": (NS, _set_frame("transform_matrix", [[1, 0], [0, 1]]), "has no 4x4 transform_matrix"),
    "matrix huge": (NERF, _set_frame("transform_matrix", [[10**400] * 4] * 4), "has no 4x4 transform_matrix"),
    "filenames a string": (NS, _set("train_filenames", "images/train_0000.png"), "is a string, not a list of file"),
    "filenames of numbers": (NS, _set("val_filenames", [1, 2]), "'val_filenames' is a list with non-strings"),
    "a list, not an object": (NERF, lambda d: d.clear(), "has no camera_angle_x"),
    "a newline in a name": (NS, _set_frame("file_path", "images/a\nb"), "file_path 'images/a\\nb' has no extension"),
}


@pytest.mark.parametrize("case", WRONG)
def test_a_wrong_value_is_a_problem(ds, case):
    rel, change, words = WRONG[case]
    edit(ds / rel, change)
    lines = lines_of(ds)
    assert found(lines, rel, words), lines


def test_a_document_that_is_not_an_object(ds):
    for rel, text in ((NERF, "[]"), (NGP, '"x"'), (NS, "null")):
        (ds / rel).write_text(text)
    lines = lines_of(ds)
    assert found(lines, NERF, "is a list, not a JSON object")
    assert found(lines, NGP, "is a string, not a JSON object")
    assert found(lines, NS, "is null, not a JSON object")


def test_a_view_listed_twice_with_its_image_missing(ds):
    edit(ds / NERF, lambda d: d["frames"].extend([d["frames"][0], dict(d["frames"][0])]))
    (ds / "nerf/train/r_0.png").unlink()
    assert "nerf/train/r_0.png: is missing, and 2 more images of the train split" in lines_of(ds)


def test_links_in_a_loop_and_folders_named_like_images(ds):
    (ds / "nerf/train/r_0.png").unlink()
    (ds / "nerf/train/r_0.png").symlink_to("r_0.png")
    (ds / "nerf/train/r_1.png").unlink()
    (ds / "nerf/train/r_1.png").mkdir()
    lines = lines_of(ds)
    assert found(lines, "nerf/train/r_0.png", "can't be read (Too many levels of symbolic links)"), lines
    assert found(lines, "nerf/train/r_1.png", "is a folder, not a regular file: not read"), lines


def test_findings_are_capped_per_folder(ds):
    def many(d):
        d["frames"] = [{**d["frames"][0], "file_path": f"/abs/{i}"} for i in range(5000)]

    edit(ds / NS, many)
    report = checked(ds)  # 5000 absolute paths, and 3 splits naming files no frame has now
    assert len(report.lines()) == MAX_FINDINGS + 1 and report.lines()[-1] == "nerfstudio: 4803 more problems not listed"
    assert report.summary().startswith("5003 problems in")


def test_one_missing_image_says_so_without_zero_more(ds):
    (ds / "nerf/train/r_1.png").unlink()
    lines = lines_of(ds)
    assert "nerf/train/r_1.png: is missing" in lines
    (ds / "nerf/train/r_2.png").unlink()
    assert "nerf/train/r_1.png: is missing, and 1 more images of the train split" in lines_of(ds)


# COLMAP models that lie ----------------------------------------------------------------------------------


def _patch(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


BINARY_LIES = {
    "a billion images": ("images.bin", lambda p: _patch(p, 0, struct.pack("<Q", 10**9)), "says it holds 1000000000"),
    "a billion cameras": ("cameras.bin", lambda p: _patch(p, 0, struct.pack("<Q", 10**9)), "says it holds"),
    "2D points beyond the end": ("images.bin", lambda p: _patch(p, 8 + 64 + 15, b"\xff" * 8), "ends at byte"),
    "truncated in a record": ("images.bin", lambda p: os.truncate(p, p.stat().st_size - 4), "inside a record"),
    "truncated cameras": ("cameras.bin", lambda p: os.truncate(p, 40), "cameras.bin: ends at byte 40"),
    "a count beyond the bytes": ("images.bin", lambda p: os.truncate(p, 50), "holds 6 images, but its 50 bytes"),
    "a model COLMAP doesn't know": ("cameras.bin", lambda p: _patch(p, 12, struct.pack("<i", 99)), "model id 99"),
    "an empty file": ("images.bin", lambda p: os.truncate(p, 0), "images.bin: ends at byte 0"),
}


@pytest.mark.parametrize("lie", BINARY_LIES)
def test_a_binary_colmap_model_that_lies(ds, lie):
    name, plant, words = BINARY_LIES[lie]
    plant(ds / "colmap/sparse/0" / name)
    assert found(lines_of(ds), "colmap/sparse/0", words), lines_of(ds)


TEXT_CAMERAS = {
    "too few parameters": ("1 PINHOLE 32 24 30 30 16", "camera 1 is PINHOLE with 3 parameters, not 4"),
    "too many parameters": ("1 SIMPLE_PINHOLE 32 24 30 16 12 1", "SIMPLE_PINHOLE with 4 parameters, not 3"),
    "no size": ("1 PINHOLE", "line 1 has 2 fields"),
    "words for numbers": ("1 PINHOLE 32 24 a b c d", "holds no readable COLMAP model (cameras.txt:"),
    "a negative width": ("1 PINHOLE -32 24 30 30 16 12", "camera 1 is -32x24: an image size must be positive"),
    "a zero focal length": ("1 PINHOLE 32 24 0 30 16 12", "camera 1 has focal lengths 0, 30: they must be positive"),
    "NaN focal lengths": ("1 PINHOLE 32 24 nan nan 16 12", "has focal lengths nan, nan"),
}


@pytest.mark.parametrize("case", TEXT_CAMERAS)
def test_a_text_colmap_camera_that_is_wrong(ds, case):
    line, words = TEXT_CAMERAS[case]
    sparse = ds / "colmap/sparse/0"
    for p in sparse.glob("*.bin"):
        p.unlink()
    (sparse / "cameras.txt").write_text(line + "\n")
    assert found(lines_of(ds), "colmap/sparse/0", words), lines_of(ds)


def test_text_colmap_images_with_bad_utf8_and_zero_quaternions(ds):
    sparse = ds / "colmap/sparse/0"
    for p in sparse.glob("*.bin"):
        p.unlink()
    text = (sparse / "images.txt").read_text().splitlines()
    header = text[3].split()
    text[3] = " ".join([header[0], "0", "0", "0", "0", *header[5:]])  # a zero quaternion
    (sparse / "images.txt").write_text("\n".join(text) + "\n")
    assert found(lines_of(ds), "colmap/sparse/0", "has a pose of non-finite numbers or a zero quaternion")
    (sparse / "images.txt").write_bytes(b"\xff\xfe broken\n")
    assert found(lines_of(ds), "colmap/sparse/0", "images.txt: 'utf-8' codec can't decode")


# Images that attack the decoder --------------------------------------------------------------------------


def _png_claiming(w: int, h: int) -> bytes:
    """A tiny PNG whose header promises w x h pixels (a decompression bomb's shape)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    raw = bytearray(buf.getvalue())
    ihdr = bytes(raw[12:16]) + struct.pack(">II", w, h) + bytes(raw[24:29])
    raw[16:24] = struct.pack(">II", w, h)
    raw[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(raw)


def test_hostile_images_and_masks_are_unreadable_not_fatal(ds, pristine):
    (ds / "nerf/train/r_0.png").write_bytes(os.urandom(100))  # not an image at all
    (ds / "ngp/train/r_0.png").write_bytes((ds / "ngp/train/r_0.png").read_bytes()[:60])  # header only
    (ds / "nerfstudio/masks").mkdir()
    (ds / "nerfstudio/masks/bomb.png").write_bytes(_png_claiming(10_000, 9_000))  # 90 M pixels
    (ds / "nerfstudio/masks/huge.png").write_bytes(_png_claiming(30_000, 30_000))  # Pillow refuses it itself
    masks = ["masks/bomb.png", "masks/huge.png"]

    def with_masks(d):
        for i, frame in enumerate(d["frames"]):
            frame["mask_path"] = masks[i % 2]

    edit(ds / "nerfstudio/transforms.json", with_masks)
    lines = lines_of(ds, pristine[1])
    assert found(lines, "nerf/train/r_0.png", "is not a readable image")
    assert found(lines, "ngp/train/r_0.png", "is not a readable image")  # only decoding finds it
    assert found(lines, "nerfstudio/masks/bomb.png", "is 10000x9000: more pixels than validate decodes")
    assert found(lines, "nerfstudio/masks/huge.png", "is not a readable image")


# What the summary and the command line say ------------------------------------------------------------


def test_the_summary_counts_views_not_views_times_formats(ds, pristine):
    assert checked(ds).summary() == "0 problems in 6 views × 4 formats (colmap, nerf, nerfstudio, ngp)"
    edit(ds / NGP, lambda d: d["frames"].pop())
    summary = checked(ds).summary()
    assert summary.startswith("0 problems in up to 6 views × 4 formats (colmap 6, nerf 6, nerfstudio 6, ngp 5)")


def test_without_alpha_or_masks_the_summary_says_silhouettes_were_not_checked(ds, pristine):
    for png in ds.rglob("*.png"):
        Image.open(png).convert("RGB").save(png)
    summary = checked(ds, pristine[1]).summary()
    assert summary.startswith("0 problems in 6 views × 4 formats")
    assert summary.endswith("silhouettes not checked in colmap, nerf, nerfstudio, ngp: no image with alpha or a mask")


def cli(*args) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = bounded(lambda: main(["cli.py", "validate", *map(str, args)]))
    return rc, err.getvalue().splitlines(), out.getvalue()


def test_exit_codes_of_the_validate_command(ds, tmp_path):
    assert cli(ds)[0] == 0
    edit(ds / NS, _set("fl_x", "abc"))
    rc, lines, out = cli(ds)
    assert rc == 1 and lines and all(ln.startswith("cli.py: validate: ") for ln in lines)
    assert out.startswith("validate: 1 problems in 6 views × 4 formats")
    for bad in ([tmp_path / "nowhere"], [tmp_path / "ds/nerf/train"], [ds, "--blend", "a", "--import", "b.obj"]):
        rc, lines, out = cli(*bad)
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("cli.py validate: error: ") and out == "", bad
    assert "holds no dataset" in cli(tmp_path / "ds/nerf/train")[1][0]
    assert "--sample must be at least 1" in cli(ds, "--sample", "0")[1][0]


def _types_and_a_fifo(ds: Path) -> None:
    edit(ds / NS, lambda d: d.update(fl_x="abc", frames=[*d["frames"], 1, {"file_path": "../\n../etc/passwd"}]))
    (ds / "ngp/transforms.json").unlink()
    os.mkfifo(ds / "ngp/transforms.json")


def _flipped_bytes_and_huge_numbers(ds: Path) -> None:
    _patch(ds / "colmap/sparse/0/cameras.bin", 12, b"\xff" * 28)  # model, width, height, first parameter
    edit(ds / NERF, lambda d: d.update(w=10**400, camera_angle_x="NaN"))
    (ds / "ngp/eval/transforms_test.json").write_text("[" * 100_000)


def _everything_truncated(ds: Path) -> None:
    for path in [*ds.rglob("*.json"), *ds.rglob("*.png"), *ds.rglob("*.bin")]:
        os.truncate(path, path.stat().st_size // 3)


@pytest.mark.parametrize("damage", [_types_and_a_fifo, _flipped_bytes_and_huge_numbers, _everything_truncated])
def test_the_command_in_its_own_process_on_hostile_datasets(ds, damage):
    """As a user runs it: exit 1, no traceback, every stderr line a finding; and Blender is not loaded."""
    damage(ds)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import cli; rc = cli._package().main(sys.argv[1:]);"
        "print('bpy loaded' if 'bpy' in sys.modules else 'no bpy'); sys.exit(rc)"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, str(CLI.parent), "validate", str(ds)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stdout.splitlines()[-1] == "no bpy"
    lines = r.stderr.splitlines()
    assert lines and all(line.startswith("cli.py: validate: ") for line in lines), lines


def test_the_command_in_its_own_process_without_a_dataset(tmp_path):
    r = subprocess.run(
        [sys.executable, str(CLI), "validate", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and "holds no dataset" in r.stderr


# Random mutations of a valid dataset ----------------------------------------------------------------------

HOSTILE_VALUES = st.sampled_from(
    [10**400, -(10**400), 1e308, -1e308, 5e-324, 0, -1, 2**63, True, False, None, "", "NaN", "nan", "Infinity"]
    + ["-inf", "\x00", "\ud800", "a\nb", "../../etc/passwd", "/etc/passwd", "C:\\x", [], {}, [[0] * 4] * 4, [1]]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _json_paths(value, prefix=()):
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _json_paths(child, (*prefix, key))


def _replace(doc, path, new):
    if not path:
        return new
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if new is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


_DELETE = object()


@pytest.fixture(scope="module")
def workspace(pristine, tmp_path_factory):
    """One copy that each example mutates and restores (copying the dataset per example would dominate)."""
    root = Path(shutil.copytree(pristine[0], tmp_path_factory.mktemp("mutated") / "ds"))
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return root, pristine[1], files


def _mutate(data, root: Path, files: list[str]) -> tuple[Path, bytes]:
    """One random damage to one file; returns the file and its bytes before."""
    how = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "truncate", "flip"]), label="how")
    ext = {"replace": ".json", "delete": ".json", "truncate": "", "flip": ".bin"}[how]
    path = root / data.draw(st.sampled_from([f for f in files if f.endswith(ext)]), label="file")
    before = path.read_bytes()
    if how in ("replace", "delete"):
        doc = json.loads(before)
        where = data.draw(st.sampled_from(list(_json_paths(doc))[1 if how == "delete" else 0 :]), label="at")
        new = _DELETE if how == "delete" else data.draw(HOSTILE_VALUES | JSON_VALUES, label="value")
        path.write_text(json.dumps(_replace(doc, where, new)))
    elif how == "truncate":
        os.truncate(path, data.draw(st.integers(0, len(before)), label="length"))
    else:
        raw = bytearray(before)
        for at in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8), label="bytes"):
            raw[at] ^= data.draw(st.integers(1, 255))
        path.write_bytes(bytes(raw))
    return path, before


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_randomly_damaged_dataset_is_reported_never_fatal(workspace, data):
    """A value replaced (wrong type, huge, negative, NaN-like), a key deleted, a file truncated, bytes of a
    COLMAP binary flipped: validate answers in bounded time, one line per finding."""
    root, mesh, files = workspace
    path, before = _mutate(data, root, files)
    try:
        checked(root, mesh)
    finally:
        path.write_bytes(before)
