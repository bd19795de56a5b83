"""Job locations, shard lists and the AWS options are checked words: what a user types, and what a job read
from someone else's bucket holds, is accepted only in the forms the engines take."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerf_dataset.cloud.engines.aws_batch import BatchOptions
from nerf_dataset.cloud.job import JobSpec, shard_list_text
from nerf_dataset.cloud.location import S3Url, parse_location
from nerf_dataset.cloud.s3 import S3Options
from nerf_dataset.cloud.worker import shard_from_environment
from nerf_dataset.core.errors import UserError

SPEC = JobSpec(shards=8, digest="0" * 64, target="Cube", objects=("Cube",))


def test_s3_urls_and_folders():
    assert parse_location("s3://nerf-jobs/jobs/chair/") == S3Url("nerf-jobs", "jobs/chair")
    assert str(parse_location("S3://nerf-jobs/jobs/chair")) == "s3://nerf-jobs/jobs/chair"
    assert parse_location("jobs/chair") == Path("jobs/chair").absolute()


@pytest.mark.parametrize(
    "text",
    ["s3://nerf-jobs", "s3://nerf-jobs/", "s3://Nerf/jobs", "s3://a/jobs", "s3://nerf-jobs/a/../b", "s3://nerf-jobs/a//b",
     "s3://nerf-jobs/x ", "s3://nerf-jobs/ x",
     "s3://nerf-jobs/.nerf_dataset", "s3://nerf-jobs/" + "é" * 300,
     "s3://nerf-jobs/./a", "s3://192.168.0.1/x", "s3://nerf..jobs/x", "s3://nerf-jobs/a\nb", "s3://nerf-jobs/a\\b",
     "s3://nerf-jobs/" + "x" * 600],
)  # fmt: skip
def test_bad_s3_urls_are_one_sentence(text):
    with pytest.raises(UserError, match="^s3://"):
        parse_location(text)


@given(st.lists(st.integers(0, 7), min_size=1, unique=True).map(sorted))
def test_a_shard_list_maps_each_rerun_task_to_its_shard(shards):
    env = {"NERF_DATASET_SHARDS": shard_list_text(shards)}
    got = [shard_from_environment(SPEC, {**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)})[0] for i in range(len(shards))]
    assert got == shards
    if len(shards) == 1:  # a single rerun shard is a plain job: no index variable
        assert shard_from_environment(SPEC, env) == (shards[0], 8)


@pytest.mark.parametrize("text", ["", "8", "-1", "3-1", "1,,2", "a", "0-99999999", "١"])
def test_a_hostile_shard_list_is_refused(text):
    with pytest.raises(UserError, match="NERF_DATASET_SHARDS"):
        shard_from_environment(SPEC, {"NERF_DATASET_SHARDS": text, "AWS_BATCH_JOB_ARRAY_INDEX": "0"})


def test_an_index_beyond_the_rerun_list_is_refused():
    with pytest.raises(UserError, match="no shard"):
        shard_from_environment(SPEC, {"NERF_DATASET_SHARDS": "1,3", "AWS_BATCH_JOB_ARRAY_INDEX": "2"})


@pytest.mark.parametrize(
    "kw",
    [{"job_queue": "q; rm -rf /"}, {"job_definition": "d e"}, {"attempts": 0}, {"attempts": 11}, {"vcpus": 0},
     {"memory": -5}, {"job_name": "x"}, {"attempts": True}],
)  # fmt: skip
def test_bad_batch_options_are_refused(kw):
    with pytest.raises(UserError):
        BatchOptions(**{"job_queue": "render-queue", "job_definition": "nerf-worker:3", **kw})


@pytest.mark.parametrize(
    "kw", [{"endpoint_url": "file:///etc/passwd"}, {"endpoint_url": "http://a b"}, {"region": "us east"},
           {"profile": "a/b"}, {"endpoint_url": "http://x\n"}]
)  # fmt: skip
def test_bad_s3_options_are_refused(kw):
    with pytest.raises(UserError):
        S3Options(**kw)


def test_a_worker_reaches_the_bucket_with_endpoint_and_region_only():
    s3 = S3Options("http://127.0.0.1:9000", "eu-west-1", "my-profile")
    assert s3.worker_args() == ["--endpoint-url", "http://127.0.0.1:9000", "--region", "eu-west-1"]
    assert s3.to_dict() == {"endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1"}  # the profile stays
