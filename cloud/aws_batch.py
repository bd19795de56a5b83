"""The ``aws-batch`` back-end: one array job over a job in S3, one child per shard.

``submit`` uploads the job, then submits an array job of N children, each running ``cli.py worker --job
s3://...`` (the image's entrypoint is ``cli.py``) with a retry strategy of K attempts; the child's shard is
``AWS_BATCH_JOB_ARRAY_INDEX``. The submissions are recorded in the job (``backend/aws-batch/``, one object each) for
``status`` (the array's summary and each failed child's reason), ``--retry-missing`` and cancelling.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass

from ..core.errors import UserError
from ..core.layout import BACKEND_DIR
from .job import SHARD_LIST_VARIABLE, shard_list_text
from .s3 import S3Options, S3Store, client, errors

SUBMISSIONS = f"{BACKEND_DIR}/aws-batch"
"""One object per submission (no read-modify-write of a shared list): ``<time ns>-<job id>.json``."""
MAX_SUBMISSION_BYTES = 1 << 20
MAX_SUBMISSIONS = 1000
MAX_ARRAY = 10_000  # AWS Batch's largest array
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,126}[A-Za-z0-9]")
QUEUE = re.compile(r"arn:aws[\w-]*:batch:[\w-]+:\d{12}:job-(queue|definition)/[\w:.-]{1,255}|[A-Za-z0-9][\w:-]{0,254}")
BUSY = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
ID = re.compile(r"[\w-]{1,128}")


@dataclass(frozen=True)
class BatchOptions:
    job_queue: str
    job_definition: str
    attempts: int = 1
    """AWS Batch's retry strategy: each child runs up to this many times (1 to 10)."""
    vcpus: int | None = None
    memory: int | None = None
    """MiB per child."""
    job_name: str = "nerf-dataset"

    def __post_init__(self) -> None:
        for name in ("job_queue", "job_definition"):
            value = getattr(self, name)
            if not isinstance(value, str) or not QUEUE.fullmatch(value):
                raise UserError(f"--{name.replace('_', '-')} {value!r} is not an AWS Batch {name.replace('_', ' ')}")
        if not isinstance(self.job_name, str) or not NAME.fullmatch(self.job_name):
            raise UserError(f"--job-name {self.job_name!r}: 3 to 128 letters, digits, - and _")
        if type(self.attempts) is not int or not 1 <= self.attempts <= 10:
            raise UserError("--attempts must be 1 to 10 (AWS Batch's limit)")
        for name, high in (("vcpus", 256), ("memory", 4 << 20)):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or not 1 <= value <= high):
                raise UserError(f"--{name} must be 1 to {high}")

    @staticmethod
    def from_dict(d) -> BatchOptions:
        if not isinstance(d, dict) or not set(d) <= set(BatchOptions.__dataclass_fields__):
            raise UserError("the job's AWS Batch options are damaged")
        try:
            return BatchOptions(**d)
        except TypeError:
            raise UserError("the job's AWS Batch options are damaged") from None


def job_options(batch: BatchOptions, s3: S3Options) -> dict:
    """What the job records of its submission: none of it secret (no profile, no keys)."""
    return {"aws-batch": asdict(batch), "s3": s3.to_dict()}


def options_of(spec) -> tuple[BatchOptions, S3Options]:
    d = spec.options
    if not isinstance(d, dict) or set(d) != {"aws-batch", "s3"} or not isinstance(d["s3"], dict):
        raise UserError("the job's AWS Batch options are damaged")
    if not set(d["s3"]) <= {"endpoint_url", "region"}:
        raise UserError("the job's S3 options are damaged")
    return BatchOptions.from_dict(d["aws-batch"]), S3Options(**d["s3"])


