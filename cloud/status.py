"""``cli.py status --job DIR|s3://...``: views done of each shard, and the engine's view of each task."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..app.dataset import view_complete
from ..core.files import last_line
from ..core.layout import LOG_DIR
from ..core.shards import shard_views
from .job import JobSpec, read_job
from .location import S3Url

BUSY_STATES = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "SUBMITTED", "RUNNABLE", "STARTING")
QUIET_STATES = ("COMPLETED", "SUCCEEDED", "RUNNING", "PENDING", "SUBMITTED", "RUNNABLE", "STARTING")


@dataclass
class ShardStatus:
    index: int
    done: int
    total: int
    state: str
    """The engine's word (PENDING, RUNNING, COMPLETED, FAILED...), or "not submitted"."""
    exit_code: int | None
    last_log_line: str
    missing: list
    reason: str = ""

    def line(self, count: int) -> str:
        text = f"shard {self.index}/{count}: {self.done}/{self.total} views, {self.state}"
        if self.exit_code:
            text += f" (exit {self.exit_code})"
        if self.state not in QUIET_STATES:
            reason = "" if self.reason in ("None", "NonZeroExitCode") else self.reason  # Slurm's words for no news
            last = self.last_log_line or reason  # the task's own words first, else the engine's
            text += f": {last}" if last else ""
        return text

    @property
    def busy(self) -> bool:
        return self.state in BUSY_STATES


@dataclass
class JobStatus:
    spec: JobSpec
    shards: list[ShardStatus]
    engine: list[str] = field(default_factory=list)
    """The engine's own summary lines (an AWS Batch array's counts)."""

    @property
    def done(self) -> int:
        return sum(s.done for s in self.shards)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.shards)


def job_status(location, s3=None) -> JobStatus:
    """The job in a folder or a bucket, shard by shard."""
    if isinstance(location, S3Url):
        return _remote_status(location, s3)
    spec, plan = read_job(location)
    states = engine_states(location, spec)

    def log(i: int) -> str:
        return last_line(Path(location) / LOG_DIR / f"shard-{i}.log")

    return JobStatus(spec, _shards(spec, plan, lambda v: view_complete(plan, Path(location), v), states, log))


def _remote_status(url: S3Url, s3) -> JobStatus:
    from .remote import done_frames, last_log_line, read_remote_job
    from .s3 import S3Options, S3Store

    store = S3Store(url, s3 or S3Options())
    with tempfile.TemporaryDirectory() as tmp:
        spec, plan = read_remote_job(store, Path(tmp), with_scene=False)
    done = done_frames(store, spec, plan)
    engine: list[str] = []
    states: dict[int, dict] = {}
    if spec.backend == "aws-batch":
        from . import aws_batch

        states, engine = aws_batch.task_states(store, spec), aws_batch.summary(store)
    elif spec.backend in ("kubernetes", "gcp-batch"):
        states = _emitted_states(spec)
    shards = _shards(spec, plan, lambda v: v.frame in done, states, lambda i: last_log_line(store, i))
    return JobStatus(spec, shards, engine)


def _shards(spec, plan, complete, states, log) -> list[ShardStatus]:
    shards = []
    for i in range(spec.shards):
        views = shard_views(plan.views, i, spec.shards)
        missing = [v for v in views if not complete(v)]
        st = states.get(i, {})
        state = st.get("state", "not submitted")
        text = log(i) if missing and state not in QUIET_STATES else ""
        shards.append(ShardStatus(i, len(views) - len(missing), len(views), state, st.get("exit_code"), text,
                                  missing, st.get("reason", "")))  # fmt: skip
    return shards


def engine_states(job_dir: Path, spec: JobSpec) -> dict[int, dict]:
    if spec.backend == "slurm":
        from .slurm import task_states
    elif spec.backend in ("kubernetes", "gcp-batch"):
        return _emitted_states(spec)
    else:
        from .local import task_states
    return task_states(job_dir, spec)


def _emitted_states(spec: JobSpec) -> dict[int, dict]:
    """Kubernetes: what ``kubectl get job`` says, when kubectl is here; an emitted job's engine is otherwise
    not ours to ask (its records say what is done)."""
    if spec.backend != "kubernetes":
        return {}
    from .kubernetes import KubernetesOptions, task_states

    return task_states(KubernetesOptions.from_dict(spec.options.get("kubernetes", {})), spec.shards)
