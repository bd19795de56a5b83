"""A job in S3 damaged by a stranger (moto on loopback): whatever is wrong with a view's objects or the tracks,
collect downloads no more than the proofs say, leaves nothing behind in --out, drops what failed, and the next
worker renders it again, so the job can always be collected into the dataset it was."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import consumer_files as dataset
from moto_aws import BUCKET, DEFINITION, QUEUE

CLI = Path(__file__).resolve().parents[2] / "cli.py"
SETTINGS = ["--train", "4", "--val", "1", "--test", "1", "--resolution", "32x24", "--samples", "2", "--demo"]
SETTINGS += ["--transparent", "--format", "nerf", "--points", "100", "--seed", "3"]
SOURCE = "jobs/damage-source"


@pytest.fixture(scope="module")
def run(moto_aws, user_resources):
    env = {**os.environ, **moto_aws.env, "BLENDER_USER_RESOURCES": str(user_resources)}
    env.pop("AWS_BATCH_JOB_ARRAY_INDEX", None)

    def cli(*args):
        cmd = [sys.executable, str(CLI), *map(str, args)]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    return cli


@pytest.fixture(scope="module")
def rendered(run, moto_aws, tmp_path_factory):
    """A job rendered once in its own prefix, and the dataset its collect gives."""
    url = f"s3://{BUCKET}/{SOURCE}"
    r = run("submit", "--backend", "aws-batch", "--job", url, "--shards", "1", "--job-queue", QUEUE,
            "--job-definition", DEFINITION, "--endpoint-url", moto_aws.url, *SETTINGS)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert run("worker", "--job", url, "--endpoint-url", moto_aws.url, "--shard", "0/1").returncode == 0
    out = tmp_path_factory.mktemp("good") / "out"
    r = run("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", out)
    assert r.returncode == 0, r.stderr
    return dataset(out)


def job_copy(moto_aws, name: str) -> tuple[str, str]:
    """A copy of the rendered job in a prefix of its own (the copy is the same job: proofs name no prefix)."""
    for key in moto_aws.objects(SOURCE):
        target = f"jobs/{name}/{key[len(SOURCE) + 1 :]}"
        moto_aws.s3.copy_object(Bucket=BUCKET, Key=target, CopySource={"Bucket": BUCKET, "Key": key})
    return f"s3://{BUCKET}/jobs/{name}", f"jobs/{name}"


def proof_key(moto_aws, prefix: str, frame: int) -> str:
    [key] = [k for k in moto_aws.objects(f"{prefix}/.nerf_dataset/views/") if k.endswith(f"/{frame}.json")]
    return key


def collect(run, moto_aws, url, out):
    return run("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", out)


def redone(run, moto_aws, url, out, rendered, uploads: int) -> None:
    """The next worker renders again what collect dropped; collect into the same --out then succeeds."""
    r = run("worker", "--job", url, "--endpoint-url", moto_aws.url, "--shard", "0/1")
    assert r.returncode == 0 and f"uploaded {uploads} views" in r.stdout, r.stdout + r.stderr
    r = collect(run, moto_aws, url, out)
    assert r.returncode == 0, r.stderr
    assert dataset(out) == rendered


def test_an_object_larger_than_its_proof_is_cut_off_dropped_and_rendered_again(run, moto_aws, rendered, tmp_path):
    url, prefix = job_copy(moto_aws, "larger")
    moto_aws.s3.put_object(Bucket=BUCKET, Key=f"{prefix}/train/r_2.png", Body=os.urandom(1 << 20) * 8)  # 8 MiB
    out = tmp_path / "out"
    r = collect(run, moto_aws, url, out)
    assert r.returncode == 1 and r.stderr.strip().endswith("1 views have no complete image: train/r_2"), r.stderr
    assert not out.exists()  # nothing left under the dataset's name, and no folder that blocks the next collect
    r = run("status", "--job", url, "--endpoint-url", moto_aws.url)
    assert "5/6 views" in r.stdout, r.stdout  # its proof is gone: missing, so --retry-missing would resubmit it
    redone(run, moto_aws, url, out, rendered, uploads=1)


def test_a_damaged_image_with_a_proof_to_match_is_dropped_and_rendered_again(run, moto_aws, rendered, tmp_path):
    url, prefix = job_copy(moto_aws, "matching")
    damaged = b"\x89PNG\r\n\x1a\n" + bytes(200)  # not an image, yet its proof says exactly these bytes
    moto_aws.s3.put_object(Bucket=BUCKET, Key=f"{prefix}/val/r_0.png", Body=damaged)
    key = proof_key(moto_aws, prefix, 5)  # frames 1-4 train, 5 val
    proof = json.loads(moto_aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    proof["files"]["val/r_0.png"] = {"size": len(damaged), "sha256": hashlib.sha256(damaged).hexdigest()}
    moto_aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(proof).encode())
    out = tmp_path / "out"
    r = collect(run, moto_aws, url, out)
    assert r.returncode == 1 and "1 views have no complete image: val/r_0" in r.stderr, r.stderr
    assert not out.exists()
    r = run("status", "--job", url, "--endpoint-url", moto_aws.url)
    assert "5/6 views" in r.stdout, r.stdout
    redone(run, moto_aws, url, out, rendered, uploads=1)


def test_damaged_tracks_are_sampled_again_by_the_next_worker(run, moto_aws, rendered, tmp_path):
    url, prefix = job_copy(moto_aws, "tracks")
    moto_aws.s3.put_object(Bucket=BUCKET, Key=f"{prefix}/.nerf_dataset/tracks.npz", Body=b"PK\x03\x04" + bytes(99))
    out = tmp_path / "out"
    r = collect(run, moto_aws, url, out)
    assert r.returncode == 1 and "tracks are missing or damaged" in r.stderr, r.stderr
    assert f"cli.py submit --retry-missing --job {url} starts one" in r.stderr, r.stderr
    assert not out.exists()
    r = run("submit", "--retry-missing", "--job", url, "--endpoint-url", moto_aws.url)
    assert r.returncode == 0 and r.stdout.startswith("submitted "), r.stdout + r.stderr  # a child for the tracks
    redone(run, moto_aws, url, out, rendered, uploads=0)


def test_cancel_stops_only_what_aws_batch_says_runs_this_job(run, moto_aws, rendered):
    url, _ = job_copy(moto_aws, "copied")  # its records name the source's submission, a stranger's to this job
    r = run("cancel", "--job", url, "--endpoint-url", moto_aws.url)
    assert r.returncode == 0 and "nothing was submitted" in r.stdout, r.stdout + r.stderr
    r = run("cancel", "--job", f"s3://{BUCKET}/{SOURCE}", "--endpoint-url", moto_aws.url)
    assert r.returncode == 0 and "cancelled 1 AWS Batch submission(s)" in r.stdout, r.stdout + r.stderr


def test_a_scene_other_than_the_submitted_one_is_never_downloaded_whole(run, moto_aws, rendered):
    url, prefix = job_copy(moto_aws, "scene")
    moto_aws.s3.put_object(Bucket=BUCKET, Key=f"{prefix}/.nerf_dataset/scene.blend", Body=bytes(8 << 20))
    r = run("worker", "--job", url, "--endpoint-url", moto_aws.url, "--shard", "0/1")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "scene.blend is missing, or not the scene the job was submitted with" in lines[0], r.stderr
