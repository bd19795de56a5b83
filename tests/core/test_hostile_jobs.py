"""A job from a stranger, made by hand (no Blender): a plan edited with its digest updated to match (anyone who
can write one can write the other) is one sentence and exit 2 from worker, status and collect, before anything
renders, downloads or publishes; a stranger's file is named by the option that gave its folder; a worker's pid
is no proof that it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import run_cli
from made_jobs import edit_plan, made_job, refused

from nerf_dataset.cloud.engines import ENGINES
from nerf_dataset.cloud.job import read_job
from nerf_dataset.core.errors import UserError
from nerf_dataset.core.layout import BACKEND_DIR, JOB_FILE, LOCK_FILE, PLAN_FILE, SCENE_FILE


def _set_view(key, value, at=0):
    def edit(plan):
        plan["views"][at][key] = value

    return edit


def _share(key):
    def edit(plan):
        plan["views"][1][key] = plan["views"][0][key]

    return edit


def _intrinsics(**values):
    return lambda plan: plan["intrinsics"].update(values)


def _own_intrinsics(**values):
    def edit(plan):
        plan["intrinsics"] = {**plan["intrinsics"], **values}  # the first view's, as a plan of own ones has
        for view in plan["views"]:
            view["intrinsics"] = dict(plan["intrinsics"])

    return edit


EDITS = {
    "a frame beyond any int": (_set_view("frame", 10**30), "beyond any number this tool writes"),
    "an infinite pose": (
        lambda plan: plan["views"][0]["c2w"][0].__setitem__(3, float("inf")),
        "Infinity is not a number",
    ),
    "a frame beyond Blender's": (_set_view("frame", 2_000_000), "is not where a plan puts it"),
    "the job's own file": (_set_view("image", ".nerf_dataset/job.json"), "has image path '.nerf_dataset/job.json'"),
    "a folder": (_set_view("image", "train/"), "has image path 'train/'"),
    "a NUL": (_set_view("image", "train/r_0\x00.png"), "has image path"),
    "another format's name": (_set_view("image", "images/r_0.png"), "not its format's name for it"),
    "a shared image": (_share("image"), "two views share the image"),
    "a shared frame": (_share("frame"), "is not where a plan puts it"),
    "a huge image": (_intrinsics(w=10**9), "a render's sides are 4 to 16384 px"),
    "a size that is no number": (_intrinsics(h="48"), "a render's sides are 4 to 16384 px"),
    "an infinite focal length": (_intrinsics(fl_x=1e309), "Infinity is not a number"),
    "a negative focal length": (_intrinsics(fl_x=-5.0), "ones no camera renders"),
    "no views": (lambda plan: plan.update(views=[]), "it has no views"),
    "a lens of text": (lambda plan: plan["scene"]["optics"].update(lens_mm="x"), "camera's lens_mm 'x'"),
    "a sensor fit Blender lacks": (lambda plan: plan["scene"]["optics"].update(sensor_fit="FOO"), "sensor fit 'FOO'"),
    "a radius of text": (lambda plan: plan.update(radius="NaN"), "its radius 'NaN'"),
    "a centre of text": (lambda plan: plan.update(center=["a", "b", "c"]), "its centre is not 3 finite numbers"),
    "bounds of text": (lambda plan: plan["scene"].update(bounds_min=["a", "b", "c"]), "its bounds min is not 3"),
    "a pose of text": (_set_view("c2w", [["1", "0", "0", "0"]] * 4), "has no finite 4x4 pose"),
    "a pose of booleans": (_set_view("c2w", [[True, False, False, False]] * 4), "has no finite 4x4 pose"),
    "no frame rate": (lambda plan: plan["scene"].update(fps=0), "its frame rate is no frame rate"),
    "a camera path of three numbers": (
        lambda plan: plan["scene"].update(flythrough_name="Cam", flythrough=[[1, [1, 2, 3], 50]]),
        "is not 16 finite numbers",
    ),  # fmt: skip
    "one view's own intrinsics": (
        _set_view("intrinsics", {"w": 200, "h": 150, "fl_x": 44.4, "fl_y": 44.4, "cx": 100.0, "cy": 75.0}),
        "its views' own intrinsics are not one per view",
    ),
    "own intrinsics in one-camera formats": (_own_intrinsics(), "its views' intrinsics differ"),
    "own intrinsics no camera renders": (_own_intrinsics(fl_y=1e-3), "has intrinsics no camera of Blender's"),
    "intrinsics not its camera's": (_intrinsics(fl_x=0.001), "its intrinsics are not its camera's"),
    "a lens Blender clamps": (lambda plan: plan["scene"]["optics"].update(lens_mm=0.01), "camera's lens_mm"),
    "clipping that ends first": (lambda plan: plan["scene"]["optics"].update(clip_end=0.01), "clipping ends"),
    "a pixel aspect Blender clamps": (lambda plan: plan["scene"]["raster"].update(pixel_aspect_x=0.5), "aspect"),
    "downscales as floats": (lambda plan: plan["settings"].update(downscales=[2.0]), "unknown factor '2.0'"),
    "a view's own size as a float": (
        _set_view("intrinsics", {"w": 200.0, "h": 150, "fl_x": 44.4, "fl_y": 44.4, "cx": 100.0, "cy": 75.0}),
        "a render's sides are",
    ),
    "notes of text": (lambda plan: plan.update(notes="hello"), "notes or centre are not lists"),
    "a version of truth": (lambda plan: plan.update(version=True), "its version is no integer"),
    "an engine Blender lacks": (lambda plan: plan["scene"].update(engine="FOO"), "render engine 'FOO'"),
    "a raster of another size": (lambda plan: plan["scene"]["raster"].update(width=10**9), "its raster is not"),
    "a source name with a NUL": (_set_view("source_name", "a\x00b"), "source name is not a line of text"),
}


@pytest.mark.parametrize("name", EDITS)
def test_a_plan_no_run_writes_is_refused_as_damaged(name, tmp_path):
    """Every job command reads a job with ``read_job`` (the commands below show each one saying so)."""
    edit, words = EDITS[name]
    job = made_job(tmp_path / "job")
    edit_plan(job, edit)
    with pytest.raises(UserError) as refusal:
        read_job(job, ENGINES)
    line = str(refusal.value)
    assert words in line and "plan.json is damaged" in line and "\n" not in line, line


@pytest.mark.parametrize("command", [["status"], ["collect"], ["worker", "--shard", "0/2"]])
def test_every_job_command_says_so_in_one_sentence_before_blender(command, tmp_path):
    job = made_job(tmp_path / "job")
    edit_plan(job, EDITS["a frame beyond any int"][0])
    line = refused(*command, "--job", job)
    assert "plan.json is damaged" in line and "beyond any number this tool writes" in line, line


def test_a_folder_job_on_an_engine_of_buckets_or_a_linked_plan_is_refused(tmp_path):
    job = made_job(tmp_path / "job")
    spec_path = job / JOB_FILE
    spec = json.loads(spec_path.read_text())
    spec_path.write_text(json.dumps({**spec, "backend": "aws-batch", "options": {}}))
    for command in (["status"], ["submit", "--retry-missing"]):
        line = refused(*command, "--job", job)
        assert "a job in a folder runs on local, slurm, kubernetes, gcp-batch, not aws-batch" in line, line
    spec_path.write_text(json.dumps(spec))
    plan = job / PLAN_FILE
    plan.rename(job / "plan-elsewhere.json")
    plan.symlink_to(job / "plan-elsewhere.json")  # inside the job, yet a link: we make none
    assert "is missing, or not a file inside the job folder" in refused("status", "--job", job)


def test_a_worker_renders_only_the_scene_the_job_was_submitted_with(tmp_path):
    job = made_job(tmp_path / "job")
    (job / SCENE_FILE).write_bytes(b"BLENDER, another scene")
    assert "scene.blend is not the scene the job was submitted with" in refused("worker", "--job", job, "--shard",
                                                                                 "0/2")  # fmt: skip
    spec = json.loads((job / JOB_FILE).read_text())
    for scene in ({"size": 10**15, "sha256": "0" * 64}, {"size": 7}, None):
        (job / JOB_FILE).write_text(json.dumps({**spec, "scene": scene}))
        assert "job.json is damaged" in refused("status", "--job", job)
    del spec["scene"]  # a job of format 1, which recorded no scene, is still read
    (job / JOB_FILE).write_text(json.dumps({**spec, "format": 1}))
    assert run_cli("status", "--job", job).returncode == 1  # views missing: read, not refused


def test_a_job_with_more_shards_than_views_is_damaged(tmp_path):
    job = made_job(tmp_path / "job", shards=5)  # 4 views
    line = refused("status", "--job", job)
    assert "its 5 shards are more than the plan's 4 views" in line, line


def test_collect_names_the_job_folder_that_holds_a_stranger_file(tmp_path):
    job = made_job(tmp_path / "job")
    (job / "notes.txt").write_text("mine")
    line = refused("collect", "--job", job, "--out", tmp_path / "out")
    assert f'error: --job {job} holds files this tool did not write ("notes.txt")' in line, line
    assert not (tmp_path / "out").exists()


def test_a_local_worker_lives_only_while_its_parent_holds_the_jobs_lock(tmp_path):
    """After a kill -9 of ``submit --backend local`` its workers' pids may be zombies or reused: the record's pid
    alone (here a live one, this test's own) is no proof of life; the lock its parent held is."""
    job = made_job(tmp_path / "job", backend="local")
    record = {"state": "RUNNING", "exit_code": None, "pid": os.getpid()}
    (job / BACKEND_DIR).mkdir(parents=True, exist_ok=True)
    (job / BACKEND_DIR / "local-0.json").write_text(json.dumps(record))
    r = run_cli("status", "--job", job)
    assert "shard 0/2: 0/2 views, LOST" in r.stdout, r.stdout + r.stderr
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(job / LOCK_FILE)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        r = run_cli("status", "--job", job)
        assert "shard 0/2: 0/2 views, RUNNING" in r.stdout, r.stdout + r.stderr
    finally:
        holder.kill()
        holder.wait()


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""
