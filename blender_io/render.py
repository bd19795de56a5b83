"""Render the plan's views with Blender's animation render, a chunk of consecutive frames at a time.

``ViewRenderer`` is stepped: the CLI loops it to the end, the modal operator steps it on timer ticks and can
stop between chunks. Frames render into a staging folder and each is renamed to its final name as soon as
Blender has written it (``render_write``), so a crash loses at most the frame in progress and never leaves
a truncated image under a dataset name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
from pathlib import Path

import bpy

from ..core.images import publish_png
from ..core.layout import STAGING_DIR
from ..core.plan import Plan, View
from .compat import engine_id
from .passes import PassOutputs
from .quiet import quiet_stdout
from .state import SceneState


def _stamps(r) -> list[str]:
    """Every metadata stamp: date, render time, host, memory, file, frame (padded by the frame range, so a
    shard's differs), and ``use_stamp`` itself, which would burn them into the pixels."""
    return [p.identifier for p in r.bl_rna.properties if p.identifier.startswith("use_stamp")]


# One animation render per run of consecutive frames: every extra render call costs a scene sync, and each
# frame is published as it is written anyway. The modal operator steps one frame at a time instead.
CHUNK_FRAMES = 1 << 30


def apply_render_settings(state: SceneState, scene: bpy.types.Scene, plan: Plan) -> None:
    """The plan's render settings, through ``state`` so that the user's come back."""
    s, r, img = plan.settings, scene.render, scene.render.image_settings
    # Set per chunk or by Blender while rendering: remembered as they are now.
    state.keep(scene, "camera", "frame_start", "frame_end", "frame_step", "frame_current")
    state.keep(r, "filepath", "threads_mode", "threads")
    state.set(r, "resolution_x", plan.intrinsics.w)
    state.set(r, "resolution_y", plan.intrinsics.h)
    state.set(r, "resolution_percentage", 100)
    state.set(r, "pixel_aspect_x", plan.scene.raster.pixel_aspect_x)
    state.set(r, "pixel_aspect_y", plan.scene.raster.pixel_aspect_y)
    if s.engine:
        state.set(r, "engine", engine_id(s.engine))
    if s.samples:
        state.set(scene.cycles, "samples", s.samples)
        if hasattr(scene, "eevee"):
            state.set(scene.eevee, "taa_render_samples", s.samples)
    # A fixed Cycles seed makes a frame rendered twice (resume, another worker) come out the same.
    state.set(scene.cycles, "seed", s.seed)
    state.set(scene.cycles, "use_animated_seed", False)
    state.set(r, "film_transparent", s.transparent)
    for marker in scene.timeline_markers:  # a marker bound to a camera would switch the render away from the rig
        if marker.camera is not None:
            state.set(marker, "camera", None)
    # No overwrite: a frame whose file exists is skipped, which is how a failed write stops the frames after it
    # (``ViewRenderer.step``); the chunk's staged files are removed before each render call.
    for attr, value in (("use_file_extension", True), ("use_overwrite", False), ("use_placeholder", False)):
        state.set(r, attr, value)
    state.set(r, "use_persistent_data", True)
    state.set(img, "file_format", "PNG")
    state.set(img, "color_mode", "RGBA" if s.transparent else "RGB")
    state.set(img, "color_depth", "8")
    for attr in _stamps(r):  # identical files whoever renders them, wherever
        state.set(r, attr, False)


def skip_frames(scene, frames: list[int]) -> None:
    """Let Blender skip these frames of the render under way: it renders no frame whose file exists (no
    overwrite). An empty file needs no space on a full disk; where even that fails, the frame renders in vain."""
    for frame in frames:
        with contextlib.suppress(OSError):
            Path(scene.render.frame_path(frame=frame)).touch()


def write_failure(exc: Exception, staged: str) -> OSError:
    """The first failed write of a render as the OSError that says what happened: ours (publishing), or
    Blender's own (a cut-off PNG where the disk filled or a file-size limit struck)."""
    if isinstance(exc, OSError):
        return exc
    folder = Path(staged).parent
    with contextlib.suppress(OSError):
        if shutil.disk_usage(folder).free < (1 << 20):
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), staged)
    return OSError(errno.EIO, "Blender wrote no complete image (a full disk or a file-size limit?)", staged)


def chunks(views: list[View], size: int) -> list[list[View]]:
    """Runs of consecutive frames, at most ``size`` long."""
    out: list[list[View]] = []
    for view in views:
        if out and len(out[-1]) < size and view.frame == out[-1][-1].frame + 1:
            out[-1].append(view)
        else:
            out.append([view])
    return out


