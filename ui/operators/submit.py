"""Render NeRF Dataset with a batch engine chosen under Where: the job is made here, handed over in a thread.

The sequence is ``cli.py submit``'s: ``cloud.submit.make_job`` plans, packs and writes the job on the main
thread (it needs the open scene), into a staging folder for a job in S3 or into the Output folder otherwise;
then ``cloud.handover.submit_made_job`` uploads it and starts every shard in a thread, which releases the job's
lock and removes the staging folder when it ends, however it ends.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import bpy

from .. import jobs
from ..tasks import Task

RETRIES = 2
"""Restarts of a failed worker (``--retries``; the local back-end's only)."""


def submit(context) -> Task:
    """Start the submission of the panel's dataset as a job; the task's ``then`` remembers the job in the scene."""
    from ...cloud.handover import submit_made_job
    from ...cloud.remote import staging_dir
    from ...cloud.submit import make_job
    from ...core.errors import UserError
    from ..properties import output_dir, settings_from_props, source_from_props
    from ..where import ENGINE_NAMES, request_from_props, store_job

    scene = context.scene
    props = scene.nerf_dataset
    request = request_from_props(props, lambda: output_dir(props, context))  # checked before any planning
    jobs.check_online(request.location)
    if props.job_location and props.job_location != str(request.location):
        raise UserError(f"this scene follows the job {props.job_location}; Forget Job first (the job goes on)")
    running = jobs.submitting(scene)
    if running is not None and running.running:
        raise UserError("a job of this scene is still being submitted; wait for it to end")
    settings, source = settings_from_props(props, context), source_from_props(props)
    remote = request.remote
    job_dir = staging_dir() if remote else request.location
    try:
        with files_stay_unpacked():
            planned = make_job(settings, source, job_dir, request.shards, request.backend, request.options,
                               request.overwrite or remote, True)  # fmt: skip
    except BaseException:
        if remote:
            shutil.rmtree(job_dir, ignore_errors=True)
        raise

    def work(progress) -> str:
        return submit_made_job(request.location, job_dir, request.s3, request.overwrite, request.emit, False,
                               RETRIES, progress)  # fmt: skip

    def cleanup() -> None:
        planned.release()
        if remote:
            shutil.rmtree(job_dir, ignore_errors=True)

    uid, key = scene.session_uid, str(request.location)

    def then(task: Task) -> None:
        if task.error is None:
            target = jobs.scene_by_uid(uid)
            if target is not None:
                store_job(target.nerf_dataset, request)
            if not jobs.busy(key):
                jobs.ACTIONS[key] = task  # its line shows as the job's latest news
            jobs.STATUS.pop(key, None)  # a replaced job's old status is not this one's
            jobs.FOLLOWED.add(key)

    engine = ENGINE_NAMES[request.backend]
    doing = f"Uploading job to {key}" if remote else f"Handing {key} to {engine}"
    try:
        return jobs.submit(scene, Task(doing, work, cleanup, then))
    except BaseException:
        cleanup()
        raise


# What Blender can pack into a .blend, each with its ``unpack`` (``cloud.submit`` packs all of them).
PACKABLE = ("images", "fonts", "sounds")


@contextlib.contextmanager
def files_stay_unpacked():
    """``make_job`` packs every file the scene uses into the open .blend before saving the job's copy: the CLI
    opens a copy, but here it is the user's file. Afterwards, what was a plain file on disk and unchanged in
    memory goes back to being that file (its packed copy dropped, nothing written); the rest stays packed."""
    before = []
    for kind in PACKABLE:
        for block in getattr(bpy.data, kind):
            if block.packed_file is None and _on_disk(block) and not getattr(block, "is_dirty", False):
                before.append(block)
    try:
        yield
    finally:
        for block in before:
            with contextlib.suppress(ReferenceError, RuntimeError):
                if block.packed_file is not None:
                    block.unpack(method="USE_ORIGINAL")


def _on_disk(block) -> bool:
    path = getattr(block, "filepath", "")
    return bool(path) and path != "<builtin>" and Path(bpy.path.abspath(path)).is_file()
