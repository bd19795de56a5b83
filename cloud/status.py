"""``cli.py status --job DIR``: views done of each shard, and the engine's view of each task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..app.dataset import view_complete
from ..core.files import last_line
from ..core.shards import shard_views
from .job import LOG_DIR, JobSpec, read_job


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

    def line(self, count: int) -> str:
        text = f"shard {self.index}/{count}: {self.done}/{self.total} views, {self.state}"
        if self.exit_code:
            text += f" (exit {self.exit_code})"
        if self.last_log_line and self.state not in ("COMPLETED", "RUNNING", "PENDING"):
            text += f": {self.last_log_line}"
        return text


def job_status(job_dir: Path) -> tuple[JobSpec, list[ShardStatus]]:
    spec, plan = read_job(job_dir)
    states = engine_states(job_dir, spec)
    shards = []
    for i in range(spec.shards):
        views = shard_views(plan.views, i, spec.shards)
        missing = [v for v in views if not view_complete(plan, Path(job_dir), v)]
        st = states.get(i, {})
        log = Path(job_dir) / LOG_DIR / f"shard-{i}.log"
        shards.append(ShardStatus(i, len(views) - len(missing), len(views), st.get("state", "not submitted"),
                                  st.get("exit_code"), last_line(log), missing))  # fmt: skip
    return spec, shards


def engine_states(job_dir: Path, spec: JobSpec) -> dict[int, dict]:
    if spec.backend == "slurm":
        from .slurm import task_states
    else:
        from .local import task_states
    return task_states(job_dir, spec)
