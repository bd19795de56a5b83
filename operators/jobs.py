"""The job panel's buttons: Refresh, Retry Missing, Download Results, Cancel Job, Forget Job.

Each calls the function its ``cli.py`` command calls (``cloud.actions``: ``job_status``, ``retry_missing``,
``collect`` and ``cancel``), in a thread: in the UI the operator returns at once and the panel shows the outcome;
with ``blender -b`` (no timers) it waits for the thread and reports the outcome.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from ..cloud import actions
from ..cloud.engines.engine import RETRIES
from ..core.errors import UserError
from . import following as jobs
from .reports import reports_errors
from .scene_values import download_dir, emit_folder, forget_job, job_of, output_dir
from .tasks import Task


def _job(context):
    """The scene's job: (props, its place), refused when online access is off."""
    props = context.scene.nerf_dataset
    place = job_of(props)
    if place is None:
        raise UserError("this scene follows no job; choose an engine under Where and render")
    jobs.check_online(place)
    return props, place


def waits() -> bool:
    """Whether an operator waits for its thread: with ``blender -b``, where no timer would end it."""
    return bpy.app.background


def outcome(op, task: Task, line=lambda task: task.result) -> set:
    """Background: wait, then report the task's ``line`` (or its refusal). UI: say it started; the panel and
    the status bar follow it."""
    if not waits():
        op.report({"INFO"}, task.text())
        return {"FINISHED"}
    jobs.wait(task)
    if task.error is not None:
        op.report({"ERROR"}, task.error)  # as worded, like every refusal (``reports.message``)
        return {"CANCELLED"}
    text = line(task)
    op.report({"INFO"}, text[:1].upper() + text[1:])
    return {"FINISHED"}


def status_line(task: Task) -> str:
    """``cli.py status``'s last line."""
    st = task.value
    return f"{st.done}/{st.total} views done in {st.spec.shards} shards ({st.spec.backend})"


def _has_job(context) -> bool:
    props = getattr(context.scene, "nerf_dataset", None)
    return props is not None and bool(props.job_location)


def _can_act(context) -> bool:
    running = jobs.submitting(context.scene)
    submitting = running is not None and running.running  # the job is being replaced: wait for it
    return _has_job(context) and not submitting and not jobs.busy(context.scene.nerf_dataset.job_location)


class NERF_DATASET_OT_job_refresh(bpy.types.Operator):
    """Ask the job's engine and storage for its progress now (the panel also asks every few seconds)"""

    bl_idname = "nerf_dataset.job_refresh"
    bl_label = "Refresh"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _has_job(context)

    @reports_errors
    def execute(self, context):
        _, place = _job(context)
        return outcome(self, jobs.ask_status(place), status_line)


class NERF_DATASET_OT_job_retry_missing(bpy.types.Operator):
    """Start again only the shards with missing views that the engine is not running or about to run"""

    bl_idname = "nerf_dataset.job_retry_missing"
    bl_label = "Retry Missing"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _can_act(context)

    @reports_errors
    def execute(self, context):
        from ..cloud.engines import ENGINES

        props, place = _job(context)
        engine = ENGINES.get(props.job_backend)
        emit = emit_folder(props, engine) if engine is not None else None
        work = lambda progress: actions.retry_missing(place, None, emit, False, RETRIES, progress)  # noqa: E731
        return outcome(self, jobs.act(place, Task(f"Resubmitting the missing shards of {place}", work)))


class NERF_DATASET_OT_job_download(bpy.types.Operator):
    """Check every view of the job and write the dataset into the Output folder (replacing a dataset of this
    add-on there; a job folder is finalised where it is)"""

    bl_idname = "nerf_dataset.job_download"
    bl_label = "Download Results"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _can_act(context)

    @reports_errors
    def execute(self, context):
        props, place = _job(context)
        out = download_dir(place, lambda: output_dir(props, context))
        return outcome(self, jobs.act(place, Task(f"Downloading {place}", _download(place, out))))


def _download(place, out: Path):
    """``cli.py collect``: the dataset written into ``out``, then checked as ``cli.py validate`` checks it."""

    def work(progress) -> str:
        written, out_dir, report = actions.collect(place, out, True, progress)
        if report is None:  # a collection's: each asset was checked by its worker
            return written.line() + (f"; {len(written.failed)} assets failed" if written.failed else "")
        return f"wrote {len(written)} dataset files to {out_dir}; validate: {report.summary()}"

    return work


class NERF_DATASET_OT_job_cancel(bpy.types.Operator):
    """Cancel every task of the job with the engine's own cancel (finished views stay)"""

    bl_idname = "nerf_dataset.job_cancel"
    bl_label = "Cancel Job"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _can_act(context)

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event, message="Cancel every task of the job?")

    @reports_errors
    def execute(self, context):
        _, place = _job(context)
        work = lambda _progress: actions.cancel(place)  # noqa: E731
        return outcome(self, jobs.act(place, Task(f"Cancelling {place}", work)))


class NERF_DATASET_OT_job_forget(bpy.types.Operator):
    """Stop following the job in this scene; the job itself goes on, untouched"""

    bl_idname = "nerf_dataset.job_forget"
    bl_label = "Forget Job"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _can_act(context)

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(
            self, event, message="Forget the job in this scene? It goes on; cli.py status still finds it."
        )

    def execute(self, context):
        props = context.scene.nerf_dataset
        location, found = props.job_location, jobs.job_of_or_none(props)
        forget_job(props)
        if not any(getattr(s, "nerf_dataset", None) and s.nerf_dataset.job_location == location
                   for s in bpy.data.scenes):  # fmt: skip
            jobs.STATUS.pop(location, None)  # another scene still follows it: keep what it shows
            jobs.ACTIONS.pop(location, None)
            if found is not None:
                jobs.FOLLOWED.discard(jobs.identity(found))
        self.report({"INFO"}, f"Forgot the job {location}")
        jobs.redraw()
        return {"FINISHED"}


classes = (
    NERF_DATASET_OT_job_refresh,
    NERF_DATASET_OT_job_retry_missing,
    NERF_DATASET_OT_job_download,
    NERF_DATASET_OT_job_cancel,
    NERF_DATASET_OT_job_forget,
)
