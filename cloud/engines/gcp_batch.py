"""The ``gcp-batch`` engine: one Google Cloud Batch job, one task per shard, emitted as a job config.

``emit`` writes the config that ``gcloud batch jobs submit NAME --location REGION --config FILE`` reads (the Job
resource of the Batch v1 REST API). Its one task group runs ``taskCount`` tasks of the worker image; Batch sets
``BATCH_TASK_INDEX`` in each, and the worker takes its shard from it. The container keeps the image's entrypoint
(``python /opt/nerf_dataset/cli.py``), so ``commands`` are the worker's arguments. Credentials come from Secret
Manager (``secretVariables``: the config names secret versions, never a value) and the job folder from a Cloud
Storage bucket that Batch mounts on each VM (Cloud Storage FUSE) and, at the same path, in the container.
Nothing here calls Google: submitting is ``gcloud``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...core.errors import UserError
from ...core.options import Meta, Options, family, option, required
from ..job import SHARD_LIST_VARIABLE, shard_list_text
from ..words import ENV_NAME, WORKER_UID, check_args, is_count, is_word
from .engine import (
    MOUNT_PATH,
    WORKER_IMAGE,
    ContainerEngine,
    Start,
    check_mount_path,
    default_name,
    emit_dir,
    write_emitted,
)

MAX_PARALLELISM = 100_000
_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})"
SECRET_VERSION = rf"projects/{_PROJECT}/secrets/[A-Za-z0-9_-]{{1,255}}/versions/(?:latest|[1-9][0-9]{{0,9}})"
"""A Secret Manager secret version, ``projects/P/secrets/S/versions/V`` (V a number or ``latest``)."""
BUCKET = r"[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9](?:/[A-Za-z0-9_.-]{1,255}){0,32}"
"""A Cloud Storage bucket, optionally with a folder in it (``my-bucket/jobs/chair``)."""


@family
@dataclass(frozen=True)
class GcpBatchOptions(Options):
    FAMILY = "Google Cloud Batch"
    PANEL_PREFIX = "gcp_"

    image: str = required(WORKER_IMAGE)
    cpu_milli: int | None = option(
        None,
        Meta(
            "--cpu-milli",
            "CPU (milli)",
            "CPU per task in thousandths of a vCPU (4000: 4 vCPUs)",
            "N",
            1,
            1_000_000,
            panel="none",
        ),
    )
    memory_mib: int | None = option(
        None, Meta("--memory-mib", "Memory (MiB)", "memory per task in MiB", "N", 1, 1 << 24, panel="none")
    )
    parallelism: int | None = option(
        None,
        Meta(
            "--parallelism",
            "Parallelism",
            "tasks at once",
            "N",
            1,
            MAX_PARALLELISM,
            none_means="Batch's (every task)",
            panel="none",
        ),
    )
    max_retry_count: int = option(
        2,
        Meta("--max-retry-count", "Retries per Task", "retries of each task after a failure", "N", 0, 10, panel="none"),
    )
    max_run_duration: str | None = option(
        None,
        Meta(
            "--max-run-duration",
            "Time Limit",
            "time limit per task try, in seconds with an s (3600s)",
            "SECONDS",
            word=r"[1-9][0-9]{0,8}s",
            what="whole seconds with an s (3600s)",
            panel="none",
        ),
    )
    secret_env: dict[str, str] = option(
        {},
        Meta(
            "--secret-env",
            "Secret Environment",
            "an environment variable from Secret Manager (projects/P/secrets/S/versions/V)",
            "NAME=SECRET",
            repeat=True,
            panel="none",
        ),
    )
    gcs_bucket: str | None = option(
        None,
        Meta(
            "--gcs-bucket",
            "Cloud Storage Bucket",
            "a Cloud Storage bucket (or bucket/folder) holding the job folder",
            "BUCKET",
            word=BUCKET,
            what="a Cloud Storage bucket (or bucket/folder)",
            panel="none",
        ),
    )
    mount_path: str = option("/mnt/disks/job", MOUNT_PATH)

    def check(self) -> None:
        if len(self.secret_env) > 64:
            raise UserError("--secret-env takes at most 64 NAME=projects/P/secrets/S/versions/V")
        for name, version in self.secret_env.items():
            if not is_word(ENV_NAME, name) or name.startswith("BATCH_"):
                raise UserError(f"--secret-env {name!r} is not an environment variable name of the worker's")
            if not is_word(SECRET_VERSION, version):  # not echoed: it may be the secret itself, typed by mistake
                raise UserError(f"--secret-env {name}=... is not projects/P/secrets/S/versions/V (a secret's name)")
        if self.gcs_bucket is not None and ".." in self.gcs_bucket:
            raise UserError(f"--gcs-bucket {self.gcs_bucket!r} is not a Cloud Storage bucket (or bucket/folder)")
        check_mount_path(self.mount_path)


class GcpBatchEngine(ContainerEngine):
    name, label = "gcp-batch", "Google Cloud Batch"
    index_variable = "BATCH_TASK_INDEX"
    options = GcpBatchOptions
    volume = "gcs_bucket"
    emits = "the job config"

    def start(self, place, spec, plan, start: Start) -> str:
        opts = start.options
        args = self.worker_args(place, opts, str(opts.cpu_milli // 1000) if opts.cpu_milli else None)
        name, rerun = default_name(place), start.shards if start.subset(spec) else None
        if rerun:
            name = self.rerun_name(name, rerun)
        path = emit(args, len(start.shards), opts, emit_dir(place, start.emit), name, rerun)
        return f"wrote {path}; gcloud batch jobs submit {name} --location REGION --config {path} starts it"

    def cancel(self, place, spec) -> str:
        raise UserError("a Google Cloud Batch job is cancelled with gcloud batch jobs delete NAME")


ENGINE = GcpBatchEngine()


def config(worker_args: list[str], shards: int, opts: GcpBatchOptions, rerun: list[int] | None = None) -> dict:
    """The Batch job config running ``worker_args`` once per shard (``gcloud batch jobs submit --config``); a
    ``rerun`` of some of the job's shards maps each task's index to one of them (``NERF_DATASET_SHARDS``)."""
    args = check_args(worker_args)
    if not is_count(shards, 1, 100_000):
        raise UserError("--shards must be 1 to 100000")
    task: dict = {"runnables": [{"container": {"imageUri": opts.image, "commands": args}}]}
    resources = {k: v for k, v in (("cpuMilli", opts.cpu_milli), ("memoryMib", opts.memory_mib)) if v is not None}
    if resources:
        task["computeResource"] = resources
    task["maxRetryCount"] = opts.max_retry_count
    if opts.max_run_duration is not None:
        task["maxRunDuration"] = opts.max_run_duration
    if opts.secret_env:
        task["environment"] = {"secretVariables": dict(sorted(opts.secret_env.items()))}
    if rerun:
        task.setdefault("environment", {})["variables"] = {SHARD_LIST_VARIABLE: shard_list_text(rerun)}
    if opts.gcs_bucket is not None:
        # Batch mounts the bucket on the VM as root and binds it into the container at the same path; the
        # image's user (not root) needs it to be its own and reachable by others than the mounting user.
        fuse = [f"--uid={WORKER_UID}", f"--gid={WORKER_UID}", "--implicit-dirs", "-o", "allow_other"]
        volume = {"gcs": {"remotePath": opts.gcs_bucket}, "mountPath": opts.mount_path, "mountOptions": fuse}
        task["volumes"] = [volume]
    group: dict = {"taskCount": shards, "taskSpec": task}
    if opts.parallelism is not None:
        group["parallelism"] = min(opts.parallelism, shards)
    return {"taskGroups": [group], "labels": {"app": "nerf-dataset"}, "logsPolicy": {"destination": "CLOUD_LOGGING"}}


def emit(worker_args: list[str], shards: int, opts: GcpBatchOptions, out_dir: Path, name: str,
         rerun: list[int] | None = None) -> Path:  # fmt: skip
    """Write the config to ``out_dir/gcp-batch-job-NAME.json`` (atomically, replacing only one of ours)."""
    return write_emitted(Path(out_dir) / f"gcp-batch-job-{name}.json", config(worker_args, shards, opts, rerun))
