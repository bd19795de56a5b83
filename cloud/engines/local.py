"""The ``local`` engine (``--workers N`` and ``submit --backend local``): the shards of a job in N processes on this
machine, restarted when they die, with the cores split between them.

Each worker is ``cli.py worker --job DIR --shard I/N`` run by the same Blender executable or Python: the job folder
is its whole input, exactly as on Slurm or AWS Batch. The caller collects once, afterwards. A worker that exits
non-zero is restarted for its unfinished views up to ``retries`` times; after that the run stops naming the views
that failed and leaves a resumable output (``--resume``).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ...app.dataset import IncompleteError, absent_views, pending_views
from ...app.lock import held_by_another_run
from ...app.processes import die_with_parent, pid_alive, this_cli_command, threads_per_worker
from ...core.errors import UserError
from ...core.files import last_line, write_json_atomic
from ...core.layout import BACKEND_DIR, LOG_DIR, shard_log
from ...core.shards import read_done, shard_views
from ...core.untrusted import Unreadable, read_bounded
from .engine import Engine, Start

POLL_S = 0.2
_RUNNING_HERE: set[Path] = set()
"""Job folders whose workers this process runs now (the panel asks for a status while its thread runs them)."""


class LocalEngine(Engine):
    name, label = "local", "this computer"
    runs_here = True

    def start(self, place, spec, plan, start: Start) -> str:
        work = AssetWork(place, spec, plan) if spec.kind == "collection" else ViewWork(plan, Path(place.location))
        run_workers(work, place.location, spec.shards, start.retries, start.progress, start.shards)
        return f"rendered the shards of {place}; cli.py collect --job {place} finalises it"

    def task_states(self, place, spec) -> dict[int, dict]:
        """Each launched shard's last state; a RUNNING one is LOST unless its parent still runs: local workers
        live only under the exclusive lock of the run that started them (a process here, or another one)."""
        folder = Path(place.location)
        parent_alive = folder.resolve() in _RUNNING_HERE or held_by_another_run(folder)
        states = {}
        for i in range(spec.shards):
            try:
                record = json.loads(read_bounded(Path(place.location) / _state_file(i), place.location, 4096))
            except (Unreadable, ValueError, RecursionError):
                continue
            if not isinstance(record, dict) or not isinstance(record.get("state"), str):
                continue  # a damaged record: the task's state is simply not known
            if type(record.get("exit_code")) is not int:
                record["exit_code"] = None
            if record["state"] == "RUNNING" and not (parent_alive and pid_alive(record.get("pid"))):
                record["state"] = "LOST"
            states[i] = record
        return states

    def cancel(self, place, spec) -> str:
        raise UserError("a local job stops with its submit command (Ctrl-C there)")


ENGINE = LocalEngine()


def worker_command(job_dir: Path, shard: tuple[int, int], threads: int) -> list[str]:
    """The command line of one worker: the same interpreter or Blender, the job, one shard."""
    ours = ["worker", "--job", str(job_dir), "--shard", f"{shard[0]}/{shard[1]}", "--threads", str(threads)]
    return this_cli_command([*ours, "--under-parent"])  # the parent holds the folder's lock for the whole run


@dataclass
class _Worker:
    shard: tuple[int, int]
    process: subprocess.Popen | None = None
    tries: int = 0
    finished: bool = False


class ViewWork:
    """A scene's job: its views, counted by the shards' done-lists."""

    def __init__(self, plan, out_dir: Path):
        self.plan, self.out_dir = plan, out_dir
        self.total = len(plan.views)
        self.at_start = self.total - len(absent_views(plan, out_dir))  # for progress only; workers verify

    def done(self, pool) -> int:
        return max(sum(len(read_done(self.out_dir, *w.shard)) for w in pool), self.at_start)

    def failure(self, failed, retries: int, last_error: str) -> Exception:
        failed_frames = {v.frame for w in failed for v in shard_views(self.plan.views, *w.shard)}
        views = [v for v in pending_views(self.plan, self.out_dir) if v.frame in failed_frames]
        return WorkerFailure(views, retries, last_error)


class AssetWork:
    """A collection's job: its assets, counted by their records."""

    def __init__(self, place, spec, batch):
        self.assets, self.batch = place.assets(), batch
        self.total = len(batch.assets)
        self.last = time.monotonic()
        self.count = 0

    def done(self, pool) -> int:
        every = max(2.0, self.total / 5000)  # records are files: read now and then, not five times a second
        if time.monotonic() - self.last > every or all(w.finished for w in pool):
            self.last = time.monotonic()
            self.count = sum(s in ("done", "failed") for s in self.assets.states(self.batch).values())
        return self.count

    def failure(self, failed, retries: int, last_error: str) -> Exception:
        blocks = ", ".join(f"{w.shard[0]}/{w.shard[1]}" for w in failed)
        return OSError(f"workers of block(s) {blocks} failed {retries + 1} times (last error: {last_error}); "
                       "cli.py submit --retry-missing --job DIR goes on with their assets")  # fmt: skip


def run_workers(work, out_dir: Path, workers: int, retries: int, progress=None, shards=None) -> None:
    """Render every pending view (or asset) of the job in ``out_dir`` with one process per shard of ``workers``
    (only ``shards`` of them when given); a shard that keeps failing ends it with ``work.failure``."""
    out_dir = Path(out_dir)
    (out_dir / LOG_DIR).mkdir(parents=True, exist_ok=True)
    indices = range(workers) if shards is None else shards
    threads = threads_per_worker(len(indices))
    pool = [_Worker((i, workers)) for i in indices]
    total = work.total
    started = time.monotonic()
    failed: list[_Worker] = []
    _RUNNING_HERE.add(out_dir.resolve())
    try:
        while True:
            for w in pool:
                if w.finished or w in failed:
                    continue
                rc = None if w.process is None else w.process.poll()
                if w.process is not None and rc is None:
                    continue
                if rc is not None:
                    _state(out_dir, w.shard[0], "COMPLETED" if rc == 0 else "FAILED", rc)
                if rc == 0:
                    w.finished = True
                elif w.tries > retries:
                    failed.append(w)
                else:
                    w.tries += 1
                    w.process = _launch(worker_command(out_dir, w.shard, threads), out_dir, w.shard)
                    _state(out_dir, w.shard[0], "RUNNING", None, w.process.pid)
            if progress:
                progress(work.done(pool), total, time.monotonic() - started)
            if all(w.finished or w in failed for w in pool):
                break
            time.sleep(POLL_S)
    finally:
        for w in pool:
            if w.process is not None and w.process.poll() is None:
                w.process.kill()
                w.process.wait()
        _RUNNING_HERE.discard(out_dir.resolve())
    if failed:
        raise work.failure(failed, retries, last_line(out_dir / shard_log(failed[0].shard[0])))


def _state_file(index: int) -> str:
    return f"{BACKEND_DIR}/local-{index}.json"


def _state(out_dir: Path, index: int, state: str, exit_code: int | None, pid: int | None = None) -> None:
    """The engine's view of a task, as ``status`` shows it."""
    write_json_atomic(out_dir / _state_file(index), {"state": state, "exit_code": exit_code, "pid": pid})


def _launch(cmd: list[str], out_dir: Path, shard: tuple[int, int]) -> subprocess.Popen:
    log = open(out_dir / shard_log(shard[0]), "ab")  # noqa: SIM115 - the child owns it
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    finally:
        log.close()


class WorkerFailure(IncompleteError):
    def __init__(self, views, retries: int, last_error: str):
        super().__init__(views)
        self.args = (f"workers failed {retries + 1} times; {self.args[0]} (last error: {last_error})",)
