"""The Google Cloud Batch back-end: the emitted config uses only the Job resource's documented fields (Batch v1
REST reference, projects.locations.jobs), runs the worker once per shard with the image's own entrypoint,
names secret versions and never a secret, and bad option values never reach it."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from nerf_dataset.cloud.engines.gcp_batch import GcpBatchOptions, config, emit
from nerf_dataset.core.errors import UserError

IMAGE = "us-docker.pkg.dev/my-project/nerf/nerf-dataset:0.1.0"
ARGS = ["worker", "--job", "/mnt/disks/job"]
KEY_ID = "projects/my-project/secrets/aws-key-id/versions/latest"
KEY = "projects/123456789/secrets/aws_secret/versions/3"

# The fields of each object of the Batch v1 Job resource (cloud.google.com/batch/docs/reference/rest/v1/
# projects.locations.jobs): a config with any other key is not one gcloud submits.
FIELDS = {
    "Job": {"name", "uid", "priority", "taskGroups", "allocationPolicy", "labels", "status", "createTime",
            "updateTime", "logsPolicy", "notifications"},
    "TaskGroup": {"name", "taskSpec", "taskCount", "parallelism", "schedulingPolicy", "taskEnvironments",
                  "taskCountPerNode", "requireHostsFile", "permissiveSsh", "runAsNonRoot"},
    "TaskSpec": {"runnables", "computeResource", "maxRunDuration", "maxRetryCount", "lifecyclePolicies",
                 "environments", "volumes", "environment"},
    "Runnable": {"container", "script", "barrier", "displayName", "ignoreExitStatus", "background", "alwaysRun",
                 "environment", "timeout", "labels"},
    "Container": {"imageUri", "commands", "entrypoint", "volumes", "options", "blockExternalNetwork", "username",
                  "password", "enableImageStreaming"},
    "ComputeResource": {"cpuMilli", "memoryMib", "bootDiskMib"},
    "Environment": {"variables", "secretVariables", "encryptedVariables"},
    "Volume": {"nfs", "gcs", "deviceName", "mountPath", "mountOptions"},
    "GCS": {"remotePath"},
    "LogsPolicy": {"destination", "logsPath", "cloudLoggingOption"},
}  # fmt: skip


def full_options(**kw) -> GcpBatchOptions:
    return GcpBatchOptions(IMAGE, cpu_milli=4000, memory_mib=8192, parallelism=20, max_run_duration="3600s",
                           secret_env={"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": KEY},
                           gcs_bucket="my-bucket/jobs/chair", **kw)  # fmt: skip


def documented_only(job: dict) -> list[str]:
    """Keys of ``job`` that are no field of their object in the reference."""
    group = job["taskGroups"][0]
    task = group["taskSpec"]
    objects = [("Job", job), ("TaskGroup", group), ("TaskSpec", task), ("LogsPolicy", job["logsPolicy"])]
    objects += [("Runnable", r) for r in task["runnables"]]
    objects += [("Container", r["container"]) for r in task["runnables"]]
    objects += [("ComputeResource", task.get("computeResource", {})), ("Environment", task.get("environment", {}))]
    objects += [("Volume", v) for v in task.get("volumes", [])] + [("GCS", v["gcs"]) for v in task.get("volumes", [])]
    return [f"{kind}.{key}" for kind, obj in objects for key in obj if key not in FIELDS[kind]]


def test_the_config_runs_the_worker_once_per_shard_with_documented_fields_only():
    job = config(ARGS, 50, full_options())
    assert documented_only(job) == []
    (group,) = job["taskGroups"]
    assert (group["taskCount"], group["parallelism"]) == (50, 20)
    task = group["taskSpec"]
    assert task["runnables"] == [{"container": {"imageUri": IMAGE, "commands": ARGS}}]  # the image's entrypoint
    assert task["computeResource"] == {"cpuMilli": 4000, "memoryMib": 8192}
    assert (task["maxRetryCount"], task["maxRunDuration"]) == (2, "3600s")
    assert task["environment"] == {"secretVariables": {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": KEY}}
    (volume,) = task["volumes"]
    assert (volume["gcs"], volume["mountPath"]) == ({"remotePath": "my-bucket/jobs/chair"}, "/mnt/disks/job")
    assert all(isinstance(o, str) for o in volume["mountOptions"])
    assert job["logsPolicy"] == {"destination": "CLOUD_LOGGING"}


def test_a_plain_config_leaves_resources_secrets_and_volumes_to_batch():
    job = config(ARGS, 3, GcpBatchOptions(IMAGE, parallelism=8, max_retry_count=0))
    assert documented_only(job) == []
    (group,) = job["taskGroups"]
    assert group["parallelism"] == 3  # never more than the shards
    assert set(group["taskSpec"]) == {"runnables", "maxRetryCount"} and group["taskSpec"]["maxRetryCount"] == 0
    assert "parallelism" not in config(ARGS, 3, GcpBatchOptions(IMAGE))["taskGroups"][0]


def test_emit_writes_the_config_gcloud_reads(tmp_path):
    path = emit(ARGS, 4, full_options(), tmp_path / "backend", "nerf-dataset-0123456789")
    assert path == tmp_path / "backend" / "gcp-batch-job-nerf-dataset-0123456789.json"
    assert json.loads(path.read_text()) == config(ARGS, 4, full_options())
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_no_secret_of_the_submitters_environment_reaches_the_config(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-example-secret")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/home/me/key.json")
    text = json.dumps(config(ARGS, 2, full_options()))
    assert "wJalrXUtnFEMI" not in text and "key.json" not in text and '"variables"' not in text


def test_a_secret_typed_where_its_name_belongs_is_refused_without_repeating_it():
    with pytest.raises(UserError) as info:
        GcpBatchOptions(IMAGE, secret_env={"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-example-secret"})
    assert "wJalrXUtnFEMI" not in str(info.value)
    with pytest.raises(UserError) as info:
        GcpBatchOptions.from_record({"image": IMAGE, "secret_env": {"K": "wJalrXUtnFEMI-example-secret"}})
    assert "damaged" in str(info.value) and "wJalrXUtnFEMI" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("image", f"{IMAGE}\nrm -rf /", "--image"),
        ("image", "; rm -rf /", "--image"),
        ("cpu_milli", 0, "--cpu-milli"),
        ("cpu_milli", "4000", "--cpu-milli"),
        ("memory_mib", True, "--memory-mib"),
        ("parallelism", -1, "--parallelism"),
        ("max_retry_count", 11, "--max-retry-count"),
        ("max_run_duration", "1h", "--max-run-duration"),
        ("max_run_duration", "3600", "--max-run-duration"),
        ("secret_env", {"AWS SECRET": KEY}, "--secret-env"),
        ("secret_env", {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-example-secret"}, "--secret-env"),  # a value
        ("secret_env", {"KEY": "projects/p/secrets/s/versions/1"}, "--secret-env"),  # no such project id
        ("secret_env", {"BATCH_TASK_INDEX": KEY}, "--secret-env"),
        ("secret_env", [("KEY", KEY)], "--secret-env"),
        ("gcs_bucket", "gs://my-bucket", "--gcs-bucket"),
        ("gcs_bucket", "My-Bucket", "--gcs-bucket"),
        ("gcs_bucket", "my-bucket/../other", "--gcs-bucket"),
        ("mount_path", "mnt/job", "--mount-path"),
        ("mount_path", "/opt", "--mount-path"),
    ],
)
def test_bad_values_are_refused_in_one_line_naming_the_flag(field, value, flag):
    with pytest.raises(UserError) as info:
        GcpBatchOptions(**{"image": IMAGE, field: value})
    assert str(info.value).startswith(flag) and "\n" not in str(info.value)


def test_options_round_trip_through_a_job_file_and_damage_is_refused():
    o = full_options()
    assert GcpBatchOptions.from_record(json.loads(json.dumps(asdict(o)))) == o
    good = asdict(o)
    for bad in ("x", {**good, "entrypoint": "sh"}, {k: v for k, v in good.items() if k != "image"},
                {**good, "secret_env": {"K": 1}}, {**good, "max_retry_count": 2.0}):  # fmt: skip
        with pytest.raises(UserError, match="damaged"):
            GcpBatchOptions.from_record(bad)
