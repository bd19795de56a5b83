"""Every CLI setting, the pre-render feedback (views, size, framing warnings) and the three actions."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ..core.errors import UserError
from ..core.plan import PLAN_FILE
from ..operators.build_rig import NERF_DATASET_OT_build_rig
from ..operators.render import NERF_DATASET_OT_render
from ..operators.validate import NERF_DATASET_OT_validate


def _target(context, props):
    return props.target or context.active_object


def feedback(context, props):
    """Preflight numbers for the panel; cheap (bounding-box corners, no mesh evaluation)."""
    from ..blender_io.scene import read_optics, read_raster
    from ..core.camera import Raster, intrinsics_from_optics
    from ..core.framing import fit_radius
    from ..core.preflight import preflight
    from ..properties import settings_from_props

    settings = settings_from_props(props, context)
    obj = _target(context, props)
    if obj is None or obj.type not in {"MESH", "CURVE", "SURFACE", "FONT", "META"}:
        return None
    scene = context.scene
    raster = read_raster(scene)
    if settings.resolution:
        raster = Raster(*settings.resolution, raster.pixel_aspect_x, raster.pixel_aspect_y)
    try:
        intr = intrinsics_from_optics(read_optics(scene), raster)
    except UserError:
        return None
    mw = np.array(obj.matrix_world)
    corners = np.array([c[:] for c in obj.bound_box]) @ mw[:3, :3].T + mw[:3, 3]
    sphere = float(np.linalg.norm(corners.max(axis=0) - corners.min(axis=0)) / 2.0)
    radius = settings.radius or fit_radius(intr, sphere)
    counts = settings.orbit_counts()
    channels = 4 if settings.transparent else 3
    return preflight(intr, sphere, radius, sum(counts.values()), channels, settings.passes)


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
        col.prop(props, "target", text="")
        if props.target is None:
            obj = context.active_object
            col.label(text=f"Active object: {obj.name}" if obj else "No active object: all visible meshes")

        box = layout.box()
        box.prop(props, "rig")
        if props.rig != "camera":
            row = box.row(heading="Radius")
            row.prop(props, "radius_auto", text="Auto")
            sub = row.row()
            sub.active = not props.radius_auto
            sub.prop(props, "radius", text="")
            box.prop(props, "elevation_auto")
            if not props.elevation_auto:
                box.prop(props, "elevation_min")
                box.prop(props, "elevation_max")
            if props.rig == "rings":
                box.prop(props, "rings")
            if props.rig == "spiral":
                box.prop(props, "turns")
            box.prop(props, "test_elevation")

        box = layout.box()
        col = box.column(align=True, heading="Views")
        for name in ("train_views", "val_views", "test_views"):
            col.prop(props, name)
        box.prop(props, "seed")

        box = layout.box()
        row = box.row(heading="Resolution")
        row.prop(props, "resolution_override", text="")
        sub = row.row(align=True)
        sub.active = props.resolution_override
        sub.prop(props, "resolution_x", text="")
        sub.prop(props, "resolution_y", text="")
        row = box.row(heading="Samples")
        row.prop(props, "samples_override", text="")
        sub = row.row()
        sub.active = props.samples_override
        sub.prop(props, "samples", text="")
        row = box.row(heading="Lens")
        row.prop(props, "lens_override", text="")
        sub = row.row()
        sub.active = props.lens_override
        sub.prop(props, "lens", text="")
        box.prop(props, "engine")
        box.prop(props, "transparent")

        box = layout.box()
        box.prop(props, "output_dir")
        box.row().prop(props, "formats")
        box.prop(props, "points")
        box.row().prop(props, "passes")
        row = box.row()
        row.active = bool({"nerfstudio", "colmap"} & set(props.formats))
        row.prop(props, "downscales")
        box.prop(props, "camera_path_from")
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
        row.operator(NERF_DATASET_OT_render.bl_idname, icon="RENDER_ANIMATION").resume = False
        if _resumable(context, props):
            row.operator(NERF_DATASET_OT_render.bl_idname, text="Resume", icon="PLAY").resume = True
            layout.operator(NERF_DATASET_OT_validate.bl_idname, icon="CHECKMARK")


def _resumable(context, props) -> bool:
    from ..properties import output_dir

    try:
        return (Path(output_dir(props, context)) / PLAN_FILE).is_file()
    except UserError:
        return False