class ViewRenderer:
    """Renders ``views`` of ``plan`` into ``out_dir``; the user's render settings come back on ``end()``."""

    def __init__(
        self,
        scene,
        camera,
        plan: Plan,
        out_dir: Path,
        views,
        chunk_frames=CHUNK_FRAMES,
        quiet=True,
        threads=0,
        objs=(),
        pass_files=None,
    ):
        self.scene, self.camera, self.plan, self.out_dir = scene, camera, plan, Path(out_dir)
        self.threads = threads
        self.passes = PassOutputs(scene, plan.settings.passes, self.out_dir / STAGING_DIR, objs, camera.data.clip_end)
        self.pass_files = pass_files
        """``pass_files(view)`` = {(pass, ext): path relative to the output folder} (``pipeline``)."""
        self.on_view = None
        """Called with each view whose image is in place (a shard's done-list, progress)."""
        self.total = len(views)
        self.done = 0
        self.quiet = quiet
        self._chunks = chunks(list(views), chunk_frames)
        self._frames = [v.frame for v in views]
        self._state: SceneState | None = None
        self._started = 0.0

    def chunk(self, frames: int) -> None:
        """Render at most ``frames`` frames per step (1 keeps the UI responsive between frames)."""
        self._chunks = chunks([v for c in self._chunks for v in c], frames)

    @property
    def finished(self) -> bool:
        return not self._chunks

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def begin(self) -> None:
        scene = self.scene
        self._state = SceneState()
        apply_render_settings(self._state, scene, self.plan)
        scene.camera = self.camera
        scene.frame_step = 1
        if self.threads > 0:
            scene.render.threads_mode, scene.render.threads = "FIXED", self.threads
        staging = self.out_dir / STAGING_DIR
        staging.mkdir(parents=True, exist_ok=True)
        scene.render.filepath = str(staging) + os.sep + "f_######"
        self.passes.begin(self._state)
        self._started = time.monotonic()

    def step(self) -> bool:
        """Render the next chunk; True while views remain. Each frame is published as soon as it is written."""
        if self._chunks:
            chunk = self._chunks.pop(0)
            scene = self.scene
            waiting = {v.frame: v for v in chunk}

            def publish(view) -> None:
                if self.plan.settings.passes:  # before the image: a complete image means complete passes
                    files = {k: self.out_dir / rel for k, rel in self.pass_files(view).items()}
                    self.passes.publish(view.frame, files)
                publish_png(scene.render.frame_path(frame=view.frame), self.out_dir / view.image)
                del waiting[view.frame]
                self.done += 1
                if self.on_view:
                    self.on_view(view)

            failed: list[OSError] = []

            def on_write(written_scene, *_args) -> None:
                view = waiting.get(written_scene.frame_current)
                if written_scene != scene or view is None or failed:
                    return
                try:
                    publish(view)
                except (OSError, ValueError) as exc:  # Blender would print it and render on: stop instead
                    failed.append(write_failure(exc, scene.render.frame_path(frame=view.frame)))
                    skip_frames(scene, [v.frame for v in waiting.values() if v is not view])

            scene.frame_start, scene.frame_end = chunk[0].frame, chunk[-1].frame
            for view in chunk:  # a stale staged file would be skipped for this render's (no overwrite)
                Path(scene.render.frame_path(frame=view.frame)).unlink(missing_ok=True)
            bpy.app.handlers.render_write.append(on_write)
            try:
                with quiet_stdout(self.quiet):
                    bpy.ops.render.render(animation=True, scene=scene.name)
            finally:
                bpy.app.handlers.render_write.remove(on_write)
            if failed:
                raise failed[0]
            for view in list(waiting.values()):  # frames whose write the handler did not see
                publish(view)
        return not self.finished

    def end(self) -> None:
        """Give the user's settings back and drop this job's unpublished frames (a failed or cancelled render
        leaves no staging files; other shards' frames are theirs)."""
        if self._state is not None:  # begun: the render's output path is still ours
            for frame in self._frames:
                Path(self.scene.render.frame_path(frame=frame)).unlink(missing_ok=True)
                for name in self.plan.settings.passes:
                    self.passes.staged(frame, name).unlink(missing_ok=True)
        self.passes.end()
        if self._state is not None:
            self._state.restore()
            self._state = None

    def run(self, progress=None, between_chunks=None) -> None:
        """Render everything; ``progress(done, total, elapsed_s)`` is called after every view, and
        ``between_chunks()`` after each render call (it may raise to stop the render)."""
        on_view = self.on_view

        def report(view) -> None:
            if on_view:
                on_view(view)
            if progress:
                progress(self.done, self.total, self.elapsed)

        self.on_view = report
        self.begin()
        try:
            while self.step():
                if between_chunks:
                    between_chunks()
        finally:
            self.on_view = on_view
            self.end()
