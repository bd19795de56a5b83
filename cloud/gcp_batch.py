"""The ``gcp-batch`` back-end: one Google Cloud Batch job, one task per shard, emitted as a job config.

``emit`` writes the config that ``gcloud batch jobs submit NAME --location REGION --config FILE`` reads (the
Job resource of the Batch v1 REST API). Its one task group runs ``taskCount`` tasks of the worker image;
Batch sets ``BATCH_TASK_INDEX`` in each, and the worker takes its shard from it. The container keeps the
image's entrypoint (``python /opt/nerf_dataset/cli.py``), so ``commands`` are the worker's arguments.
Credentials come from Secret Manager (``secretVariables``: the config names secret versions, never a value)
and the job folder from a Cloud Storage bucket that Batch mounts on each VM (Cloud Storage FUSE) and, at the
same path, in the container. Nothing here calls Google: submitting is ``gcloud``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from ..core.errors import UserError
from ..core.files import write_json_atomic
from .words import ENV_NAME, IMAGE, WORKER_UID, check_args, is_count, is_mount_path, is_word

CONFIG = "gcp-batch-job.json"
MAX_PARALLELISM = 100_000
_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})"
SECRET_VERSION = rf"projects/{_PROJECT}/secrets/[A-Za-z0-9_-]{{1,255}}/versions/(?:latest|[1-9][0-9]{{0,9}})"
"""A Secret Manager secret version, ``projects/P/secrets/S/versions/V`` (V a number or ``latest``)."""
BUCKET = r"[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9](?:/[A-Za-z0-9_.-]{1,255}){0,32}"
"""A Cloud Storage bucket, optionally with a folder in it (``my-bucket/jobs/chair``)."""


@dataclass(frozen=True)
class GcpBatchOptions:
    image: str
    """The worker image (``--image``), e.g. ``us-docker.pkg.dev/P/repo/nerf-dataset:0.1.0``."""
    cpu_milli: int | None = None
    """CPU per task in thousandths of a vCPU (``--cpu-milli 4000``: 4 vCPUs)."""
    memory_mib: int | None = None
    """Memory per task in MiB (``--memory-mib 8192``)."""
    parallelism: int | None = None
    """Tasks at once; default Batch's (every task, within the project's limits)."""
    max_retry_count: int = 2
    """Retries of each task after a failure (Batch allows 0 to 10)."""
    max_run_duration: str | None = None
    """Time limit per task try, in seconds with an ``s`` (``3600s``)."""
    secret_env: dict = field(default_factory=dict)
    """Environment variable name to Secret Manager version (``projects/P/secrets/S/versions/V``)."""
    gcs_bucket: str | None = None
    """The bucket (or bucket/folder) holding the job folder, mounted at ``mount_path``."""
    mount_path: str = "/mnt/disks/job"

    def __post_init__(self) -> None:
        """Every value goes into a job config: each must be one plain word of its kind, from the command line and
        from a job folder alike (a job folder may come from anyone)."""
        if not is_word(IMAGE, self.image):
            raise UserError(f"--image {self.image!r} is not a container image reference (registry/name:tag)")
        for attr, flag, hi in (("cpu_milli", "--cpu-milli", 1_000_000), ("memory_mib", "--memory-mib", 1 << 24),
                               ("parallelism", "--parallelism", MAX_PARALLELISM)):  # fmt: skip
            if getattr(self, attr) is not None and not is_count(getattr(self, attr), 1, hi):
                raise UserError(f"{flag} must be 1 to {hi}")
        if not is_count(self.max_retry_count, 0, 10):
            raise UserError("--max-retry-count must be 0 to 10")
        if self.max_run_duration is not None and not is_word(r"[1-9][0-9]{0,8}s", self.max_run_duration):
            raise UserError(f"--max-run-duration {self.max_run_duration!r} is not whole seconds with an s (3600s)")
        if not isinstance(self.secret_env, dict) or len(self.secret_env) > 64:
            raise UserError("--secret-env takes at most 64 NAME=projects/P/secrets/S/versions/V")
        for name, version in self.secret_env.items():
            if not is_word(ENV_NAME, name) or name.startswith("BATCH_"):
                raise UserError(f"--secret-env {name!r} is not an environment variable name of the worker's")
            if not is_word(SECRET_VERSION, version):  # not echoed: it may be the secret itself, typed by mistake
                raise UserError(f"--secret-env {name}=... is not projects/P/secrets/S/versions/V (a secret's name)")
        if self.gcs_bucket is not None and (not is_word(BUCKET, self.gcs_bucket) or ".." in self.gcs_bucket):
            raise UserError(f"--gcs-bucket {self.gcs_bucket!r} is not a Cloud Storage bucket (or bucket/folder)")
        if not is_mount_path(self.mount_path):
            raise UserError(f"--mount-path {self.mount_path!r} is not an absolute folder of plain names")

    @staticmethod
    def from_dict(d) -> GcpBatchOptions:
        """The options a job recorded (``dataclasses.asdict``); anything else in it is a damaged job."""
        known = {f.name for f in fields(GcpBatchOptions)}
        if not isinstance(d, dict) or "image" not in d or not set(d) <= known:
            raise UserError("the job's Google Cloud Batch options are damaged")
        try:
            return GcpBatchOptions(**d)
        except UserError as exc:
            raise UserError(f"the job's Google Cloud Batch options are damaged: {exc}") from None


def config(worker_args: list[str], shards: int, opts: GcpBatchOptions) -> dict:
    """The Batch job config running ``worker_args`` once per shard (``gcloud batch jobs submit --config``)."""
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
    if opts.gcs_bucket is not None:
        # Batch mounts the bucket on the VM as root and binds it into the container at the same path; the
        # image's user (not root) needs it to be its own and reachable by others than the mounting user.
        fuse = [f"--uid={WORKER_UID}", f"--gid={WORKER_UID}", "--implicit-dirs", "-o", "allow_other"]
        volume = {"gcs": {"remotePath": opts.gcs_bucket}, "mountPath": opts.mount_path, "mountOptions": fuse}
        task["volumes"] = [volume]
    group: dict = {"taskCount": shards, "taskSpec": task}
    if opts.parallelism is not None:
        group["parallelism"] = min(opts.parallelism, shards)
    return {
        "taskGroups": [group],
        "labels": {"app": "nerf-dataset"},
        "logsPolicy": {"destination": "CLOUD_LOGGING"},
    }


def emit(worker_args: list[str], shards: int, opts: GcpBatchOptions, out_dir: Path) -> Path:
    """Write the config to ``out_dir/gcp-batch-job.json`` (atomically), for ``gcloud batch jobs submit``."""
    return write_json_atomic(Path(out_dir) / CONFIG, config(worker_args, shards, opts))
