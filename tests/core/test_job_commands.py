"""The job commands' refusals, said before Blender loads anything: each one line and exit 2, whatever a user or a
hand-edited job file gives them. A job is made here by hand (no Blender), as ``cli.py submit`` writes it."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import run_cli
from made_jobs import made_job, refused


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--job", ""], "--job is empty"),
        (["--job", "{job}", "--endpoint-url", "http://localhost:9"], "--endpoint-url reaches a job in a bucket"),
        (["--job", "{job}", "--retry-missing", "--samples", "4"], "takes no --samples"),
        (["--job", "{job}", "--retry-missing", "--shards", "4"], "takes no --shards"),
        (["--job", "{job}", "--retry-missing", "--demo"], "takes no --demo"),
        (["--job", "{job}", "--retry-missing", "--image", "x/y:1"], "--image is an option of kubernetes and gcp"),
        (["--job", "{job}", "--retry-missing", "--apply"], "--apply is a kubernetes option"),
    ],
)
def test_a_retry_or_a_job_location_that_means_nothing_is_refused(args, words, tmp_path):
    job = made_job(tmp_path / "job")
    line = refused("submit", *(a.replace("{job}", str(job)) for a in args))
    assert words in line, line


def test_an_unknown_engine_in_a_job_file_is_named(tmp_path):
    job = made_job(tmp_path / "job")
    spec_path = job / ".nerf_dataset/job.json"
    spec_path.write_text(json.dumps({**json.loads(spec_path.read_text()), "backend": "pbs"}))
    line = refused("status", "--job", job)
    assert "job.json is damaged (its back-end 'pbs' is not one this version knows)" in line, line


def test_a_kubernetes_job_without_the_name_of_its_job_is_damaged(tmp_path):
    job = made_job(tmp_path / "job", "kubernetes", {"kubernetes": {"image": "x/y:1", "name": None}, "s3": {}})
    for command in (["cancel"], ["submit", "--retry-missing", "--emit", str(tmp_path / "emit")]):
        assert "Kubernetes options are damaged" in refused(*command, "--job", job)


def test_a_job_folder_on_a_container_engine_needs_its_volume(tmp_path):
    base = ["submit", "--job", tmp_path / "job", "--image", "x/y:1", "--demo", "--emit", tmp_path / "emit"]
    assert "needs --pvc" in refused(*base, "--backend", "kubernetes")
    assert "needs --gcs-bucket" in refused(*base, "--backend", "gcp-batch")
    assert not (tmp_path / "job").exists()  # refused before anything is planned


def test_each_engines_own_words_for_a_flag_they_share():
    help_text = run_cli("submit", "--help").stdout
    memory = " ".join(help_text.split("\n  --memory VALUE", 1)[1].split("--job-name", 1)[0].split())
    assert "aws-batch: MiB per child" in memory and "kubernetes: memory per pod" in memory
    mount = " ".join(help_text.split("\n  --mount-path PATH", 1)[1].split("--service-account", 1)[0].split())
    assert "(default: /job)" in mount and "(default: /mnt/disks/job)" in mount


def test_counts_are_said_in_full():
    assert "--samples must be 1 to 1048576, not 0" in refused("--demo", "--out", "x", "--samples", "0")
    assert "--seed must be 0 to 2147483647, not 99999999999" in refused("--demo", "--out", "x", "--seed", "99999999999")


def test_a_setting_of_a_launch_that_is_no_value_is_named_before_any_instance_starts():
    from nerf_dataset.stream import launcher

    for bad in ({"lens": float("nan")}, {"lens": {1, 2}}):
        with pytest.raises(ValueError, match="setting 'lens'"):
            launcher.launch(None, settings=bad)
    assert not launcher._OPEN


def test_the_stream_instance_reads_a_spec_from_a_stranger_as_one_sentence(tmp_path):
    import subprocess

    from conftest import CLI

    secret = "ab" * 32
    good = {"connect": "127.0.0.1:9", "instance": 0, "instances": 1, "generation": 0, "first_seq": 0, "views": "rig",
            "seed": 0, "settings": {}, "source": {"demo": True}, "keypoints": [], "scratch": str(tmp_path)}  # fmt: skip
    for bad in ({"connect": "\n:5"}, {"connect": "h:99999999"}, {"source": {"demo": True, "blend": "/x.blend"}},
                {"scratch": "5"}, {"keypoints": ["a"] * 2000}):  # fmt: skip
        spec = json.dumps({**good, **bad})
        r = subprocess.run([sys.executable, str(CLI), "stream"], input=f"{secret}\n{spec}\n", capture_output=True,
                           text=True, timeout=60)  # fmt: skip
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, (bad, r.stderr)


@pytest.mark.parametrize(
    ("backend", "lock"), [("local", ".nerf_dataset/lock"), ("slurm", ".nerf_dataset/backend/submit.lock")]
)
def test_one_retry_or_cancel_of_a_job_at_a_time(backend, lock, tmp_path):
    """Two retries at once would start every missing shard twice (and the local engine's workers run under the
    retry's lock): the second is refused while the first holds the job."""
    from nerf_dataset.app.lock import OutputLock

    job = made_job(tmp_path / "job", backend)
    held = OutputLock(job, lock=lock).acquire()
    try:
        assert "is in use by pid" in refused("submit", "--retry-missing", "--job", job)
    finally:
        held.release()


def test_what_slurm_cannot_use_is_refused(tmp_path):
    job = made_job(tmp_path / "job")
    line = refused("submit", "--retry-missing", "--job", job, "--emit", tmp_path / "elsewhere")
    assert "--emit writes Slurm's script into the job folder" in line
    line = refused("submit", "--backend", "slurm", "--job", tmp_path / "new", "--retries", "5", "--demo")
    assert "--retries restarts the workers of the local engine" in line
    assert "--vcpus is an aws-batch option" in refused(
        "submit", "--backend", "slurm", "--job", tmp_path / "n", "--vcpus", "2"
    )
