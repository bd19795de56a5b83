"""Issue 23 on a real Slurm cluster: a collection's 3-task array, held until its asset folder has moved away, renders
the local run's batch; ``status`` names the two failed assets; ``collect`` needs no Blender."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "blender"))  # the collection the job tests share

from collection_jobs import ARGS, FAILING, batch_of, build_tree  # noqa: E402

CLI = Path(__file__).resolve().parents[2] / "cli.py"


def test_a_collection_array_renders_the_local_batch_after_its_assets_moved(slurm, user_resources, tmp_path):
    from conftest import run_cli

    build_tree(tmp_path / "tree")
    local = run_cli("--import-dir", tmp_path / "tree", "--out", tmp_path / "local", *ARGS,
                    user_resources=user_resources)  # fmt: skip
    assert local.returncode == 1, local.stderr
    env = {**slurm.env, "BLENDER_USER_RESOURCES": str(user_resources)}

    def cli(*args, extra=None):
        return subprocess.run([sys.executable, str(CLI), *map(str, args)], env={**env, **(extra or {})},
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    job = tmp_path / "job"
    r = cli("submit", "--backend", "slurm", "--job", job, "--shards", "3", "--sbatch-arg=--hold", "--import-dir",
            tmp_path / "tree", *ARGS)  # fmt: skip
    assert r.returncode == 0 and re.fullmatch(r"submitted \d+\n", r.stdout), r.stdout + r.stderr
    (tmp_path / "tree").rename(tmp_path / "moved")  # the tasks read the job, never the user's folder
    subprocess.run(["scontrol", "release", r.stdout.split()[-1]], env=slurm.env, check=True)
    deadline = time.monotonic() + 240
    while True:
        status = cli("status", "--job", job)
        if not re.search(r"PENDING|RUNNING|CONFIGURING|COMPLETING|not submitted", status.stdout):
            break
        assert time.monotonic() < deadline, status.stdout
        time.sleep(0.5)
    assert "status: 5/7 assets done, 2 failed, 0 running, 0 missing in 3 shards (slurm)" in status.stdout, status
    assert status.stdout.count(", COMPLETED") == 3, status.stdout
    failed = {line.split(":")[1].strip() for line in status.stdout.splitlines() if line.startswith("failed:")}
    assert failed == FAILING, status.stdout
    stub = tmp_path / "no_bpy" / "bpy"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('no Blender here')\n")
    r = cli("collect", "--job", job, "--out", tmp_path / "out", extra={"PYTHONPATH": str(stub.parent)})
    assert r.returncode == 1 and "2 of 7 assets failed" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert batch_of(tmp_path / "out") == batch_of(tmp_path / "local")
    assert os.environ.get("SLURM_CONF") is None
