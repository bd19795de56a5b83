"""Render the plan's views with Blender's animation render, in chunks of consecutive frames.

Frames render into a staging folder and are renamed to their final names once complete, so a crash
never leaves a truncated image under a dataset name.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import bpy

from ..core.plan import PLAN_DIR, Plan
from .compat import engine_id

CHUNK_FRAMES = 25
STAGING = f"{PLAN_DIR}/staging"


@contextlib.contextmanager
def preserved_render_state(scene: bpy.types.Scene):
    """Restore every scene setting the render touches, whatever happens inside."""
    r, img = scene.render, scene.render.image_settings
    saved = {
        (scene, "camera"): scene.camera,
        (scene, "frame_start"): scene.frame_start,
        (scene, "frame_end"): scene.frame_end,
        (scene, "frame_step"): scene.frame_step,
        (scene, "frame_current"): scene.frame_current,
        (r, "resolution_x"): r.resolution_x,
        (r, "resolution_y"): r.resolution_y,
        (r, "resolution_percentage"): r.resolution_percentage,
        (r, "filepath"): r.filepath,
        (r, "engine"): r.engine,
        (r, "film_transparent"): r.film_transparent,
        (r, "use_file_extension"): r.use_file_extension,
        (r, "use_overwrite"): r.use_overwrite,
        (r, "use_placeholder"): r.use_placeholder,
        (r, "use_persistent_data"): r.use_persistent_data,
        (img, "file_format"): img.file_format,
        (img, "color_mode"): img.color_mode,
        (img, "color_depth"): img.color_depth,
        (scene.cycles, "samples"): scene.cycles.samples,
        (scene.cycles, "seed"): scene.cycles.seed,
        (scene.cycles, "use_animated_seed"): scene.cycles.use_animated_seed,
    }
    try:
        yield
    finally:
        for (owner, attr), value in saved.items():
            setattr(owner, attr, value)


def apply_render_settings(scene: bpy.types.Scene, plan: Plan) -> None:
    s, r = plan.settings, scene.render
    r.resolution_x, r.resolution_y = plan.intrinsics.w, plan.intrinsics.h
    r.resolution_percentage = 100
    if s.engine:
        r.engine = engine_id(s.engine)
    if s.samples:
        scene.cycles.samples = s.samples
        if hasattr(scene, "eevee"):
            scene.eevee.taa_render_samples = s.samples
    # A fixed Cycles seed makes a frame rendered twice (resume, another worker) come out the same.
    scene.cycles.seed = s.seed
    scene.cycles.use_animated_seed = False
    r.film_transparent = s.transparent
    r.use_file_extension = True
    r.use_overwrite = True
    r.use_placeholder = False
    r.use_persistent_data = True
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "RGBA" if s.transparent else "RGB"
    r.image_settings.color_depth = "8"


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True):
    """Silence Blender's per-tile chatter on file descriptor 1 (it bypasses sys.stdout)."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _chunks(views, size):
    run: list = []
    for view in views:
        if run and (len(run) == size or view.frame != run[-1].frame + 1):
            yield run
            run = []
        run.append(view)
    if run:
        yield run


def render_views(scene, camera, plan: Plan, out_dir: Path, views=None, progress=None, quiet=True) -> None:
    """Render ``views`` (default: all of the plan) to their final paths under ``out_dir``."""
    views = list(plan.views if views is None else views)
    out_dir = Path(out_dir)
    staging = out_dir / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    done, started = 0, time.monotonic()
    with preserved_render_state(scene):
        apply_render_settings(scene, plan)
        scene.camera = camera
        scene.frame_step = 1
        scene.render.filepath = str(staging) + os.sep + "f_######"
        for chunk in _chunks(views, CHUNK_FRAMES):
            scene.frame_start, scene.frame_end = chunk[0].frame, chunk[-1].frame
            with quiet_stdout(quiet):
                bpy.ops.render.render(animation=True, scene=scene.name)
            for view in chunk:
                final = out_dir / view.image
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(scene.render.frame_path(frame=view.frame), final)
            done += len(chunk)
            if progress:
                progress(done, len(views), time.monotonic() - started)
