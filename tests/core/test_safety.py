"""Nothing lost, nothing mixed, without Blender: finalising killed between any two writes, ``--overwrite``
killed while deleting, foreign files, the output folder's lock, damaged plans and cut EXRs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from fake_scenes import facts
from PIL import Image

from nerf_dataset.app.dataset import check_out_dir, finalise, format_dir, pass_files, prepare_out_dir
from nerf_dataset.app.lock import OutputLock
from nerf_dataset.app.ownership import TEMPORARY, clear_dataset, foreign_files, image_namer, owned_files
from nerf_dataset.core.camera import Raster
from nerf_dataset.core.errors import UserError
from nerf_dataset.core.images import exr_complete
from nerf_dataset.core.layout import PLAN_DIR, PLAN_FILE
from nerf_dataset.core.plan import build_plan, save_plan
from nerf_dataset.core.points import ScenePoints
from nerf_dataset.core.settings import Settings
from nerf_dataset.exporters import FORMATS

W, H = 24, 16
ALL = tuple(FORMATS)


class Killed(BaseException):
    """Stands for SIGKILL: no ``except``/``finally`` of the code under test may run after it."""


def rendered(out: Path, formats=ALL) -> object:
    """A planned dataset whose every view is rendered (images, depth and mask passes, surface points): the
    state ``collect`` finalises."""
    settings = Settings(formats=formats, train=1, val=1, test=1, passes=("depth", "mask"), downscales=(2,), points=3)
    plan = build_plan(settings, facts(raster=Raster(W, H)), image_namer(formats))
    out.mkdir(parents=True, exist_ok=True)
    save_plan(plan, out)
    rng = np.random.default_rng(0)
    for view in plan.views:
        files = {view.image: "RGB", **{str(r): "L" for (_, ext), r in pass_files(plan, view).items() if ext == ".png"}}
        for rel, mode in files.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (H, W, 3) if mode == "RGB" else (H, W), np.uint8), mode).save(
                out / rel
            )
        exr = next(r for (_, ext), r in pass_files(plan, view).items() if ext == ".exr")
        write_exr(out / exr, rng.random((H, W), np.float32))
    n = 3
    ScenePoints(
        xyz=rng.random((n, 3)),
        normals=np.tile([0.0, 0.0, 1.0], (n, 1)),
        rgb=rng.integers(0, 255, (n, 3)).astype(np.uint8),
        track_point=np.array([0, 1, 2]),
        track_view=np.array([0, 1, 2]),
        track_uv=rng.random((n, 2)) * 10,
    ).save(out)
    return plan


def write_exr(path: Path, pixels: np.ndarray) -> None:
    """A one-channel float EXR as Blender writes the depth pass (ZIP, scanlines)."""
    import Imath
    import OpenEXR

    header = OpenEXR.Header(pixels.shape[1], pixels.shape[0])
    header["channels"] = {"V": Imath.Channel(Imath.PixelType(Imath.PixelType.FLOAT))}
    header["compression"] = Imath.Compression(Imath.Compression.ZIP_COMPRESSION)
    exr = OpenEXR.OutputFile(str(path), header)
    exr.writePixels({"V": pixels.astype(np.float32).tobytes()})
    exr.close()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def stop_after(monkeypatch, calls: int, names=("replace", "link")) -> None:
    """Die at the call after ``calls`` of ``os.<names>``: every publish is an ``os.replace`` (atomic writes) or an
    ``os.link``, every deletion an ``os.unlink``."""
    count = [0]
    for name in names:
        real = getattr(os, name)

        def counted(*args, _real=real, **kwargs):
            if count[0] == calls:
                raise Killed
            count[0] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, counted)


def test_collect_writes_exactly_the_files_the_plan_owns(tmp_path):
    plan = rendered(tmp_path)
    finalise(tmp_path, plan)
    written = {rel for rel in tree(tmp_path) if not rel.startswith(PLAN_DIR + "/")}
    assert written == owned_files(plan)
    assert foreign_files(tmp_path, plan) == []


def test_killed_between_any_two_writes_no_format_looks_complete_early_and_collect_finishes(tmp_path, monkeypatch):
    plan = rendered(tmp_path / "start")
    whole = tmp_path / "whole"
    shutil.copytree(tmp_path / "start", whole)
    finalise(whole, plan)
    reference = tree(whole)
    entries = {n: format_dir(Path(), ALL, n) / FORMATS[n].files[-1] for n in ALL}
    writes = 0
    while True:
        cut = tmp_path / f"cut{writes}"
        shutil.copytree(tmp_path / "start", cut)
        with monkeypatch.context() as m:
            stop_after(m, writes)
            try:
                finalise(cut, plan)
                finished = True
            except Killed:
                finished = False
        files = tree(cut)
        for name, entry in entries.items():
            if entry.as_posix() in files:  # a consumer would open it: everything it needs must be there, whole
                prefix = f"{name}/"
                needed = [r for r in reference if r.startswith(prefix) or "/" not in r or r.startswith("camera_")]
                needed = [r for r in needed if not r.startswith(PLAN_DIR)]
                assert [r for r in needed if files.get(r) != reference[r]] == [], (writes, name)
        finalise(cut, plan)  # what --collect or --resume does next
        assert tree(cut) == reference, writes
        assert not [p for p in cut.rglob("*") if TEMPORARY.match(p.name) or p.name.startswith(".sparse")]
        shutil.rmtree(cut)
        if finished:
            break
        writes += 1
    assert writes > 50  # every image link, copy, pass, model file and JSON was a place to die


def test_overwrite_refuses_foreign_files_and_deletes_none(tmp_path):
    plan = rendered(tmp_path)
    finalise(tmp_path, plan)
    mine = {"outputs/model/step-000.ckpt": b"weights", "notes.txt": b"mine", "nerf/train/extra.png": b"x"}
    for rel, data in mine.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    with pytest.raises(UserError, match=r'did not write \("nerf/train/extra.png", "notes.txt", "outputs/model/st'):
        prepare_out_dir(tmp_path, overwrite=True)
    assert all((tmp_path / rel).read_bytes() == data for rel, data in mine.items())


def test_an_empty_marker_folder_does_not_make_a_folder_ours(tmp_path):
    (tmp_path / PLAN_DIR).mkdir()
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(UserError, match="did not write"):
        check_out_dir(tmp_path, overwrite=True)


def test_overwrite_killed_while_deleting_leaves_a_folder_overwrite_and_resume_accept(tmp_path, monkeypatch):
    plan = rendered(tmp_path / "start")
    finalise(tmp_path / "start", plan)
    total = len(tree(tmp_path / "start"))
    for deletes in range(0, total + 1, 7):
        out = tmp_path / f"d{deletes}"
        shutil.copytree(tmp_path / "start", out)
        with monkeypatch.context() as m:
            stop_after(m, deletes, ("unlink",))
            try:
                clear_dataset(out, plan)
            except Killed:
                pass
        check_out_dir(out, overwrite=True)  # still ours, every file of it
        if (out / PLAN_FILE).is_file():
            check_out_dir(out, overwrite=False, resume=True)
        clear_dataset(out, plan)
        assert not [p for p in out.rglob("*") if p.is_file()]


def test_a_damaged_plan_is_one_sentence(tmp_path):
    plan = rendered(tmp_path)
    text = (tmp_path / PLAN_FILE).read_text()
    for damage in (
        text[: len(text) // 2],
        text.replace('"train"', '"holdout"', 1),
        "[]",
        text.replace("r_0", "../../x"),
    ):
        (tmp_path / PLAN_FILE).write_text(damage)
        with pytest.raises(UserError) as failure:
            finalise(tmp_path)
        assert "\n" not in str(failure.value) and "plan.json" in str(failure.value)
    assert plan is not None


def test_one_run_per_output_folder_naming_the_holder(tmp_path):
    first = OutputLock(tmp_path).acquire()
    with pytest.raises(UserError, match=rf"in use by pid {os.getpid()} on "):
        OutputLock(tmp_path).acquire()
    with pytest.raises(UserError, match="in use"):
        OutputLock(tmp_path, shared=True).acquire()
    first.release()
    assert (tmp_path / PLAN_DIR / "lock").read_bytes() == b""  # datasets stay byte-identical
    a, b = OutputLock(tmp_path, shared=True).acquire(), OutputLock(tmp_path, shared=True).acquire()  # hand shards
    with pytest.raises(UserError, match="in use"):
        OutputLock(tmp_path).acquire()
    a.release(), b.release()
    OutputLock(tmp_path).acquire().release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    (tmp_path / PLAN_DIR).mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, os, sys, time
            fd = os.open({str(tmp_path / PLAN_DIR / "lock")!r}, os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
            print("held", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match="in use"):
        OutputLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    OutputLock(tmp_path).acquire().release()


def test_a_cut_exr_is_not_complete(tmp_path):
    path = tmp_path / "depth.exr"
    write_exr(path, np.random.default_rng(1).random((H, W), np.float32))
    data = path.read_bytes()
    assert exr_complete(path, W, H)
    assert not exr_complete(path, W, H + 1)
    for cut in (len(data) - 1, len(data) // 2, 40):
        path.write_bytes(data[:cut])
        assert not exr_complete(path, W, H), cut
    zeroed = bytearray(data)
    # What Blender leaves when a write fails half-way: the header and a table of zeros (OpenEXR's placeholder).
    end_of_header = _header_end(data)
    zeroed[end_of_header : end_of_header + 8] = bytes(8)
    path.write_bytes(bytes(zeroed))
    assert not exr_complete(path, W, H)


def _header_end(data: bytes) -> int:
    """Where the offset table starts: after the attributes (name, type, size, value) and their closing NUL."""
    pos = 8
    while data[pos] != 0:
        name_end = data.index(b"\x00", pos)
        type_end = data.index(b"\x00", name_end + 1)
        pos = type_end + 5 + int.from_bytes(data[type_end + 1 : type_end + 5], "little")
    return pos + 1


def test_resume_and_collect_never_touch_files_of_the_user_in_our_folders(tmp_path):
    plan = rendered(tmp_path)
    finalise(tmp_path, plan)
    mine = ["colmap/sparse/1/cameras.txt", "colmap/sparse/0/my_notes.txt", "colmap/sparse/readme.txt"]
    for rel in mine:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("mine")
    with pytest.raises(UserError, match="did not write"):
        finalise(tmp_path, plan)
    with pytest.raises(UserError, match="did not write"):
        check_out_dir(tmp_path, overwrite=False, resume=True)
    assert all((tmp_path / rel).read_text() == "mine" for rel in mine)
    (tmp_path / "colmap/sparse/0/my_notes.txt").unlink()
    (tmp_path / "notes").symlink_to(tmp_path / "colmap/sparse/readme.txt")  # we never make links: it is theirs
    with pytest.raises(UserError, match='"colmap/sparse/1/cameras.txt", "colmap/sparse/readme.txt", "notes"'):
        finalise(tmp_path, plan)


def test_damaged_bookkeeping_is_redone_or_one_sentence(tmp_path):
    from nerf_dataset.core.layout import POINTS_FILE
    from nerf_dataset.core.points import load_points
    from nerf_dataset.core.shards import done_list_path, read_done

    plan = rendered(tmp_path)
    for damage in (os.urandom(300), b"[" * 100_000):
        (tmp_path / PLAN_FILE).write_bytes(damage)
        with pytest.raises(UserError) as failure:
            finalise(tmp_path)
        assert "\n" not in str(failure.value) and "plan.json" in str(failure.value)
    save_plan(plan, tmp_path)
    good = (tmp_path / POINTS_FILE).read_bytes()
    assert load_points(tmp_path) is not None
    for damage in (good[:100], b"", os.urandom(2000), good.replace(b"\x00\x00\xf8\x7f", b"\x00\x00\xf8\x7f")):
        (tmp_path / POINTS_FILE).write_bytes(damage)
        assert (load_points(tmp_path) is None) == (damage != good)  # derived data: sampled again when damaged
    done_list_path(tmp_path, 1, 2).parent.mkdir(parents=True, exist_ok=True)
    for damage in (os.urandom(500), b"1" * 10_000_000 + b"\n", b"3\n4\n5"):
        done_list_path(tmp_path, 1, 2).write_bytes(damage)
        assert read_done(tmp_path, 1, 2) <= {3, 4}


def test_validate_names_any_cut_file_of_ours(tmp_path):
    from nerf_dataset.app.validate import validate

    plan = rendered(tmp_path)
    finalise(tmp_path, plan)
    assert validate(tmp_path).problems == []
    for rel in ("nerfstudio/images_2/train_0000.png", "colmap/masks_2/val_0000.png", "preview.png"):
        data = (tmp_path / rel).read_bytes()
        (tmp_path / rel).unlink()  # break the hard link first: the other formats' copies stay whole
        (tmp_path / rel).write_bytes(data[:60])
    named = {f.where for f in validate(tmp_path).problems}  # relative to the folder above the format folders
    assert {"nerfstudio/images_2/train_0000.png", "colmap/masks_2/val_0000.png", "preview.png"} <= named, named


def test_a_full_disk_while_writing_the_colmap_model_leaves_no_scratch(tmp_path, monkeypatch):
    import errno

    plan = rendered(tmp_path)
    finalise(tmp_path, plan)
    shutil.rmtree(tmp_path / "colmap/sparse")
    real = os.replace

    def full_in_scratch(src, dst, *a, **kw):
        if ".sparse.tmp" in str(dst) and str(dst).endswith("images.txt"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", full_in_scratch)
    with pytest.raises(OSError) as failure:
        finalise(tmp_path, plan)
    assert failure.value.filename == str(tmp_path / "colmap/sparse/0/images.txt")  # the name the user knows
    assert not list(tmp_path.glob("colmap/.sparse*")) and not (tmp_path / "colmap/sparse").exists()
    monkeypatch.undo()
    finalise(tmp_path, plan)  # space again: it completes
    assert (tmp_path / "colmap/sparse/0/points3D.bin").is_file()