def submit(store: S3Store, spec, shards: list[int], opts: BatchOptions) -> str:
    """Submit children for ``shards`` (every shard: one array of N; a subset: an array of that many, each
    child mapping its index through ``NERF_DATASET_SHARDS``); returns the job id."""
    if len(shards) > MAX_ARRAY:
        raise UserError(f"AWS Batch arrays have at most {MAX_ARRAY} children; give --shards {MAX_ARRAY} or fewer")
    command = ["worker", "--job", str(store.url), *store.options.worker_args()]
    environment = []
    if shards != list(range(spec.shards)) or len(shards) == 1:  # a plain job (one child) has no array index
        environment.append({"name": SHARD_LIST_VARIABLE, "value": shard_list_text(shards)})
    overrides: dict = {"command": command, "environment": environment}
    resources = [{"type": "VCPU", "value": str(opts.vcpus)}] if opts.vcpus else []
    resources += [{"type": "MEMORY", "value": str(opts.memory)}] if opts.memory else []
    if resources:
        overrides["resourceRequirements"] = resources
    request = {"jobName": opts.job_name, "jobQueue": opts.job_queue, "jobDefinition": opts.job_definition,
               "containerOverrides": overrides, "retryStrategy": {"attempts": opts.attempts}}  # fmt: skip
    if len(shards) > 1:
        request["arrayProperties"] = {"size": len(shards)}
    batch = client(store.options, "batch")
    with errors(f"submitting to AWS Batch queue {opts.job_queue}"):
        job_id = batch.submit_job(**request)["jobId"]
    record = {"id": job_id, "shards": shards, "request": request}
    store.put(f"{SUBMISSIONS}/{time.time_ns()}-{job_id}.json", json.dumps(record, indent=1).encode())
    return job_id


def submissions(store: S3Store, spec=None) -> list[dict]:
    """The job's submissions, oldest first; records of the wrong shape (the bucket is anyone's) are left out."""
    keys = sorted(store.list(f"{SUBMISSIONS}/"))[-MAX_SUBMISSIONS:]
    runs = []
    for key in keys:
        try:
            run = json.loads(store.read(key, MAX_SUBMISSION_BYTES) or b"null")
        except (ValueError, RecursionError, UnicodeDecodeError, UserError):
            continue
        if not isinstance(run, dict) or not isinstance(run.get("id"), str) or not ID.fullmatch(run["id"]):
            continue
        shards = run.get("shards")
        limit = spec.shards if spec is not None else MAX_ARRAY * 10
        if not isinstance(shards, list) or not 0 < len(shards) <= MAX_ARRAY:
            continue
        if not all(type(i) is int and 0 <= i < limit for i in shards) or len(set(shards)) != len(shards):
            continue
        runs.append({**run, "shards": shards})
    return runs


def task_states(store: S3Store, spec) -> dict[int, dict]:
    """Each shard's child as AWS Batch sees it now (its latest submission): state, exit code, reason. At most
    one child id per shard is asked for, 100 per call, however many submissions the job lists."""
    latest: dict[int, str] = {}
    for run in reversed(submissions(store, spec)):
        array = len(run["shards"]) > 1
        for i, shard in enumerate(run["shards"]):
            latest.setdefault(shard, f"{run['id']}:{i}" if array else run["id"])
    if not latest:
        return {}
    shard_of = {child: shard for shard, child in latest.items()}
    ids = sorted(shard_of)
    batch = client(store.options, "batch")
    states: dict[int, dict] = {}
    for lo in range(0, len(ids), 100):
        with errors("asking AWS Batch for the job's children"):
            jobs = batch.describe_jobs(jobs=ids[lo : lo + 100])["jobs"]
        for job in jobs:
            child = job.get("jobId", "")
            if child in shard_of:
                states[shard_of[child]] = _state(job, child)
    return states


def _state(job: dict, child: str) -> dict:
    attempt = (job.get("attempts") or [{}])[-1].get("container", {}) if job.get("attempts") else {}
    reason = attempt.get("reason") or job.get("statusReason") or ""
    code = attempt.get("exitCode")
    return {"state": str(job.get("status", "UNKNOWN")), "exit_code": code if type(code) is int else None,
            "reason": str(reason)[:300], "id": child}  # fmt: skip


def summary(store: S3Store) -> list[str]:
    """One line per submission: the array's status summary, as AWS Batch counts it."""
    lines = []
    runs = submissions(store)[-100:]
    if not runs:
        return lines
    batch = client(store.options, "batch")
    with errors("asking AWS Batch for the job"):
        jobs = batch.describe_jobs(jobs=[r["id"] for r in runs])["jobs"]
    for job in jobs:
        counts = job.get("arrayProperties", {}).get("statusSummary") or {job.get("status", "UNKNOWN"): 1}
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
        lines.append(f"aws-batch {job.get('jobId')}: {job.get('status')} ({shown})")
    return lines


def cancel(store: S3Store, reason: str = "cancelled by the user") -> list[str]:
    """Terminate every submission of the job (an array's children go with it)."""
    batch = client(store.options, "batch")
    ids = [r["id"] for r in submissions(store)]
    for job_id in ids:
        with errors(f"cancelling AWS Batch job {job_id}"):
            batch.terminate_job(jobId=job_id, reason=reason)
    return ids
