"""Every setting of ``core.settings``, the pre-render feedback (views, size, framing warnings) and the actions."""

from __future__ import annotations

import os
from pathlib import Path

import bpy
import numpy as np

from ..core.errors import UserError
from ..core.layout import COLLECTION_DIR, PLAN_FILE
from ..core.options import switch_of
from ..core.settings import SETTING_FIELDS, Settings
from ..operators import collection
from ..operators import following as jobs
from ..operators.build_rig import NERF_DATASET_OT_build_rig
from ..operators.collection import NERF_DATASET_OT_cancel_collection
from ..operators.render import NERF_DATASET_OT_render
from ..operators.scene_values import ASSETS, LOCAL, chosen_formats, output_dir, settings_from_props
from ..operators.validate import NERF_DATASET_OT_validate
from .job import draw_job, draw_submission, draw_where

# The settings the boxes below place themselves (in the panel's order).
ARRANGED = {
    "rig",
    "radius",
    "elevation_min",
    "elevation_max",
    "rings",
    "turns",
    "test_elevation",
    "train",
    "val",
    "test",
}
ARRANGED |= {"seed", "resolution", "samples", "lens", "engine", "transparent", "formats", "points", "passes"}
ARRANGED |= {"downscales", "camera_path_from", "cameras_from", "cameras_transform", "holdout"}


def feedback(context, props):
    """Preflight numbers for the panel (``core.preflight.estimate``); cheap: bounding-box corners only."""
    from ..blender_io.scene import GEOMETRY_TYPES, read_optics, read_raster
    from ..core.preflight import estimate
    from ..exporters import FORMATS

    if props.target_kind == ASSETS:  # each asset is planned by the background run
        return None
    settings = settings_from_props(props, context)
    if settings.rig == "dataset":
        return _dataset_feedback(settings, context)
    obj = props.target or context.active_object
    if obj is None or obj.type not in GEOMETRY_TYPES:
        return None
    scene = context.scene
    mw = np.array(obj.matrix_world)
    corners = np.array([c[:] for c in obj.bound_box]) @ mw[:3, :3].T + mw[:3, 3]
    frames = len(range(scene.frame_start, scene.frame_end + 1, scene.frame_step))
    downscaled = any(FORMATS[f].takes_downscales for f in settings.formats)
    try:
        bounds = (corners.min(axis=0), corners.max(axis=0))
        return estimate(settings, read_optics(scene), read_raster(scene), bounds, frames, downscaled)
    except UserError:
        return None


def setting_row(layout, props, name: str, text: str | None = None) -> None:
    """A setting as the panel shows it; one that may be unset gets its switch in front (off: unset)."""
    switch = switch_of(Settings, name)
    if switch is None:
        layout.prop(props, name) if text is None else layout.prop(props, name, text=text)
        return
    row = layout.row(heading=text if text is not None else props.bl_rna.properties[name].name)
    row.prop(props, switch, text="")
    sub = row.row(align=True)
    sub.active = getattr(props, switch)
    sub.prop(props, name, text="")


_SOURCE_CACHE: dict = {}
# The panel reads a source while it draws: larger ones (some 20 000 views) are read when rendering instead.
PANEL_READS_BYTES = 8 << 20


def _source_bytes(path: str) -> int:
    """The size of the files a source's cameras are read from (its JSON files, or its COLMAP model)."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    names = ["transforms.json", *(f"transforms_{s}.json" for s in ("train", "val", "test"))]
    files = [folder / n for n in names] + [folder / "eval" / n for n in names[2:]]
    for model in (folder, folder / "sparse", folder / "sparse" / "0"):
        files += [model / f"{n}.{e}" for n in ("cameras", "images") for e in ("bin", "txt")]
    total = 0
    for f in files:
        try:
            total += f.stat().st_size
        except (OSError, ValueError):
            pass
    return total


def _dataset_feedback(settings, context):
    """The source's view count and size, or why it cannot be rendered: read again only when the paths, the
    options or the files' times change (the panel redraws often)."""
    from ..core.dataset_rig import load_rig_cameras
    from ..core.preflight import Preflight, given_views
    from ..exporters import FORMATS

    def stamp(p):  # a folder's files are rewritten in place: their times, not the folder's, tell
        if not p:
            return None
        found = []
        for where in (Path(p), Path(p) / "eval", Path(p) / "sparse", Path(p) / "sparse" / "0"):
            try:
                with os.scandir(where) as entries:
                    found += [(e.path, e.stat().st_mtime_ns) for _, e in zip(range(64), entries)]
            except OSError:
                pass
        try:
            return Path(p).stat().st_mtime_ns, tuple(found)
        except OSError:
            return None

    if not settings.cameras_from:
        return Preflight(0, 0, ("Choose the dataset whose cameras to render (Cameras From)",))
    key = (settings.cameras_from, settings.cameras_transform, settings.holdout, settings.resolution)
    key += (stamp(settings.cameras_from), stamp(settings.cameras_transform))
    if key not in _SOURCE_CACHE:
        _SOURCE_CACHE.clear()
        try:
            settings.validate(FORMATS)
            big = _source_bytes(settings.cameras_from) > PANEL_READS_BYTES
            _SOURCE_CACHE[key] = None if big else load_rig_cameras(settings)
        except UserError as exc:
            _SOURCE_CACHE[key] = exc
    found = _SOURCE_CACHE[key]
    if found is None:
        return Preflight(0, 0, ("A large source: its views are read and checked when rendering",))
    if isinstance(found, UserError):
        return Preflight(0, 0, (str(found),))
    return given_views(settings, found.views[0].intrinsics, len(found.views))


