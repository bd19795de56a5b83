"""Parallel workers, crashes and resume: the dataset is the same however it was rendered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLI
from conftest import consumer_files as dataset

ARGS = ["--demo", "--train", "16", "--val", "4", "--test", "8", "--resolution", "64x48", "--samples", "4"]
ARGS += ["--transparent", "--format", "nerf,ngp", "--seed", "3"]
SLOW = ["--demo", "--train", "24", "--val", "4", "--test", "8", "--resolution", "160x120", "--samples", "48"]
SLOW += ["--transparent", "--seed", "9"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, user_resources):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("reference") / "out"
    r = run_cli(*SLOW, "--workers", "1", "--out", out, user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    return dataset(out)


def test_one_and_three_workers_make_the_same_dataset(cli, tmp_path):
    for n in (1, 3):
        r = cli(*ARGS, "--passes", "depth", "--workers", n, "--out", tmp_path / str(n))
        assert r.returncode == 0, r.stderr
    one, three = dataset(tmp_path / "1"), dataset(tmp_path / "3")
    # images and depth EXR + PNG, transforms, points3d.ply (and its points3D.ply link), preview.png, test ring path
    assert len(one) == 2 * 28 * 3 + 6 + 2 + 2 and one == three


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def start_and_kill(out: Path, env, victim: str) -> subprocess.Popen:
    parent = subprocess.Popen([sys.executable, str(CLI), *SLOW, "--workers", "2", "--out", str(out)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(out.glob("train/r_*.png"))) < 3:
        assert parent.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    if victim == "parent":
        os.kill(parent.pid, signal.SIGKILL)
    else:
        os.kill(children(parent.pid)[0], signal.SIGKILL)
    return parent


@pytest.mark.parametrize("victim", ["parent", "worker"])
def test_sigkill_then_resume_gives_the_uninterrupted_dataset(victim, reference, tmp_path, user_resources):
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user_resources)}
    out = tmp_path / "out"
    parent = start_and_kill(out, env, victim)
    rc = parent.wait(timeout=300)
    stderr = parent.stderr.read().decode()
    if victim == "parent":
        assert rc == -signal.SIGKILL
        time.sleep(0.5)  # the workers die with their parent (PR_SET_PDEATHSIG)
        assert not list(out.glob("transforms*.json"))
    else:
        assert rc == 0, stderr  # the killed worker was restarted for its unfinished views
    r = subprocess.run([sys.executable, str(CLI), *SLOW, "--workers", "2", "--resume", "--out", str(out)], env=env,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert dataset(out) == reference


def test_a_view_that_keeps_failing_stops_the_run_with_its_name(cli, tmp_path):
    out = tmp_path / "out"
    r = cli(*ARGS, "--workers", "2", "--out", out)
    assert r.returncode == 0
    # Wreck one image so that it can never be written again: a folder now sits at its path.
    blocked = out / "nerf" / "train" / "r_5.png"
    blocked.unlink()
    blocked.mkdir()
    for t in out.rglob("transforms*.json"):
        t.unlink()
    r = cli(*ARGS, "--workers", "2", "--retries", "1", "--resume", "--out", out)
    assert r.returncode == 1
    line = r.stderr.strip().splitlines()[-1]
    assert "failed 2 times" in line and "train/r_5" in line and "--resume" in line
    assert not list(out.rglob("transforms*.json"))


def test_shards_run_separately_then_collect(cli, tmp_path):
    out = tmp_path / "out"
    for i in range(3):
        r = cli(*ARGS, "--shard", f"{i}/3", "--out", out)
        assert r.returncode == 0, r.stderr
        assert bool(list(out.rglob("transforms_train.json"))) == (i == 2)  # the last shard finalises
    for t in out.rglob("transforms*.json"):
        t.unlink()
    r = cli("--collect", "--out", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("validate: 0 problems")
    ref = tmp_path / "ref"
    assert cli(*ARGS, "--out", ref).returncode == 0
    assert dataset(out) == dataset(ref)


def test_collect_refuses_an_incomplete_dataset(cli, tmp_path):
    out = tmp_path / "out"
    assert cli(*ARGS, "--shard", "0/2", "--out", out).returncode == 0
    r = cli("--collect", "--out", out)
    assert r.returncode == 1 and "have no complete image" in r.stderr
    assert not list(out.rglob("transforms*.json"))
