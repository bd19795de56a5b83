"""The README's safety promises through the CLI, with real Blender: one run per folder, resume only of the
same scene, every file of a view checked, leftovers dropped, a full disk is one sentence."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLI

SMALL = ["--demo", "--train", "3", "--val", "1", "--test", "2", "--resolution", "32x24", "--samples", "2"]
SLOW = ["--demo", "--train", "40", "--val", "2", "--test", "2", "--resolution", "96x72", "--samples", "32"]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stdout + r.stderr, r.stderr
    return lines[0]


def start(out: Path, env, *args) -> subprocess.Popen:
    run = subprocess.Popen([sys.executable, str(CLI), *SLOW, *args, "--out", str(out)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(out.glob("train/r_*.png"))) < 2:
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read()
        time.sleep(0.05)
    return run


@pytest.fixture
def env(user_resources):
    return {**os.environ, "BLENDER_USER_RESOURCES": str(user_resources)}


def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(cli, env, tmp_path):
    out = tmp_path / "out"
    first = start(out, env)
    for args in (["--overwrite", *SMALL], ["--resume", *SLOW], ["--collect"]):
        r = cli(*args, "--out", out)
        assert r.returncode == 2
        assert f"is in use by pid {first.pid} on " in one_line(r) and "cli.py --demo" in r.stderr
    assert first.wait(timeout=300) == 0, first.stderr.read()
    r = cli("validate", out)
    assert r.returncode == 0 and "0 problems in 44 views" in r.stdout, r.stdout + r.stderr


def test_a_killed_run_leaves_no_stale_lock(cli, env, tmp_path):
    out = tmp_path / "out"
    first = start(out, env)
    first.send_signal(signal.SIGKILL)
    first.wait()
    r = cli(*SLOW, "--resume", "--out", out)
    assert r.returncode == 0, r.stderr


def test_resume_refuses_another_scene_or_object(cli, tmp_path):
    import bpy

    out = tmp_path / "out"
    assert cli(*SMALL, "--out", out).returncode == 0
    (out / "train" / "r_1.png").unlink()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.engine = "CYCLES"  # the factory's EEVEE compiles its shaders on the CPU: 30 s a run
    bpy.ops.mesh.primitive_cube_add()
    bpy.ops.mesh.primitive_uv_sphere_add(location=(3, 0, 0))
    blend = tmp_path / "two.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    r = cli("--blend", blend, *SMALL[1:], "--resume", "--out", out)
    assert r.returncode == 2 and "was made from the demo scene, not from --blend" in one_line(r)
    other = tmp_path / "other"
    assert cli(*SMALL[1:], "--blend", blend, "--object", "Cube", "--out", other).returncode == 0
    (other / "train" / "r_1.png").unlink()
    r = cli("--blend", blend, *SMALL[1:], "--object", "Sphere", "--resume", "--out", other)
    assert r.returncode == 2 and "made of another 'Cube'" in one_line(r)
    bpy.data.objects["Cube"].scale = (1.5, 1.0, 1.0)  # same file, same name, other geometry
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    r = cli("--blend", blend, *SMALL[1:], "--object", "Cube", "--resume", "--out", other)
    assert r.returncode == 2 and "geometry differs" in one_line(r)
    bpy.data.objects["Cube"].scale = (1.0, 1.0, 1.0)
    light = bpy.data.objects.new("Lamp", bpy.data.lights.new("Lamp", "POINT"))  # same target, brighter scene
    bpy.context.scene.collection.objects.link(light)
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    r = cli("--blend", blend, *SMALL[1:], "--object", "Cube", "--resume", "--out", other)
    assert r.returncode == 2 and "has changed since it was planned" in one_line(r)
    assert not (other / "train" / "r_1.png").exists()


def test_resume_redoes_cut_pass_files_and_drops_leftovers(cli, tmp_path):
    args = [*SMALL, "--passes", "depth,mask", "--transparent"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert cli(*args, "--out", whole).returncode == 0
    assert cli(*args, "--out", cut).returncode == 0
    for rel in ("train/r_0_depth.exr", "train/r_1_mask.png"):
        data = (cut / rel).read_bytes()
        (cut / rel).write_bytes(data[: len(data) // 2])
    (cut / "train" / ".r_2.png.4194999.tmp").write_bytes(b"left by a killed run")
    r = cli("validate", cut)
    assert r.returncode == 1 and "r_1_mask.png" in r.stderr and "r_0_depth.exr: is missing, cut short" in r.stderr
    r = cli(*args, "--resume", "--out", cut)
    assert r.returncode == 0, r.stderr
    assert tree(cut) == tree(whole)


def test_a_disk_that_fills_while_blender_renders_is_one_sentence_at_its_first_failed_write(env, small_disk):
    out = small_disk / "out"
    args = [sys.executable, str(CLI), "--demo", "--train", "150", "--val", "1", "--test", "1", "--resolution",
            "64x48", "--samples", "2", "--points", "0", "--out", str(out)]  # fmt: skip
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "Error in" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("cli.py: failed: No space left on device writing ") and last.endswith(
        "--resume finishes the dataset"
    ), r.stderr
    assert not list(out.glob(".nerf_dataset/staging/*"))  # the frames Blender was told to skip are gone too


def _file_size_limit(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("limit", [3_000, 20_000, 60_000])
def test_a_full_disk_is_one_sentence_and_resume_completes(limit, env, tmp_path):
    """A file-size limit stands for a full disk: the same errno path (EFBIG/ENOSPC) at whatever stage it hits."""
    out = tmp_path / "out"
    size = ["--resolution", "200x150"] if limit == 20_000 else []  # images too big: Blender's own writes fail
    args = [sys.executable, str(CLI), *SMALL, *size, "--passes", "depth", "--format", "nerf,colmap", "--out", str(out)]
    r = subprocess.run(args, env=env, capture_output=True, text=True, preexec_fn=_file_size_limit(limit))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]  # after the progress lines
    assert last.startswith("cli.py: failed: ") and f"writing {out}" in last, r.stderr
    assert not [p for p in out.rglob("*.tmp")] and not list(out.glob(".nerf_dataset/staging/*"))
    resumable = "--resume finishes the dataset" in last  # said only when a plan was saved
    assert resumable == (limit > 3_000)
    r = subprocess.run([*args, "--resume"] if resumable else args, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not [p for p in out.rglob("*.tmp")] and not (out / ".nerf_dataset" / "staging").exists()
