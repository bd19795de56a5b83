"""The ``aws-batch`` engine: one array job over a job in S3, one child per shard.

It submits an array job of N children, each running ``cli.py worker --job s3://...`` (the image's entrypoint is
``cli.py``) with a retry strategy of K attempts; the child's shard is ``AWS_BATCH_JOB_ARRAY_INDEX``. The
submissions are recorded in the job (``backend/aws-batch/``, one object each) for ``status`` (the array's summary
and each failed child's reason), ``--retry-missing`` and cancelling.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from ...core.errors import UserError
from ...core.layout import BACKEND_DIR
from ...core.options import Meta, Options, family, option, required
from ..job import SHARD_LIST_VARIABLE, shard_list_text
from ..s3 import client, errors
from .engine import Engine, Start

SUBMISSIONS = f"{BACKEND_DIR}/aws-batch"
"""One object per submission (no read-modify-write of a shared list): ``<time ns>-<job id>.json``."""
MAX_SUBMISSION_BYTES = 1 << 20
MAX_SUBMISSIONS = 1000
MAX_ARRAY = 10_000  # AWS Batch's largest array
QUEUE = r"arn:aws[\w-]*:batch:[\w-]+:\d{12}:job-(queue|definition)/[\w:.-]{1,255}|[A-Za-z0-9][\w:-]{0,254}"
ID = r"[\w-]{1,128}"


@family
@dataclass(frozen=True)
class BatchOptions(Options):
    FAMILY = "AWS Batch"
    PANEL_PREFIX = "batch_"

    job_queue: str = required(
        Meta(
            "--job-queue",
            "Job Queue",
            "the AWS Batch job queue (name or ARN)",
            "Q",
            word=QUEUE,
            what="an AWS Batch job queue",
        )
    )
    job_definition: str = required(
        Meta(
            "--job-definition",
            "Job Definition",
            "the job definition (name, name:revision or ARN)",
            "D",
            word=QUEUE,
            what="an AWS Batch job definition",
        )
    )
    attempts: int = option(
        1, Meta("--attempts", "Attempts", "tries per child (AWS Batch's retry strategy)", "K", 1, 10)
    )
    vcpus: int | None = option(
        None, Meta("--vcpus", "vCPUs", "vCPUs per child", "N", 1, 256, none_means="the definition's", panel="none")
    )
    memory: int | None = option(
        None,
        Meta("--memory", "Memory", "MiB per child", "MIB", 1, 4 << 20, none_means="the definition's", panel="none"),
    )
    job_name: str = option("nerf-dataset", Meta(
        "--job-name", "Job Name", "the array job's name", "NAME", word=r"[A-Za-z0-9][A-Za-z0-9_-]{1,126}[A-Za-z0-9]",
        what="an AWS Batch job name (3 to 128 letters, digits, - and _)", panel="none"))  # fmt: skip


class AwsBatchEngine(Engine):
    name, label = "aws-batch", "AWS Batch"
    index_variable = "AWS_BATCH_JOB_ARRAY_INDEX"
    options = BatchOptions
    places = ("s3",)
    panel = "AWS Batch"
    panel_help = "An array job on AWS Batch; the job lives in an S3 bucket"

    def check(self, place, opts, start: Start) -> None:
        if len(start.shards) > MAX_ARRAY:
            raise UserError(f"AWS Batch arrays have at most {MAX_ARRAY} children; give --shards {MAX_ARRAY} or fewer")

    def start(self, place, spec, plan, start: Start) -> str:
        return f"submitted {submit(place.store, spec, start.shards, start.options)}"

    def task_states(self, place, spec) -> dict[int, dict]:
        return task_states(place.store, spec)

    def summary(self, place, spec) -> list[str]:
        return summary(place.store)

    def cancel(self, place, spec) -> str:
        ids = cancel(place.store)
        return f"cancelled {len(ids)} AWS Batch submission(s): {', '.join(ids)}" if ids else "nothing was submitted"


ENGINE = AwsBatchEngine()


def submit(store, spec, shards: list[int], opts: BatchOptions) -> str:
    """Submit children for ``shards`` (every shard: one array of N; a subset: an array of that many, each
    child mapping its index through ``NERF_DATASET_SHARDS``); returns the job id."""
    ENGINE.check(None, opts, Start(shards))
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


def submissions(store, spec=None) -> list[dict]:
    """The job's submissions, oldest first; records of the wrong shape (the bucket is anyone's) are left out."""
    keys = sorted(store.list(f"{SUBMISSIONS}/"))[-MAX_SUBMISSIONS:]
    runs = []
    for key in keys:
        try:
            run = json.loads(store.read(key, MAX_SUBMISSION_BYTES) or b"null")
        except (ValueError, RecursionError, UnicodeDecodeError, UserError):
            continue
        if not isinstance(run, dict) or not isinstance(run.get("id"), str) or not re.fullmatch(ID, run["id"]):
            continue
        shards = run.get("shards")
        limit = spec.shards if spec is not None else MAX_ARRAY * 10
        if not isinstance(shards, list) or not 0 < len(shards) <= MAX_ARRAY:
            continue
        if not all(type(i) is int and 0 <= i < limit for i in shards) or len(set(shards)) != len(shards):
            continue
        runs.append({**run, "shards": shards})
    return runs


def task_states(store, spec) -> dict[int, dict]:
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


def ours(batch, store, ids: list[str]) -> set[str]:
    """Of the job ids ``ids``, those whose command, as AWS Batch holds it, is the worker of the job in
    ``store``: a record copied from another prefix names that prefix's submissions."""
    mine = set()
    for lo in range(0, len(ids), 100):
        with errors("asking AWS Batch for the job's submissions"):
            jobs = batch.describe_jobs(jobs=ids[lo : lo + 100])["jobs"]
        for job in jobs:
            command = (job.get("container") or {}).get("command") or []
            if command[:3] == ["worker", "--job", str(store.url)]:
                mine.add(job.get("jobId"))
    return mine


def _state(job: dict, child: str) -> dict:
    attempt = (job.get("attempts") or [{}])[-1].get("container", {}) if job.get("attempts") else {}
    reason = attempt.get("reason") or job.get("statusReason") or ""
    code = attempt.get("exitCode")
    return {"state": str(job.get("status", "UNKNOWN")), "exit_code": code if type(code) is int else None,
            "reason": str(reason)[:300], "id": child}  # fmt: skip


def summary(store) -> list[str]:
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


def cancel(store, reason: str = "cancelled by the user") -> list[str]:
    """Terminate every submission of the job (an array's children go with it): those AWS Batch itself says
    run this job's worker, never another job's id that a record in the bucket (anyone's to write) names."""
    batch = client(store.options, "batch")
    listed = [r["id"] for r in submissions(store)]
    mine = ours(batch, store, listed)
    ids = [i for i in listed if i in mine]
    for job_id in ids:
        with errors(f"cancelling AWS Batch job {job_id}"):
            batch.terminate_job(jobId=job_id, reason=reason)
    return ids
