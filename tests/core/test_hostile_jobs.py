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

from nerf_dataset.core.layout import BACKEND_DIR, LOCK_FILE


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
}


COMMANDS = (["status"], ["collect"], ["worker", "--shard", "0/2"])  # each reads the job the same way: take turns


@pytest.mark.parametrize("name", EDITS)
def test_a_plan_no_run_writes_is_refused_by_every_job_command(name, tmp_path):
    edit, words = EDITS[name]
    job = made_job(tmp_path / "job")
    edit_plan(job, edit)
    command = COMMANDS[list(EDITS).index(name) % len(COMMANDS)]
    line = refused(*command, "--job", job)
    assert words in line and "plan.json is damaged" in line, (command, line)


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
