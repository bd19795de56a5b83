"""``cli.py status`` of a collection job: assets done / failed / running / missing per shard and in total, with
the failed ones and their reasons, beside each task as its engine sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.collection import shard_assets
from ..core.text import one_line
from .engines import engine_of
from .engines.engine import BUSY_STATES, QUIET_STATES

SHOWN_FAILURES = 20


@dataclass
class AssetShard:
    index: int
    total: int
    done: int
    failed: int
    running: int
    missing: list
    """The block's assets with no final record that no task renders now: what ``--retry-missing`` reruns."""
    state: str
    exit_code: int | None = None
    last_log_line: str = ""
    reason: str = ""

    @property
    def busy(self) -> bool:
        return self.state in BUSY_STATES

    def line(self, count: int) -> str:
        text = f"shard {self.index}/{count}: {self.done}/{self.total} assets done"
        for n, word in ((self.failed, "failed"), (self.running, "running"), (len(self.missing), "missing")):
            text += f", {n} {word}" if n else ""
        text += f", {self.state}" + (f" (exit {self.exit_code})" if self.exit_code else "")
        if self.state not in QUIET_STATES and self.missing:
            reason = "" if self.reason in ("None", "NonZeroExitCode") else self.reason
            last = self.last_log_line or reason
            text += f": {last}" if last else ""
        return text


@dataclass
class CollectionStatus:
    spec: object
    plan: object
    """The job's batch (``app.collection_run.Batch``)."""
    shards: list[AssetShard]
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(id, reason) of the first failed assets."""
    engine: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.shards)

    @property
    def done(self) -> int:
        return sum(s.done for s in self.shards)

    @property
    def finished(self) -> bool:
        return self.done == self.total

    def lines(self) -> list[str]:
        lines = [s.line(self.spec.shards) for s in self.shards] + list(self.engine)
        failed = sum(s.failed for s in self.shards)
        for asset_id, reason in self.failures:
            lines.append(f"failed: {asset_id}: {reason}")
        if failed > len(self.failures):
            lines.append(f"failed: … and {failed - len(self.failures)} more (index.csv of collect lists them all)")
        running, missing = sum(s.running for s in self.shards), sum(len(s.missing) for s in self.shards)
        lines.append(f"status: {self.done}/{self.total} assets done, {failed} failed, {running} running, {missing} "
                     f"missing in {self.spec.shards} shards ({self.spec.backend})")  # fmt: skip
        return lines

    def repair(self, place) -> list[int]:
        """Shards to start though no asset is missing: none (a collection has no tracks)."""
        return []


def forget_failed(place, status) -> int:
    """Drop the failed records of the shards no task runs now, so that their assets count as missing; returns
    how many."""
    from .collection_places import assets_of

    assets = assets_of(place)
    states = assets.states(status.plan)
    idle = [s.index for s in status.shards if not s.busy]
    every = list(status.plan.assets)
    failed = [a for i in idle for a in shard_assets(every, (i, status.spec.shards)) if states.get(a.id) == "failed"]
    assets.forget_failed(failed)
    return len(failed)


def collection_status(place, spec, batch) -> CollectionStatus:
    from .collection_places import assets_of

    assets = assets_of(place)
    engine = engine_of(spec)
    states = assets.states(batch)
    tasks, summary = engine.task_states(place, spec), engine.summary(place, spec)
    shards, failed_assets, asked_logs = [], [], 0
    every = list(batch.assets)
    for i in range(spec.shards):
        block = shard_assets(every, (i, spec.shards))
        task = tasks.get(i, {})
        state = task.get("state", "not submitted")
        busy = state in BUSY_STATES
        mine = [states.get(a.id) for a in block]
        started = [a for a, s in zip(block, mine) if s == "started"]
        missing = [a for a, s in zip(block, mine) if s is None or (s == "started" and not busy)]
        failed_assets += [a for a, s in zip(block, mine) if s == "failed"]
        text = ""
        if missing and state not in QUIET_STATES and asked_logs < SHOWN_FAILURES:  # a log is a request per shard
            text, asked_logs = place.log_line(i), asked_logs + 1
        shards.append(AssetShard(i, len(block), mine.count("done"), mine.count("failed"),
                                 len(started) if busy else 0, [] if busy else missing, state,
                                 task.get("exit_code"), text, task.get("reason", "")))  # fmt: skip
    failures = []
    for a in failed_assets[:SHOWN_FAILURES]:
        record = assets.record(a)
        reason = one_line(record.reason, 300) if record is not None else "(its record cannot be read)"
        failures.append((a.id, reason))
    return CollectionStatus(spec, batch, shards, failures, summary)
