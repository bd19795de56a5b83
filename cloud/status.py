"""``cli.py status --job DIR|s3://...``: views done of each shard, and the engine's view of each task."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import UserError
from ..core.shards import shard_views
from .engines import engine_of
from .engines.engine import BUSY_STATES, QUIET_STATES
from .job import JobSpec


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
    plan: object
    """The job's ``core.plan.Plan``."""
    shards: list[ShardStatus]
    engine: list[str] = field(default_factory=list)
    """The engine's own summary lines (an AWS Batch array's counts)."""

    @property
    def done(self) -> int:
        return sum(s.done for s in self.shards)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.shards)

    @property
    def finished(self) -> bool:
        return self.done == self.total

    def lines(self) -> list[str]:
        lines = [s.line(self.spec.shards) for s in self.shards] + list(self.engine)
        total = f"status: {self.done}/{self.total} views done in {self.spec.shards} shards ({self.spec.backend})"
        return [*lines, total]

    def repair(self, place) -> list[int]:
        """Shards to start though no view is missing: every view is done and the tracks are not, so a worker
        with nothing to render samples them."""
        busy = any(s.busy for s in self.shards)
        return [0] if not busy and not place.tracks_ok(self.plan) else []


def job_status(place):
    """The job in its place (a folder or a bucket), shard by shard, as its engine sees each task (a collection's:
    ``collection_status``)."""
    spec, plan = place.read()
    if spec.kind == "collection":
        from .collection_status import collection_status

        return collection_status(place, spec, plan)
    engine = engine_of(spec)
    complete = place.is_done(spec, plan)
    states, summary = engine.task_states(place, spec), engine.summary(place, spec)
    shards = []
    for i in range(spec.shards):
        views = shard_views(plan.views, i, spec.shards)
        missing = [v for v in views if not complete(v)]
        st = states.get(i, {})
        state = st.get("state", "not submitted")
        text = place.log_line(i) if missing and state not in QUIET_STATES else ""
        shards.append(ShardStatus(i, len(views) - len(missing), len(views), state, st.get("exit_code"), text,
                                  missing, st.get("reason", "")))  # fmt: skip
    return JobStatus(spec, plan, shards, summary)


def refuse_busy(place, spec) -> None:
    """A job whose tasks are queued or running is not replaced under them."""
    engine = engine_of(spec)
    busy = [i for i, st in engine.task_states(place, spec).items() if st["state"] in BUSY_STATES]
    if busy:
        raise UserError(f"the job in {place} still has {len(busy)} shards queued or running on {engine.label}; "
                        "cli.py cancel --job it first, or pick another prefix")  # fmt: skip
