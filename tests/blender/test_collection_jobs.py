"""Issue 23: a collection is a job. Through AWS Batch over S3 on moto (children as separate processes, the asset
folder moved away first) and the local engine: the same batch as a local run, byte for byte; a task killed
mid-asset and retried; an asset that hangs stopped by --asset-timeout; failures final unless --retry-failed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from collection_jobs import ARGS, FAILING, batch_of, build_tree
from moto_aws import ACCESS_KEY, BUCKET, DEFINITION, QUEUE, SECRET_KEY

CLI = Path(__file__).resolve().parents[2] / "cli.py"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, user_resources):
    """The local run of the collection: what every job must give."""
    from conftest import run_cli

    tmp = tmp_path_factory.mktemp("reference")
    build_tree(tmp / "tree")
    r = run_cli("--import-dir", tmp / "tree", "--out", tmp / "local", *ARGS, user_resources=user_resources)
    assert r.returncode == 1 and "2 of 7 assets" in r.stderr, r.stderr
    return batch_of(tmp / "local")


@pytest.fixture
def cli(user_resources, tmp_path):
    def run(*args, env=None, wait=True, timeout=300):
        full = {k: v for k, v in os.environ.items() if k != "AWS_BATCH_JOB_ARRAY_INDEX"}
        full.update({"BLENDER_USER_RESOURCES": str(user_resources), **(env or {})})
        cmd = [sys.executable, str(CLI), *map(str, args)]
        if not wait:
            return subprocess.Popen(cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)  # fmt: skip
        return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=timeout)

    return run


def no_bpy(tmp_path: Path) -> dict:
    """An environment where ``import bpy`` fails: collect needs no Blender."""
    stub = tmp_path / "no_bpy" / "bpy"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text("raise ImportError('no Blender here')\n")
    return {"PYTHONPATH": str(stub.parent)}


def test_aws_batch_children_render_the_local_batch_after_the_assets_moved_away(cli, moto_aws, reference, tmp_path):
    build_tree(tmp_path / "tree")
    url, env = f"s3://{BUCKET}/jobs/assets", moto_aws.env
    r = cli("submit", "--backend", "aws-batch", "--job", url, "--shards", "3", "--job-queue", QUEUE,
            "--job-definition", DEFINITION, "--endpoint-url", moto_aws.url, "--import-dir", tmp_path / "tree", *ARGS,
            env={**env, **no_bpy(tmp_path)})  # fmt: skip
    assert r.returncode == 0 and r.stdout.startswith("submitted"), r.stdout + r.stderr  # no Blender to submit
    (tmp_path / "tree").rename(tmp_path / "moved")  # workers read the job, never the user's paths
    job = moto_aws.batch.describe_jobs(jobs=[r.stdout.split()[-1]])["jobs"][0]
    assert job["arrayProperties"]["size"] == 3
    child_env = {e["name"]: e["value"] for e in job["container"]["environment"]}
    for i in range(3):
        r = cli(*job["container"]["command"], env={**env, **child_env, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)})
        assert r.returncode == 0, r.stderr
    r = cli("status", "--job", url, "--endpoint-url", moto_aws.url, env=env)
    assert r.returncode == 1, r.stdout
    assert "status: 5/7 assets done, 2 failed, 0 running, 0 missing in 3 shards (aws-batch)" in r.stdout, r.stdout
    assert {line.split(":")[1].strip() for line in r.stdout.splitlines() if line.startswith("failed:")} == FAILING
    r = cli("collect", "--job", url, "--endpoint-url", moto_aws.url, "--out", tmp_path / "out",
            env={**env, **no_bpy(tmp_path)})  # fmt: skip
    assert r.returncode == 1 and "2 of 7 assets failed" in r.stderr, r.stderr
    assert batch_of(tmp_path / "out") == reference
    written = [*moto_aws.objects("jobs/assets").values()]
    written += [p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert not any(secret.encode() in b for b in written)
    bundles = {k for k in moto_aws.objects("jobs/assets/.nerf_collection/assets/")}
    assert any(k.endswith("images/texture0.png") for k in bundles)  # the .mtl's ../images/ travelled too


def test_a_task_killed_mid_asset_then_retry_missing_gives_the_uninterrupted_batch(cli, reference, tmp_path):
    build_tree(tmp_path / "tree")
    job = tmp_path / "job"
    p = cli("submit", "--backend", "local", "--job", job, "--shards", "2", "--import-dir", tmp_path / "tree", *ARGS,
            wait=False)  # fmt: skip
    records = job / ".nerf_collection" / "records"
    deadline = time.monotonic() + 120
    while sum('"done"' in f.read_text() for f in records.rglob("record.json")) < 2:
        assert time.monotonic() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)  # the whole node: submit, its workers and their renderers
    p.wait()
    r = cli("status", "--job", job)
    assert r.returncode == 1 and "missing" in r.stdout, r.stdout
    r = cli("collect", "--job", job, "--out", tmp_path / "early")
    assert r.returncode == 1 and "are not finished" in r.stderr and not (tmp_path / "early").exists(), r.stderr
    r = cli("submit", "--retry-missing", "--job", job)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("collect", "--job", job, "--out", tmp_path / "out")
    assert r.returncode == 1 and "2 of 7 assets failed" in r.stderr, r.stderr
    assert batch_of(tmp_path / "out") == reference


def test_an_asset_that_hangs_is_stopped_and_its_block_goes_on(cli, tmp_path):
    build_tree(tmp_path / "tree")
    job = tmp_path / "job"
    r = cli("submit", "--backend", "local", "--job", job, "--shards", "1", "--asset-timeout", "4", "--import-dir",
            tmp_path / "tree", *ARGS, env={"NERF_DATASET_TEST_HANG_ON": "statue.glb"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = cli("status", "--job", job)
    assert "status: 4/7 assets done, 3 failed, 0 running, 0 missing" in r.stdout, r.stdout
    assert "failed: extra/statue: stopped after --asset-timeout 4 s (it took longer)" in r.stdout, r.stdout
    # failures are final: a retry has nothing to do, unless asked to render them again
    r = cli("submit", "--retry-missing", "--job", job)
    assert r.returncode == 0 and r.stdout.startswith("no shard to resubmit"), r.stdout + r.stderr
    r = cli("submit", "--retry-missing", "--retry-failed", "--job", job)
    assert r.returncode == 0, r.stderr
    r = cli("status", "--job", job)
    assert "status: 5/7 assets done, 2 failed, 0 running, 0 missing" in r.stdout, r.stdout


def test_a_list_whose_every_asset_fails_is_one_sentence_at_collect(cli, tmp_path):
    (tmp_path / "bad.obj").write_text("v 0 0 0\n")
    (tmp_path / "list.txt").write_text("bad.obj\nmissing.obj\n")
    job = tmp_path / "job"
    r = cli("submit", "--backend", "local", "--job", job, "--shards", "2", "--import-list", tmp_path / "list.txt",
            *ARGS)  # fmt: skip
    assert r.returncode == 0 and "missing: " in r.stderr and "it fails in the job" in r.stderr, r.stderr
    r = cli("collect", "--job", job, "--out", tmp_path / "out")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("cli.py collect: failed: 2 of 2 assets failed")
    assert (tmp_path / "out" / "index.csv").read_text().count("failed") == 2
    shutil.rmtree(job)
