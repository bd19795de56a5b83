"""A real Slurm array renders the same dataset as one process; killed and failing tasks show in ``status``,
``collect`` refuses their missing views, and ``--retry-missing`` renders exactly those."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import consumer_files as dataset

CLI = Path(__file__).resolve().parents[2] / "cli.py"
SETTINGS = ["--train", "21", "--val", "3", "--test", "6", "--resolution", "64x48", "--samples", "8"]
PER_SHARD = 10  # 30 views in 3 shards: long enough to kill one half-way
SETTINGS += ["--transparent", "--format", "nerf,colmap", "--points", "300", "--seed", "2", "--demo"]


@pytest.fixture
def run(slurm, user_resources):
    env = {**slurm.env, "BLENDER_USER_RESOURCES": str(user_resources)}

    def cli(*args, timeout=300):
        return subprocess.run([sys.executable, str(CLI), *map(str, args)], env=env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip

    return cli


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, user_resources):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("one") / "out"
    r = run_cli(*SETTINGS, "--workers", "1", "--out", out, user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    return dataset(out)


def wait_done(run, job: Path, timeout: float = 240) -> str:
    """Until no task is pending or running; returns the last status output."""
    deadline = time.monotonic() + timeout
    while True:
        out = run("status", "--job", job).stdout
        if not re.search(r"PENDING|RUNNING|CONFIGURING|COMPLETING|not submitted", out):
            return out
        assert time.monotonic() < deadline, out
        time.sleep(0.5)


def test_a_three_task_array_makes_the_one_process_dataset(run, one_process, tmp_path):
    job = tmp_path / "job"
    r = run("submit", "--backend", "slurm", "--job", job, "--shards", "3", *SETTINGS)
    assert r.returncode == 0 and re.fullmatch(r"submitted \d+\n", r.stdout), r.stdout + r.stderr
    status = wait_done(run, job)
    assert status.count(f"{PER_SHARD}/{PER_SHARD} views, COMPLETED") == 3, status
    r = run("collect", "--job", job, "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert dataset(tmp_path / "out") == one_process


def test_a_killed_and_a_failing_task_are_shown_refused_and_retried(run, slurm, one_process, tmp_path):
    job, flag = tmp_path / "job", tmp_path / "let-shard-2-work"
    wrapper = tmp_path / "worker.sh"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$SLURM_ARRAY_TASK_ID" = 2 ] && [ ! -e {flag} ]; then echo "shard 2: no licence today"; exit 3; fi\n'
        f'if [ "$SLURM_ARRAY_TASK_ID" = 1 ]; then echo $$ > {tmp_path}/shard-1.pid; fi\n'
        f'exec {sys.executable} {CLI} "$@"\n'
    )
    wrapper.chmod(0o755)
    r = run("submit", "--backend", "slurm", "--job", job, "--shards", "3", "--worker-command", wrapper, *SETTINGS)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"submitted \d+\n", r.stdout), r.stdout
    record = job / ".nerf_dataset/shards/1-of-3.done"
    deadline = time.monotonic() + 120
    while not record.exists():  # the worker has opened the scene and starts rendering its shard
        assert time.monotonic() < deadline, run("status", "--job", job).stdout
        time.sleep(0.05)
    # Killed at once by its pid (the wrapper execs the worker): scancel goes through slurmctld, and a fast
    # worker could finish its 10 views before the signal arrived.
    os.kill(int((tmp_path / "shard-1.pid").read_text()), signal.SIGKILL)
    status = wait_done(run, job)
    lines = {int(m[1]): m[0] for m in re.finditer(r"shard (\d)/3: .*", status)}
    assert f"{PER_SHARD}/{PER_SHARD} views, COMPLETED" in lines[0], status
    done = int(re.search(r"shard 1/3: (\d+)/", lines[1])[1])
    assert done < PER_SHARD and re.search(r"shard 1/3: \d+/10 views, (CANCELLED|FAILED)", lines[1]), status
    assert f"0/{PER_SHARD} views, FAILED (exit 3): shard 2: no licence today" in lines[2], status
    missing = 2 * PER_SHARD - done
    r = run("collect", "--job", job)
    assert r.returncode == 1 and f"{missing} views have no complete image" in r.stderr, r.stderr
    flag.touch()
    r = run("submit", "--retry-missing", "--job", job)
    assert r.returncode == 0 and r.stdout.startswith("submitted"), r.stderr
    status = wait_done(run, job)
    assert "status: 30/30 views done" in status, status
    logs = " ".join((job / f".nerf_dataset/logs/shard-{i}.log").read_text() for i in (1, 2))
    rendered = sum(int(n) for n in re.findall(r"rendered shard [12]/3 of .*?: (\d+) views", logs))
    assert rendered == missing  # the retry rendered exactly the missing views
    assert run("collect", "--job", job).returncode == 0
    assert dataset(job) == one_process
    assert os.environ.get("SLURM_CONF") is None  # the cluster's settings stayed in its own env
