"""``cli.py worker --job DIR [--shard I/N]``: render one shard of a job, and nothing else.

The job is the worker's whole input. Views already complete are skipped (a requeued task resumes), each
finished view is recorded as it goes, and the worker never finalises: ``collect`` does, once.
"""

from __future__ import annotations

from pathlib import Path

from ..app.dataset import RunOptions, Source
from ..app.pipeline import start_job
from ..core.layout import SCENE_FILE
from .job import read_job, shard_from_environment


def run_worker(job_dir: Path, shard=None, threads: int = 0, quiet=True, progress=None, under_parent=False,
               done_elsewhere=frozenset(), on_view=None, between_chunks=None, chunk=None):  # fmt: skip
    """Render shard ``shard`` (default: the engine's) of the job in ``job_dir``, leaving out the frames
    ``done_elsewhere``; ``on_view(view)`` follows each finished view (a bucket's upload), ``between_chunks()``
    each render call of at most ``chunk`` frames (it may raise to stop)."""
    spec, plan = read_job(job_dir)
    if shard is None:
        shard = shard_from_environment(spec)
    elif shard[1] != spec.shards:
        from ..core.errors import UserError

        raise UserError(f"--shard {shard[0]}/{shard[1]}: this job has {spec.shards} shards")
    source = Source(blend=str(Path(job_dir) / SCENE_FILE), object=plan.scene.target, objects=spec.objects)
    run = RunOptions(out=job_dir, shard=shard, threads=threads, quiet=quiet, worker=True, under_parent=under_parent,
                     done_elsewhere=frozenset(done_elsewhere))  # fmt: skip
    job = start_job(None, source, run)
    try:
        if on_view is not None:
            recorded = job.render.on_view or (lambda view: None)
            job.render.on_view = lambda view: (recorded(view), on_view(view))
        if chunk:
            job.render.chunk(chunk)
        job.render.run(progress, between_chunks)
        job.planned.ensure_tracks()  # only when they are missing or damaged: collect needs them
    finally:
        job.planned.release()
    return job, shard
