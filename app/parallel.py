"""``--workers N``: plan once, render the shards in N Blender processes, restart the ones that die, finalise
once (the workers never do).

The parent plans (it opens the scene once) and then only watches: each worker is this same ``cli.py``
with ``--shard I/N``, run by the same Blender executable or Python, with the cores split between them.
A worker that exits non-zero is restarted for its unfinished views up to ``retries`` times; after that
the run stops naming the views that failed and leaves a resumable output (``--resume``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.plan import PLAN_DIR
from ..core.shards import read_done, shard_views
from .dataset import IncompleteError, absent_views, collect, pending_views

POLL_S = 0.2
LOG_DIR = f"{PLAN_DIR}/logs"


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Render threads for each of ``workers`` processes: the cores split evenly, at least one each."""
    return max(1, (cores or os.cpu_count() or 1) // workers)


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the parent dies, so a killed run leaves no orphan rendering on."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_command(worker_args: list[str], shard: tuple[int, int], threads: int) -> list[str]:
    """The command line of one worker: the same interpreter or Blender, the same options, one shard."""
    cli = str(Path(__file__).resolve().parents[1] / "cli.py")
    ours = [*worker_args, "--shard", f"{shard[0]}/{shard[1]}", "--threads", str(threads), "--worker"]
    try:
        import bpy

        binary = bpy.app.binary_path
    except ImportError:
        binary = ""
    if binary:  # inside Blender: a background Blender running this script
        return [binary, "-b", "--factory-startup", "-P", cli, "--", *ours]
    return [sys.executable, cli, *ours]


@dataclass
class _Worker:
    shard: tuple[int, int]
    process: subprocess.Popen | None = None
    tries: int = 0
    finished: bool = False


def run_workers(planned, worker_args: list[str], workers: int, retries: int, progress=None):
    """Render every pending view of the planned dataset with ``workers`` processes, then finalise it."""
    plan, out_dir = planned.plan, Path(planned.out_dir)
    (out_dir / LOG_DIR).mkdir(parents=True, exist_ok=True)
    threads = threads_per_worker(workers)
    pool = [_Worker((i, workers)) for i in range(workers)]
    total = len(plan.views)
    complete_at_start = total - len(absent_views(plan, out_dir))  # for progress only; workers verify
    started = time.monotonic()
    failed: list[_Worker] = []
    try:
        while True:
            for w in pool:
                if w.finished or w in failed:
                    continue
                rc = None if w.process is None else w.process.poll()
                if w.process is not None and rc is None:
                    continue
                if rc == 0:
                    w.finished = True
                elif w.tries > retries:
                    failed.append(w)
                else:
                    w.tries += 1
                    w.process = _launch(worker_command(worker_args, w.shard, threads), out_dir, w.shard)
            if progress:
                done = sum(len(read_done(out_dir, *w.shard)) for w in pool)
                progress(max(done, complete_at_start), total, time.monotonic() - started)
            if all(w.finished or w in failed for w in pool):
                break
            time.sleep(POLL_S)
    finally:
        for w in pool:
            if w.process is not None and w.process.poll() is None:
                w.process.kill()
                w.process.wait()
    if failed:
        failed_frames = {v.frame for w in failed for v in shard_views(plan.views, *w.shard)}
        views = [v for v in pending_views(plan, out_dir) if v.frame in failed_frames]
        log = out_dir / LOG_DIR / f"shard-{failed[0].shard[0]}.log"
        raise WorkerFailure(views, retries, _last_line(log))
    return collect(out_dir, plan, sample_points=planned.ensure_points)


def _launch(cmd: list[str], out_dir: Path, shard: tuple[int, int]) -> subprocess.Popen:
    log = open(out_dir / LOG_DIR / f"shard-{shard[0]}.log", "ab")  # noqa: SIM115 - the child owns it
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    finally:
        log.close()


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


class WorkerFailure(IncompleteError):
    def __init__(self, views, retries: int, last_error: str):
        super().__init__(views)
        self.args = (f"workers failed {retries + 1} times; {self.args[0]} (last error: {last_error})",)
