"""``cli.py worker --job DIR [--shard I/N]``: render one shard of a job, and nothing else.

The job is the worker's whole input. Views already complete are skipped (a requeued task resumes), each
finished view is recorded as it goes, and the worker never finalises: ``collect`` does, once. Its shard is
``--shard I/N``, or the engine's index variable (``SLURM_ARRAY_TASK_ID``, ...); the count is always the job's.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..app.dataset import RunOptions, Source
from ..app.pipeline import start_run
from ..core.errors import UserError
from ..core.layout import SCENE_FILE
from .engines import ENGINES, index_variables
from .job import SHARD_LIST_VARIABLE, read_job


def run_worker(job_dir: Path, shard=None, threads: int = 0, quiet=True, progress=None, under_parent=False,
               done_elsewhere=frozenset(), on_view=None, between_chunks=None, chunk=None, kind="folder"):  # fmt: skip
    """Render shard ``shard`` (default: the engine's) of the job in ``job_dir``, leaving out the frames
    ``done_elsewhere``; ``on_view(view)`` follows each finished view (a bucket's upload), ``between_chunks()``
    each render call of at most ``chunk`` frames (it may raise to stop). Returns (the run, the shard)."""
    spec, plan = read_job(job_dir, ENGINES, kind=kind)
    if shard is None:
        shard = shard_from_environment(spec)
    elif shard[1] != spec.shards:
        raise UserError(f"--shard {shard[0]}/{shard[1]}: this job has {spec.shards} shards")
    source = Source(blend=str(Path(job_dir) / SCENE_FILE), object=plan.scene.target, objects=spec.objects)
    options = RunOptions(out=job_dir, shard=shard, threads=threads, verbose=not quiet, worker=True,
                         under_parent=under_parent, done_elsewhere=frozenset(done_elsewhere))  # fmt: skip
    run = start_run(None, source, options)
    try:
        if on_view is not None:
            recorded = run.render.on_view or (lambda view: None)
            run.render.on_view = lambda view: (recorded(view), on_view(view))
        if chunk:
            run.render.chunk(chunk)
        run.render.run(progress, between_chunks)
        run.planned.ensure_tracks()  # only when they are missing or damaged: collect needs them
    finally:
        run.planned.release()
    return run, shard


def shard_from_environment(spec, environ=os.environ) -> tuple[int, int]:
    """(index, count) of this task from the engine's variable; the count is the job's. Engines whose arrays
    always number from 0 (AWS Batch, Kubernetes) rerun a subset of shards as a smaller array with the list of
    them in ``NERF_DATASET_SHARDS`` ("1,3,5-7"): task i renders the list's i-th shard."""
    listed = _shard_list(environ.get(SHARD_LIST_VARIABLE), spec.shards) if SHARD_LIST_VARIABLE in environ else None
    variables = index_variables()
    for name in variables:
        if name in environ:
            text = environ[name]
            limit = len(listed) if listed is not None else spec.shards
            if not (text.isascii() and text.isdigit() and len(text) < 10) or int(text) >= limit:
                raise UserError(f"{name}={text!r} is no shard of this job's {spec.shards}")
            return (listed[int(text)] if listed is not None else int(text)), spec.shards
    if listed is not None and len(listed) == 1:  # a single rerun shard goes as a plain job, with no index
        return listed[0], spec.shards
    raise UserError(f"give --shard I/N, or run under an engine that sets one of {', '.join(variables)}")


def _shard_list(text: str | None, count: int) -> list[int]:
    shards: list[int] = []
    try:
        if not text or len(text) > 100_000 or not text.isascii():
            raise ValueError
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            a, b = int(lo), int(hi or lo)
            if not 0 <= a <= b < count or b - a > count:
                raise ValueError
            shards += range(a, b + 1)
    except ValueError:
        raise UserError(f"{SHARD_LIST_VARIABLE}={text!r} is not a list of this job's {count} shards") from None
    return shards
