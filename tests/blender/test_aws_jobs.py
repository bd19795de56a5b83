"""A job in S3 on AWS Batch, against moto on loopback: submit makes the objects and the array, children render
their shards as separate processes, collect gives the one-process dataset; a killed child is shown, refused and
retried without redoing its uploads; no credential is ever written anywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import consumer_files as dataset
from moto_aws import ACCESS_KEY, BUCKET, DEFINITION, QUEUE, SECRET_KEY

CLI = Path(__file__).resolve().parents[2] / "cli.py"
PER_SHARD = 10  # 30 views in 3 shards: long enough to kill one half-way
SETTINGS = ["--train", "21", "--val", "3", "--test", "6", "--resolution", "64x48", "--samples", "8", "--demo"]
SETTINGS += ["--transparent", "--format", "nerf,colmap", "--points", "300", "--seed", "2", "--passes", "depth"]


@pytest.fixture
def run(moto_aws, user_resources):
    env = {**os.environ, **moto_aws.env, "BLENDER_USER_RESOURCES": str(user_resources)}
    env.pop("AWS_BATCH_JOB_ARRAY_INDEX", None)

    def cli(*args, extra_env=None, timeout=300, wait=True):
        cmd = [sys.executable, str(CLI), *map(str, args)]
        if not wait:
            return subprocess.Popen(
                cmd, env={**env, **(extra_env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        return subprocess.run(cmd, env={**env, **(extra_env or {})}, capture_output=True, text=True, timeout=timeout)

    return cli


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, user_resources):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("one") / "out"
    r = run_cli(*SETTINGS, "--workers", "1", "--out", out, user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    return dataset(out)


def submit(run, aws, url: str, shards: int = 3):
    return run("submit", "--backend", "aws-batch", "--job", url, "--shards", shards, "--job-queue", QUEUE,
               "--job-definition", DEFINITION, "--attempts", "3", "--endpoint-url", aws.url, *SETTINGS)  # fmt: skip


def child(run, aws, job_id: str, index: int, wait=True):
    """One child of the array as AWS Batch would start it: the submitted command and environment, the index."""
    job = aws.batch.describe_jobs(jobs=[job_id])["jobs"][0]
    env = {e["name"]: e["value"] for e in job["container"]["environment"] if not e["name"].startswith("AWS_BATCH")}
    env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    return run(*job["container"]["command"], extra_env=env, wait=wait)


def test_children_render_the_one_process_dataset_and_no_credential_is_written(run, moto_aws, one_process, tmp_path):
    url = f"s3://{BUCKET}/jobs/three"
    r = submit(run, moto_aws, url)
    assert r.returncode == 0 and re.fullmatch(r"submitted [\w-]+\n", r.stdout), r.stdout + r.stderr
    job_id = r.stdout.split()[-1]
    job = moto_aws.batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert job["arrayProperties"]["size"] == 3
    assert job["container"]["command"] == ["worker", "--job", url, "--endpoint-url", moto_aws.url]
    [record] = moto_aws.objects("jobs/three/.nerf_dataset/backend/aws-batch/").values()
    record = [json.loads(record)]
    assert record[0]["request"]["retryStrategy"] == {"attempts": 3}  # moto accepts it but does not echo it
    assert {k.split("/", 2)[2] for k in moto_aws.objects("jobs/three")} >= {
        ".nerf_dataset/job.json",
        ".nerf_dataset/plan.json",
        ".nerf_dataset/scene.blend",
        ".nerf_dataset/tracks.npz",
    }

    for i in range(3):
        r = child(run, moto_aws, job_id, i)
        assert r.returncode == 0 and f"uploaded {PER_SHARD} views" in r.stdout, r.stderr
    r = run("status", "--job", url, "--endpoint-url", moto_aws.url)
    assert r.returncode == 0 and "status: 30/30 views done in 3 shards (aws-batch)" in r.stdout, r.stdout
    r = run("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert dataset(tmp_path / "out") == one_process

    written = [*moto_aws.objects("jobs/three").values(), *(p.read_bytes() for p in (tmp_path / "out").rglob("*")
               if p.is_file())]  # fmt: skip
    written += [blend_bytes(b) for b in written if b.startswith(b"\x28\xb5\x2f\xfd")]  # zstd: the packed .blend
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert not any(secret.encode() in b for b in written)


def blend_bytes(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def test_a_killed_child_is_shown_refused_and_retried_without_redoing_its_uploads(run, moto_aws, one_process,
                                                                                 tmp_path):  # fmt: skip
    url, prefix = f"s3://{BUCKET}/jobs/killed", "jobs/killed"
    r = submit(run, moto_aws, url)
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.split()[-1]
    for i in (0, 2):
        assert child(run, moto_aws, job_id, i).returncode == 0
    victim = child(run, moto_aws, job_id, 1, wait=False)
    deadline = time.monotonic() + 120
    while len(records(moto_aws, prefix)) < 2 * PER_SHARD + 3:  # a few of shard 1's views are in the bucket
        assert time.monotonic() < deadline and victim.poll() is None
        time.sleep(0.02)
    victim.kill()
    victim.wait()
    first = records(moto_aws, prefix)
    done_first = len(first) - 2 * PER_SHARD
    assert 3 <= done_first < PER_SHARD

    r = run("status", "--job", url, "--endpoint-url", moto_aws.url)
    assert r.returncode == 1 and f"shard 1/3: {done_first}/{PER_SHARD} views" in r.stdout, r.stdout
    r = run("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", tmp_path / "out")
    missing = PER_SHARD - done_first
    assert r.returncode == 1 and f"{missing} views have no complete image" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()

    r = run("submit", "--retry-missing", "--job", url, "--endpoint-url", moto_aws.url)
    assert r.returncode == 0 and r.stdout.startswith("submitted"), r.stdout + r.stderr
    retry_id = r.stdout.split()[-1]
    retry = moto_aws.batch.describe_jobs(jobs=[retry_id])["jobs"][0]
    assert {"name": "NERF_DATASET_SHARDS", "value": "1"} in retry["container"]["environment"]
    puts_before = dict(moto_aws.requests)
    r = child(run, moto_aws, retry_id, 0)
    assert r.returncode == 0 and f"uploaded {missing} views" in r.stdout, r.stdout + r.stderr
    uploaded = [*first]
    for key in first:
        uploaded += [f"{prefix}/{rel}" for rel in json.loads(moto_aws.objects(key)[key])["files"]]
    assert len(uploaded) == len(first) * 4  # each record, its image and its depth pass (EXR and PNG)
    for key in uploaded:  # the first attempt's views were neither rendered nor uploaded again
        assert moto_aws.requests[("PUT", f"/{BUCKET}/{key}")] == 1 == puts_before[("PUT", f"/{BUCKET}/{key}")]
    r = run("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert dataset(tmp_path / "out") == one_process


def records(aws, prefix: str) -> list[str]:
    page = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/.nerf_dataset/views/")
    return [o["Key"] for o in page.get("Contents", [])]


def test_a_bucket_that_denies_writes_or_a_wrong_endpoint_is_one_sentence(run, moto_aws):
    moto_aws.s3.create_bucket(Bucket="locked-jobs")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                                                      "Resource": "arn:aws:s3:::locked-jobs/*"}]}  # fmt: skip
    moto_aws.s3.put_bucket_policy(Bucket="locked-jobs", Policy=json.dumps(policy))
    r = submit(run, moto_aws, "s3://locked-jobs/jobs/a", shards=2)
    assert r.returncode == 1, r.stdout + r.stderr
    last = r.stderr.splitlines()[-1]
    assert "Traceback" not in r.stderr
    assert re.fullmatch(r"cli\.py submit: failed: uploading \S+: access denied .*", last), r.stderr
    r = run("status", "--job", "s3://nerf-jobs/jobs/x", "--endpoint-url", "http://127.0.0.1:9")
    assert r.returncode == 1 and re.fullmatch(r"cli\.py status: failed: .*cannot reach .*\n", r.stderr), r.stderr


def test_a_kubernetes_indexed_job_over_s3_renders_the_one_process_dataset(run, moto_aws, one_process, tmp_path):
    from kubernetes.client import ApiClient

    url = f"s3://{BUCKET}/jobs/k8s"
    r = run("submit", "--backend", "kubernetes", "--job", url, "--shards", "3", "--image", "registry.example/nerf:1",
            "--secret", "aws-credentials", "--cpu", "2", "--emit", tmp_path / "k8s", "--endpoint-url", moto_aws.url,
            *SETTINGS)  # fmt: skip
    assert r.returncode == 0 and "kubectl apply -f" in r.stdout, r.stdout + r.stderr
    [path] = (tmp_path / "k8s").glob("kubernetes-job-nerf-dataset-*.json")
    manifest = json.loads(path.read_text())
    job = ApiClient()._ApiClient__deserialize(manifest, "V1Job")
    assert (job.spec.completion_mode, job.spec.completions, job.spec.backoff_limit_per_index) == ("Indexed", 3, 2)
    container = job.spec.template.spec.containers[0]
    assert container.env_from[0].secret_ref.name == "aws-credentials"
    assert container.args == ["worker", "--job", url, "--endpoint-url", moto_aws.url, "--threads", "2"]
    for i in range(3):  # as Kubernetes runs each index: the container's args, JOB_COMPLETION_INDEX set
        r = run(*container.args, extra_env={"JOB_COMPLETION_INDEX": str(i)})
        assert r.returncode == 0, r.stderr
    r = run("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert dataset(tmp_path / "out") == one_process
    assert not any(s.encode() in path.read_bytes() for s in (ACCESS_KEY, SECRET_KEY))


def test_objects_that_do_not_match_their_records_are_rendered_again(run, moto_aws, one_process, tmp_path):
    url, prefix = f"s3://{BUCKET}/jobs/damaged", "jobs/damaged"
    r = submit(run, moto_aws, url, shards=1)
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.split()[-1]
    [job] = moto_aws.batch.describe_jobs(jobs=[job_id])["jobs"]
    assert "arrayProperties" not in job  # one child is a plain job: its shard comes from NERF_DATASET_SHARDS
    assert {"name": "NERF_DATASET_SHARDS", "value": "0"} in job["container"]["environment"]
    moto_aws.s3.delete_object(Bucket=BUCKET, Key=f"{prefix}/.nerf_dataset/tracks.npz")  # sampled again by the child
    env = {e["name"]: e["value"] for e in job["container"]["environment"] if not e["name"].startswith("AWS_BATCH")}
    assert run(*job["container"]["command"], extra_env=env).returncode == 0

    s3 = moto_aws.s3
    s3.delete_object(Bucket=BUCKET, Key=f"{prefix}/nerf/train/r_3.png")  # lost
    cut = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/nerf/val/r_1.png")["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/nerf/val/r_1.png", Body=cut[:-7] + bytes(7))  # same size, other bytes
    r = run("status", "--job", url, "--endpoint-url", moto_aws.url)
    assert r.returncode == 1 and "29/30 views" in r.stdout, r.stdout
    r = run("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", tmp_path / "out")
    assert r.returncode == 1 and "1 views have no complete image: train/r_3" in r.stderr, r.stderr
    assert run("worker", "--job", url, "--endpoint-url", moto_aws.url, extra_env=env).returncode == 0
    r = run("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", tmp_path / "out")
    assert r.returncode == 1 and "1 views have no complete image: val/r_1" in r.stderr, r.stderr  # its hash
    r = run("worker", "--job", url, "--endpoint-url", moto_aws.url, extra_env=env)
    assert r.returncode == 0 and "uploaded 1 views" in r.stdout, r.stdout + r.stderr
    r = run("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", tmp_path / "out", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert dataset(tmp_path / "out") == one_process


def test_a_submit_refused_after_planning_leaves_the_prefix_empty(run, moto_aws):
    for extra, words in ((["--shards", "10001"], "at most 10000 children"), (["--emit", "x"], "--emit writes"),
                         (["--cpu", "2"], "--cpu is a kubernetes option")):  # fmt: skip
        r = run("submit", "--backend", "aws-batch", "--job", f"s3://{BUCKET}/jobs/refused", "--job-queue", QUEUE,
                "--job-definition", DEFINITION, "--endpoint-url", moto_aws.url, *extra, *SETTINGS)  # fmt: skip
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    denied = f"arn:aws:s3:::{BUCKET}/jobs/half/*/plan.json"
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": denied}
    policy = {"Version": "2012-10-17", "Statement": [deny]}
    moto_aws.s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    try:
        r = submit(run, moto_aws, f"s3://{BUCKET}/jobs/half", shards=2)
    finally:
        moto_aws.s3.delete_bucket_policy(Bucket=BUCKET)
    assert r.returncode == 1 and "plan.json: access denied" in r.stderr, r.stderr
    r = run("submit", "--backend", "aws-batch", "--job", f"s3://{BUCKET}/jobs/typo", "--job-queue", "render-queeu",
            "--job-definition", DEFINITION, "--endpoint-url", moto_aws.url, *SETTINGS)  # fmt: skip
    assert r.returncode == 1 and "submitting to AWS Batch queue render-queeu" in r.stderr, r.stderr
    for prefix in ("jobs/refused", "jobs/half", "jobs/typo"):  # what each had put is gone: the next try may go
        assert moto_aws.objects(prefix) == {}, prefix
