"""Render NeRF Dataset: modal in the UI (progress, Esc cancels after the current frame), blocking headless.
With a batch engine chosen under Where, it submits the dataset as a job instead (``submit``)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty

from ..blender_io.render import CHUNK_FRAMES
from .reports import message, reports_errors
from .scene_values import ASSETS, LOCAL

TIMER_S = 0.05


def start(context, resume: bool, chunk_frames: int):
    """The dataset run for the panel's settings: the same ``pipeline.start_run`` the CLI runs."""
    from ..app.dataset import RunOptions
    from ..app.pipeline import start_run
    from .scene_values import output_dir, settings_from_props, source_from_props

    props = context.scene.nerf_dataset
    settings = None if resume else settings_from_props(props, context)
    options = RunOptions(out=output_dir(props, context), overwrite=props.overwrite, resume=resume)
    run = start_run(settings, source_from_props(props), options)
    run.render.chunk(chunk_frames)
    return run


def cancel(run) -> str:
    """Stop after the frame in progress; the scene gets its settings back and the output stays resumable."""
    run.close()
    return f"Cancelled after {run.render.done} of {run.render.total} views; Resume finishes the dataset"


def finish(run) -> tuple[str, bool]:
    """Write the formats and check the dataset; returns (message, whether the check found problems)."""
    from ..app.pipeline import check_written

    try:
        run.render.end()
        run.finish()
        report = check_written(run.planned)
    finally:
        run.close()
    for line in report.lines():
        print(f"nerf_dataset: validate: {line}")
    wrote = f"Wrote {len(run.plan.views)} views ({', '.join(run.plan.settings.formats)}) to {run.out_dir}"
    return f"{wrote}; validate: {report.summary()}", bool(report.problems)


def _elsewhere(context, resume: bool) -> bool:
    """A batch engine is chosen under Where (Resume is this computer's: a job has Retry Missing)."""
    return not resume and context.scene.nerf_dataset.where != LOCAL


def _submit(op, context) -> set:
    from .jobs import outcome
    from .submit import submit

    return outcome(op, submit(context))


def _assets(context) -> bool:
    return context.scene.nerf_dataset.target_kind == ASSETS


def _collection(op, context, resume: bool) -> set:
    """A folder or list of assets: a background cli.py renders it (the panel shows its progress); headless, it
    is waited for."""
    from . import collection

    running = collection.start(context, resume)
    if bpy.app.background:
        text = collection.wait(running)
        op.report({"INFO"} if running.returncode == 0 else {"WARNING"}, text)
    else:
        op.report({"INFO"}, f"Rendering {running.total} assets into {running.out} in the background")
    return {"FINISHED"}


class NERF_DATASET_OT_render(bpy.types.Operator):
    """Render every view of the plan and write the chosen dataset formats"""

    bl_idname = "nerf_dataset.render"
    bl_label = "Render NeRF Dataset"
    bl_options = {"REGISTER"}

    resume: BoolProperty(name="Resume", default=False, description="Keep the finished images, render the rest")

    @reports_errors
    def execute(self, context):
        if _elsewhere(context, self.resume):  # a scene's or a collection's job
            return _submit(self, context)
        if _assets(context):
            return _collection(self, context, self.resume)
        run = start(context, self.resume, chunk_frames=CHUNK_FRAMES)
        try:
            run.render.run()
            text, flawed = finish(run)
        finally:
            run.close()
        self.report({"WARNING" if flawed else "INFO"}, text)
        return {"FINISHED"}

    @reports_errors
    def invoke(self, context, event):
        if bpy.app.background or _elsewhere(context, self.resume) or _assets(context):
            return self.execute(context)
        self._run = start(context, self.resume, chunk_frames=1)
        try:
            self._run.render.begin()
        except BaseException:
            self._run.close()
            raise
        self._cancel = False
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_S, window=context.window)
        wm.progress_begin(0, max(self._run.render.total, 1))
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._cancel = True
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        run = self._run
        try:
            if self._cancel:
                self._close(context)
                self.report({"WARNING"}, cancel(run))
                return {"CANCELLED"}
            run.render.step()
            done, total = run.render.done, run.render.total
            context.window_manager.progress_update(done)
            eta = run.render.elapsed / done * (total - done) if done else 0.0
            context.workspace.status_text_set(f"NeRF Dataset: frame {done} / {total}, ETA {eta:.0f} s (Esc cancels)")
            if not run.render.finished:
                return {"RUNNING_MODAL"}
            self._close(context)
            text, flawed = finish(run)
            self.report({"WARNING" if flawed else "INFO"}, text)
            return {"FINISHED"}
        except Exception as exc:  # never leave the scene half-configured behind a dead modal operator
            self._close(context)
            run.close()
            self.report({"ERROR"}, f"Render failed: {message(exc)}")
            return {"CANCELLED"}

    def _close(self, context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
