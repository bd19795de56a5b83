"""Make a job folder (Blender side): plan once, track the surface points, pack the scene, write the spec."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..app.dataset import RunOptions, Source
from ..app.pipeline import plan_dataset
from ..blender_io.pack import save_packed_scene
from ..core.layout import SCENE_FILE
from ..core.settings import Settings
from .job import JobSpec, check_shards, plan_digest, scene_record, write_job


def make_job(settings: Settings, source: Source, job_dir: Path, shards: int, backend: str, options: dict,
             overwrite: bool = False, quiet: bool = True):  # fmt: skip
    """Plan ``settings`` on ``source`` into ``job_dir`` and make it a job of ``shards``; returns the ``Planned``
    (its lock still held: the caller releases it, after running local workers or handing the job over)."""
    created = not Path(job_dir).exists()
    planned = plan_dataset(settings, source, RunOptions(out=job_dir, overwrite=overwrite, verbose=not quiet))
    try:
        write_job_files(planned, shards, backend, options)
    except BaseException:
        planned.release()
        if created:  # a refused job leaves no half a job behind
            shutil.rmtree(job_dir, ignore_errors=True)
        raise
    return planned


def write_job_files(planned, shards: int, backend: str, options: dict) -> JobSpec:
    """Make the planned dataset folder a job: the points' tracks, the packed scene, the spec (written last:
    a folder is a job only once everything a worker reads is in it)."""
    check_shards(shards, len(planned.plan.views))
    planned.ensure_tracks()
    save_packed_scene(Path(planned.out_dir) / SCENE_FILE)
    names = tuple(o.name for o in planned.objs)
    spec = JobSpec(shards, plan_digest(planned.out_dir), planned.plan.scene.target, names, backend, options,
                   scene=scene_record(planned.out_dir))  # fmt: skip
    write_job(planned.out_dir, spec)
    return spec
