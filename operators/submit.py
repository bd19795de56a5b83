"""Render NeRF Dataset with a batch engine chosen under Where: the job is made here, handed over in a thread.

The sequence is ``cli.py submit``'s, through the same functions: ``cloud.actions.make`` plans, packs and writes
the job on the main thread (it needs the open scene), into a staging folder for a job in S3 or into the Output
folder otherwise; then ``cloud.actions.hand_over`` uploads it and starts every shard in a thread, and releases
the job's lock and removes the staging folder when it ends, however it ends.
"""

from __future__ import annotations

from ..cloud import actions
from ..cloud.engines.engine import RETRIES
from ..core.errors import UserError
from . import following as jobs
from .scene_values import (
    ASSETS,
    output_dir,
    settings_from_props,
    source_from_props,
    store_job,
    submission_from_props,
)
from .tasks import Task


def submit(context) -> Task:
    """Start the submission of the panel's dataset as a job; the task's ``then`` remembers the job in the scene."""
    scene = context.scene
    props = scene.nerf_dataset
    sub = submission_from_props(props, lambda: output_dir(props, context), RETRIES)  # checked before any planning
    jobs.check_online(sub.place)
    key = str(sub.place)
    if props.job_location and props.job_location != key:
        raise UserError(f"this scene follows the job {props.job_location}; Forget Job first (the job goes on)")
    running = jobs.submitting(scene)
    if running is not None and running.running:
        raise UserError("a job of this scene is still being submitted; wait for it to end")
    if any(t.running and getattr(t, "location", None) == key for t in jobs.SUBMISSIONS.values()):
        raise UserError(f"another scene is submitting a job to {key}; wait for it to end")
    if props.target_kind == ASSETS:  # a collection's job: its assets copied in, no scene needed
        from ..cloud.collection_submit import make_collection
        from .collection import collection_options

        folder, held = make_collection(sub, settings_from_props(props, context), *collection_options(context))
        made = actions.MadeJob(sub, folder, held)
    else:
        made = actions.make(sub, settings_from_props(props, context), source_from_props(props))
    uid = scene.session_uid

    def then(task: Task) -> None:
        if task.error is None:
            target = jobs.scene_by_uid(uid)
            if target is not None:
                store_job(target.nerf_dataset, sub)
            if not jobs.busy(key):
                jobs.ACTIONS[key] = task  # its line shows as the job's latest news
            jobs.STATUS.pop(key, None)  # a replaced job's old status is not this one's
            jobs.FOLLOWED.add(jobs.identity(sub.place))

    doing = f"Uploading job to {key}" if sub.place.kind != "folder" else f"Handing {key} to {sub.engine.label}"
    # hand_over releases the job whatever happens; a task that never starts must release it here
    task = Task(doing, lambda progress: actions.hand_over(made, progress), then=then)
    task.location = key  # what another scene's submission must not race to
    try:
        return jobs.submit(scene, task)
    except BaseException:
        made.release()
        raise
