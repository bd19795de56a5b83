"""Render NeRF Dataset: modal in the UI (progress, Esc cancels after the current frame), blocking headless.
With a batch engine chosen under Where, it submits the dataset as a job instead (``submit``)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty

from ...blender_io.render import CHUNK_FRAMES
from .reports import message, reports_errors

TIMER_S = 0.05


def start(context, resume: bool, chunk_frames: int):
    """The job for the panel's settings: the same ``pipeline.start_job`` the CLI runs."""
    from ...app.dataset import RunOptions
    from ...app.pipeline import start_job
    from ..properties import output_dir, settings_from_props, source_from_props

    props = context.scene.nerf_dataset
    settings = None if resume else settings_from_props(props, context)
    run = RunOptions(out=output_dir(props, context), overwrite=props.overwrite, resume=resume)
    job = start_job(settings, source_from_props(props), run)
    job.render.chunk(chunk_frames)
    return job


def cancel(job) -> str:
    """Stop after the frame in progress; the scene gets its settings back and the output stays resumable."""
    job.close()
    return f"Cancelled after {job.render.done} of {job.render.total} views; Resume finishes the dataset"


def finish(job) -> tuple[str, bool]:
    """Write the formats and check the dataset; returns (message, whether the check found problems)."""
    from ...app.pipeline import check_written

    try:
        job.render.end()
        job.finish()
        report = check_written(job.planned)
    finally:
        job.close()
    for line in report.lines():
        print(f"nerf_dataset: validate: {line}")
    wrote = f"Wrote {len(job.plan.views)} views ({', '.join(job.plan.settings.formats)}) to {job.out_dir}"
    return f"{wrote}; validate: {report.summary()}", bool(report.problems)


def _elsewhere(context, resume: bool) -> bool:
    """A batch engine is chosen under Where (Resume is this computer's: a job has Retry Missing)."""
    from ..where import LOCAL

    return not resume and context.scene.nerf_dataset.where != LOCAL


def _submit(op, context) -> set:
    from .jobs import outcome
    from .submit import submit

    return outcome(op, submit(context))


def _assets(context) -> bool:
    from ..collection_props import ASSETS

    return context.scene.nerf_dataset.target_kind == ASSETS


def _collection(op, context, resume: bool) -> set:
    """A folder or list of assets: a background cli.py renders it (the panel shows its progress); headless, it
    is waited for."""
    from .. import collection

    task = collection.start(context, resume)
    if bpy.app.background:
        text = collection.wait(task)
        op.report({"INFO"} if task.returncode == 0 else {"WARNING"}, text)
    else:
        op.report({"INFO"}, f"Rendering {task.total} assets into {task.out} in the background")
    return {"FINISHED"}


class NERF_DATASET_OT_render(bpy.types.Operator):
    """Render every view of the plan and write the chosen dataset formats"""

    bl_idname = "nerf_dataset.render"
    bl_label = "Render NeRF Dataset"
    bl_options = {"REGISTER"}

    resume: BoolProperty(name="Resume", default=False, description="Keep the finished images, render the rest")

    @reports_errors
    def execute(self, context):
        if _assets(context):
            return _collection(self, context, self.resume)
        if _elsewhere(context, self.resume):
            return _submit(self, context)
        job = start(context, self.resume, chunk_frames=CHUNK_FRAMES)
        try:
            job.render.run()
            text, flawed = finish(job)
        finally:
            job.close()
        self.report({"WARNING" if flawed else "INFO"}, text)
        return {"FINISHED"}

    @reports_errors
    def invoke(self, context, event):
        if bpy.app.background or _elsewhere(context, self.resume) or _assets(context):
            return self.execute(context)
        self._job = start(context, self.resume, chunk_frames=1)
        try:
            self._job.render.begin()
        except BaseException:
            self._job.close()
            raise
        self._cancel = False
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_S, window=context.window)
        wm.progress_begin(0, max(self._job.render.total, 1))
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._cancel = True
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        job = self._job
        try:
            if self._cancel:
                self._close(context)
                self.report({"WARNING"}, cancel(job))
                return {"CANCELLED"}
            job.render.step()
            done, total = job.render.done, job.render.total
            context.window_manager.progress_update(done)
            eta = job.render.elapsed / done * (total - done) if done else 0.0
            context.workspace.status_text_set(f"NeRF Dataset: frame {done} / {total}, ETA {eta:.0f} s (Esc cancels)")
            if not job.render.finished:
                return {"RUNNING_MODAL"}
            self._close(context)
            text, flawed = finish(job)
            self.report({"WARNING" if flawed else "INFO"}, text)
            return {"FINISHED"}
        except Exception as exc:  # never leave the scene half-configured behind a dead modal operator
            self._close(context)
            job.close()
            self.report({"ERROR"}, f"Render failed: {message(exc)}")
            return {"CANCELLED"}

    def _close(self, context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
