"""The ``slurm`` fixture is a real cluster: array tasks run with their own index and count, failures show."""

from __future__ import annotations

import shlex
import subprocess


def write_script(path, body: str):
    path.write_text("#!/bin/sh\n" + body + "\n")
    return path


def test_array_tasks_run_with_their_index_and_count(slurm, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    script = write_script(
        tmp_path / "task.sh",
        f'echo "$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT" > {shlex.quote(str(out))}/task-$SLURM_ARRAY_TASK_ID',
    )
    job = slurm.sbatch("--array=0-2", f"--output={tmp_path}/slurm-%A_%a.out", str(script), cwd=tmp_path)

    assert slurm.wait(job) == {f"{job}_{k}": "COMPLETED" for k in range(3)}
    assert {path.name: path.read_text() for path in out.iterdir()} == {f"task-{k}": f"{k} 3\n" for k in range(3)}


def test_a_failing_task_shows_failed_with_its_exit_code(slurm, tmp_path):
    script = write_script(tmp_path / "task.sh", '[ "$SLURM_ARRAY_TASK_ID" = 1 ] && exit 3\nexit 0')
    job = slurm.sbatch("--array=0-1", f"--output={tmp_path}/slurm-%A_%a.out", str(script), cwd=tmp_path)

    assert slurm.wait(job) == {f"{job}_0": "COMPLETED", f"{job}_1": "FAILED"}
    # The plain client, as any caller would run it: slurm.env points it at this cluster.
    shown = subprocess.run(
        ["scontrol", "show", "job", f"{job}_1"], env=slurm.env, capture_output=True, text=True, check=True
    ).stdout
    assert "JobState=FAILED" in shown.split()
    assert "ExitCode=3:0" in shown.split()
    assert slurm.show_job(f"{job}_0")["ExitCode"] == "0:0"
