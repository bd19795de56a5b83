"""Render NeRF Dataset with a batch engine chosen under Where: the job is made here, handed over in a thread.

The sequence is ``cli.py submit``'s: ``cloud.submit.make_job`` plans, packs and writes the job on the main
thread (it needs the open scene), into a staging folder for a job in S3 or into the Output folder otherwise;
then ``cloud.handover.submit_made_job`` uploads it and starts every shard in a thread, which releases the job's
lock and removes the staging folder when it ends, however it ends.
"""

from __future__ import annotations

import shutil

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
    if any(t.running and getattr(t, "location", None) == str(request.location) for t in jobs.SUBMISSIONS.values()):
        raise UserError(f"another scene is submitting a job to {request.location}; wait for it to end")
    settings, source = settings_from_props(props, context), source_from_props(props)
    remote = request.remote
    job_dir = staging_dir() if remote else request.location
    try:
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
            jobs.FOLLOWED.add(jobs.identity(request.location, request.s3 if request.remote else None))

    engine = ENGINE_NAMES[request.backend]
    doing = f"Uploading job to {key}" if remote else f"Handing {key} to {engine}"
    try:
        task = Task(doing, work, cleanup, then)
        task.location = key  # what another scene's submission must not race to
        return jobs.submit(scene, task)
    except BaseException:
        cleanup()
        raise