class NERF_DATASET_PT_main(bpy.types.Panel):
    bl_label = "NeRF Dataset"
    bl_idname = "NERF_DATASET_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "NeRF Dataset"

    def draw(self, context):
        from ..core.preflight import human_bytes

        layout = self.layout
        props = context.scene.nerf_dataset
        layout.use_property_split = True
        layout.use_property_decorate = False

        col = layout.column(heading="Target")
        col.row().prop(props, "target_kind", expand=True)
        if props.target_kind == ASSETS:
            _draw_assets(col, context, props)
        else:
            col.prop(props, "target", text="")
            if props.target is None:
                obj = context.active_object
                col.label(text=f"Active object: {obj.name}" if obj else "No active object: all visible meshes")

        box = layout.box()
        box.prop(props, "rig")
        if props.rig == "dataset":
            for name in ("cameras_from", "cameras_transform", "holdout"):
                box.prop(props, name)
        elif props.rig != "camera":
            setting_row(box, props, "radius")
            box.prop(props, switch_of(Settings, "elevation_min"), text="Elevations")
            if getattr(props, switch_of(Settings, "elevation_min")):
                box.prop(props, "elevation_min")
                box.prop(props, "elevation_max")
            if props.rig == "rings":
                box.prop(props, "rings")
            if props.rig == "spiral":
                box.prop(props, "turns")
            box.prop(props, "test_elevation")

        box = layout.box()
        col = box.column(align=True, heading="Views")
        col.active = props.rig != "dataset"  # the source's splits are kept
        for name in ("train", "val", "test"):
            setting_row(col, props, name)
        box.prop(props, "seed")

        box = layout.box()
        for name in ("resolution", "samples", "lens"):
            setting_row(box, props, name)
        box.prop(props, "engine")
        box.prop(props, "transparent")
        box.separator()
        draw_where(box, props)

        box = layout.box()
        box.prop(props, "output_dir")
        box.row().prop(props, "formats")
        box.prop(props, "points")
        box.row().prop(props, "passes")
        row = box.row()
        row.active = any(f.takes_downscales for f in _formats(props, context))
        row.prop(props, "downscales")
        box.prop(props, "camera_path_from")
        for name in SETTING_FIELDS:  # a setting no box above arranges still shows, as described
            if name not in ARRANGED:
                setting_row(box, props, name)
        box.prop(props, "overwrite")

        info = feedback(context, props)
        if info is not None:
            box = layout.box()
            box.label(text=f"{info.views} views, about {human_bytes(info.estimated_bytes)}", icon="INFO")
            for warning in info.warnings:
                box.label(text=warning, icon="ERROR")

        layout.operator(NERF_DATASET_OT_build_rig.bl_idname, icon="OUTLINER_OB_CAMERA")
        row = layout.row(align=True)
        row.scale_y = 1.4
        submitting = jobs.submitting(context.scene)
        row.enabled = submitting is None or not submitting.running
        row.operator(NERF_DATASET_OT_render.bl_idname, icon="RENDER_ANIMATION").resume = False
        resumable = _resumable(context, props)
        if resumable and props.where == LOCAL:
            row.operator(NERF_DATASET_OT_render.bl_idname, text="Resume", icon="PLAY").resume = True
        if resumable:
            layout.operator(NERF_DATASET_OT_validate.bl_idname, icon="CHECKMARK")
        draw_submission(layout, context.scene)
        if props.job_location:
            draw_job(layout, props)


def _formats(props, context):
    from ..exporters import FORMATS

    return [FORMATS[f] for f in chosen_formats(props, context)]


def _resumable(context, props) -> bool:
    marker = COLLECTION_DIR if props.target_kind == ASSETS else PLAN_FILE
    try:
        return (Path(output_dir(props, context)) / marker).exists()
    except UserError:
        return False


def _draw_assets(col, context, props) -> None:
    for name in ("assets_path", "assets_pattern", "normalize", "up_axis", "forward_axis", "lighting"):
        col.prop(props, name)
    running = collection.RUNNING.get(context.scene.name)
    if running is not None:
        row = col.row()
        row.label(text=collection.line(running), icon="RENDER_ANIMATION" if running.returncode is None else "INFO")
        if running.returncode is None:
            row.operator(NERF_DATASET_OT_cancel_collection.bl_idname, text="", icon="CANCEL")
