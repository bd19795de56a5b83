"""The job contract on this machine: submit, worker, status, collect, --retry-missing, and a job read as
hostile input. The same dataset as one process, however the shards ran."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import CLI
from conftest import consumer_files as dataset

SETTINGS = ["--train", "5", "--val", "1", "--test", "3", "--resolution", "48x36", "--samples", "2"]
SETTINGS += ["--transparent", "--format", "nerf,colmap", "--points", "300", "--seed", "5"]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, user_resources):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("one") / "out"
    r = run_cli("--demo", *SETTINGS, "--out", out, user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    return dataset(out)


def worker_env(user_resources, **extra) -> dict:
    return {**os.environ, "BLENDER_USER_RESOURCES": str(user_resources), **extra}


def test_a_local_job_collected_elsewhere_is_the_one_process_dataset(cli, one_process, tmp_path):
    job, out = tmp_path / "job", tmp_path / "out"
    r = cli("submit", "--backend", "local", "--job", job, "--shards", "3", "--demo", *SETTINGS)
    assert r.returncode == 0, r.stderr
    assert not list(job.rglob("transforms_*.json"))  # workers never finalise
    r = cli("status", "--job", job)
    assert r.returncode == 0 and "status: 9/9 views done in 3 shards (local)" in r.stdout, r.stdout
    assert "shard 1/3: 3/3 views, COMPLETED" in r.stdout
    r = cli("collect", "--job", job, "--out", out)
    assert r.returncode == 0, r.stderr
    assert dataset(out) == one_process


def test_a_worker_takes_its_shard_from_the_engines_variable(cli, tmp_path, user_resources):
    job = tmp_path / "job"
    r = cli("submit", "--backend", "slurm", "--emit", "--job", job, "--shards", "3", "--demo", *SETTINGS)
    assert r.returncode == 0, r.stderr
    script = (job / ".nerf_dataset/backend/slurm-array.sh").read_text()
    assert "#SBATCH --output=" in script and f"worker --job {job}" in script
    env = worker_env(user_resources, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="1")
    r = subprocess.run([sys.executable, str(CLI), "worker", "--job", str(job)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "rendered shard 1/3" in r.stdout and ": 3 views" in r.stdout
    r = cli("status", "--job", job)
    assert r.returncode == 1 and "shard 0/3: 0/3 views" in r.stdout and "shard 1/3: 3/3 views" in r.stdout
    r = cli("collect", "--job", job)
    assert r.returncode == 1 and "6 views have no complete image" in r.stderr, r.stderr


def test_retry_missing_renders_only_the_missing_views(cli, one_process, tmp_path):
    job = tmp_path / "job"
    assert cli("submit", "--job", job, "--shards", "3", "--demo", *SETTINGS).returncode == 0
    for rel in ("nerf/train/r_1.png", "nerf/test/r_2.png"):
        (job / rel).unlink()
    r = cli("collect", "--job", job)
    assert r.returncode == 1 and "2 views have no complete image: train/r_1, test/r_2" in r.stderr
    r = cli("submit", "--retry-missing", "--job", job)
    assert r.returncode == 0, r.stderr
    logs = "".join(p.read_text() for p in (job / ".nerf_dataset/logs").glob("shard-*.log"))
    assert logs.count(": 1 views") == 2 and logs.count(": 3 views") == 3  # first run 3 x 3, then 1 + 1
    r = cli("collect", "--job", job)
    assert r.returncode == 0, r.stderr
    assert dataset(job) == one_process


def test_an_image_texture_travels_inside_the_job(cli, tmp_path, user_resources):
    import bpy
    import numpy as np

    tex = tmp_path / "textures" / "checker.png"
    tex.parent.mkdir()
    image = bpy.data.images.new("checker", 8, 8)
    image.pixels.foreach_set(np.tile([1, 0, 0, 1, 0, 0, 1, 1], 32).astype(np.float32))
    image.filepath_raw, image.file_format = str(tex), "PNG"
    image.save()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.engine = "CYCLES"  # the factory's EEVEE compiles its shaders on the CPU: 30 s a run
    bpy.ops.mesh.primitive_cube_add()
    material = bpy.data.materials.new("textured")
    if bpy.app.version < (5, 0, 0):  # 5.0 materials always use nodes (and deprecate the switch)
        material.use_nodes = True
    nodes = material.node_tree.nodes
    node = nodes.new("ShaderNodeTexImage")
    node.image = bpy.data.images.load(str(tex))
    material.node_tree.links.new(node.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    bpy.context.active_object.data.materials.append(material)
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(cam)
    bpy.context.scene.camera = cam
    (tmp_path / "scene").mkdir()
    blend = tmp_path / "scene" / "textured.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    args = ["--blend", blend, "--object", "Cube", *SETTINGS[:10], "--points", "300"]  # the points are not the test
    assert cli(*args, "--out", tmp_path / "direct").returncode == 0
    job = tmp_path / "job"
    r = cli("submit", "--backend", "slurm", "--emit", "--job", job, "--shards", "2", *args)
    assert r.returncode == 0, r.stderr
    shutil.move(tex, tmp_path / "moved.png")  # the user's file is gone: the job must not need it
    for i in range(2):
        r = cli("worker", "--job", job, "--shard", f"{i}/2")
        assert r.returncode == 0, r.stderr
    assert cli("collect", "--job", job).returncode == 0
    direct = dataset(tmp_path / "direct")
    assert dataset(job) == direct and direct["train/r_0.png"]


@pytest.mark.parametrize("damage", ["digest", "version", "scene_link", "shape"])
def test_a_damaged_or_foreign_job_is_refused(damage, cli, tmp_path):
    job = tmp_path / "job"
    assert (
        cli("submit", "--emit", "--backend", "slurm", "--job", job, "--shards", "2", "--demo", *SETTINGS).returncode
        == 0
    )
    spec_path = job / ".nerf_dataset/job.json"
    spec = json.loads(spec_path.read_text())
    if damage == "digest":
        plan = job / ".nerf_dataset/plan.json"
        plan.write_text(plan.read_text().replace('"seed": 5', '"seed": 6'))
        expected = "does not match the digest"
    elif damage == "version":
        spec_path.write_text(json.dumps({**spec, "format": 99}))
        expected = "needs job format 99; this worker reads format 2"
    elif damage == "scene_link":
        outside = tmp_path / "elsewhere.blend"
        shutil.move(job / ".nerf_dataset/scene.blend", outside)
        (job / ".nerf_dataset/scene.blend").symlink_to(outside)
        expected = "not a file inside the job folder"
    else:
        spec_path.write_text(json.dumps({**spec, "shards": "two"}))
        expected = "job.json is damaged"
    for command in (["worker", "--job", job, "--shard", "0/2"], ["collect", "--job", job], ["status", "--job", job]):
        r = cli(*command)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and expected in lines[0], r.stderr


def test_a_job_is_not_replanned_under_its_running_workers(cli, tmp_path, user_resources):
    job = tmp_path / "job"
    r = cli(
        "submit", "--emit", "--backend", "slurm", "--job", job, "--shards", "1", "--demo", *SETTINGS, "--train", "40"
    )
    assert r.returncode == 0, r.stderr
    env = worker_env(user_resources)
    worker = subprocess.Popen([sys.executable, str(CLI), "worker", "--job", str(job), "--shard", "0/1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    while not list(job.glob("nerf/train/r_*.png")):
        assert worker.poll() is None, worker.stderr.read()
    worker.send_signal(signal.SIGSTOP)  # mid-shard, holding the job's lock: as a slow worker on a node would
    try:
        r = cli("submit", "--emit", "--backend", "slurm", "--job", job, "--shards", "1", "--overwrite", "--demo",
                *SETTINGS, "--seed", "9")  # fmt: skip
        assert r.returncode == 2 and "in use" in r.stderr, r.stderr
    finally:
        worker.send_signal(signal.SIGCONT)
    assert worker.wait(timeout=300) == 0


def test_hostile_job_folders_are_refused_without_harm(cli, tmp_path):
    job = tmp_path / "job"
    assert (
        cli("submit", "--emit", "--backend", "slurm", "--job", job, "--shards", "2", "--demo", *SETTINGS).returncode
        == 0
    )
    victim = tmp_path / "victim.txt"
    victim.write_text("IMPORTANT")
    (job / ".nerf_dataset/lock").unlink()
    (job / ".nerf_dataset/lock").symlink_to(victim)  # a lock that points out of the job
    r = cli("collect", "--job", job)
    assert r.returncode == 2 and victim.read_text() == "IMPORTANT", r.stderr
    (job / ".nerf_dataset/lock").unlink()
    spec_path = job / ".nerf_dataset/job.json"
    spec = json.loads(spec_path.read_text())
    pwned = tmp_path / "PWNED"
    for options in ({"partition": f"debug\ntouch {pwned}"}, {"worker_command": f"touch {pwned};"}, {"nope": 1}):
        spec_path.write_text(json.dumps({**spec, "options": {**spec["options"], **options}}))
        (job / "nerf/train/r_0.png").unlink(missing_ok=True)
        r = cli("submit", "--retry-missing", "--job", job)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not pwned.exists()
    for key, value in (("shards", True), ("format", "2"), ("objects", "Cube"), ("backend", "aws"), ("target", 7)):
        spec_path.write_text(json.dumps({**spec, key: value}))
        r = cli("status", "--job", job)
        assert r.returncode == 2 and "job.json is damaged" in r.stderr, (key, r.stderr)
    spec_path.write_text(json.dumps(spec))
    r = cli("collect", "--job", job, "--out", job / "sub")
    assert r.returncode == 2 and "neither inside the other" in r.stderr


def test_damaged_tracks_fail_collect_and_a_worker_samples_them_again(cli, tmp_path):
    job = tmp_path / "job"
    assert cli("submit", "--backend", "local", "--job", job, "--shards", "2", "--demo", *SETTINGS).returncode == 0
    tracks = job / ".nerf_dataset/tracks.npz"
    tracks.write_bytes(tracks.read_bytes()[:100])
    r = cli("collect", "--job", job, "--out", tmp_path / "elsewhere")
    assert r.returncode == 1 and "tracks are missing or damaged" in r.stderr, r.stderr
    assert not (tmp_path / "elsewhere").exists()  # taken back: nothing half-written, and no folder in the way
    r = cli("collect", "--job", job)
    assert r.returncode == 1 and "tracks are missing or damaged" in r.stderr, r.stderr
    r = cli("submit", "--retry-missing", "--job", job)  # no view is missing: one worker, to sample them again
    assert r.returncode == 0 and "rendered the shards" in r.stdout, r.stdout + r.stderr
    tracks.write_bytes(tracks.read_bytes()[:100])
    assert cli("worker", "--job", job, "--shard", "1/2").returncode == 0  # nothing to render: it redoes the tracks
    r = cli("collect", "--job", job)
    assert r.returncode == 0 and (job / "nerf/points3d.ply").is_file(), r.stderr


def test_more_shards_than_views_is_refused_before_a_job_is_made(cli, tmp_path):
    job = tmp_path / "job"
    r = cli("submit", "--emit", "--backend", "slurm", "--job", job, "--shards", "20", "--demo", *SETTINGS)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "--shards 20 is more than the plan's 9 views" in lines[0], r.stderr
    assert not job.exists()
