"""Build Camera Rig: key the plan's views onto the rig camera so the timeline scrubs through them."""

from __future__ import annotations

import bpy

from .reports import reports_errors


def build_rig(context) -> tuple[bpy.types.Object, int]:
    """Build or rebuild the rig for the panel's settings; returns (rig camera, number of views)."""
    from ..app.pipeline import plan_scene
    from ..blender_io.rig import build_rig_camera, find_rig
    from .scene_values import settings_from_props, source_from_props

    props = context.scene.nerf_dataset
    scene, _, plan = plan_scene(settings_from_props(props, context), source_from_props(props))
    camera = build_rig_camera(scene, plan, *find_rig(scene))
    # The preview range lets the timeline scrub the rig without changing the scene's render range.
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = plan.views[0].frame, plan.views[-1].frame
    scene.frame_set(plan.views[0].frame)
    _show_path(context, camera, plan)
    return camera, len(plan.views)


def _show_path(context, camera, plan) -> None:
    """Select the rig camera and draw its path in the viewport (a motion path over the rig's frames)."""
    for obj in context.selected_objects:
        obj.select_set(False)
    camera.select_set(True)
    context.view_layer.objects.active = camera
    viz = camera.animation_visualization.motion_path
    viz.show_keyframe_highlight = True
    first, last = plan.views[0].frame, plan.views[-1].frame
    if bpy.ops.object.paths_calculate.poll():
        bpy.ops.object.paths_calculate(display_type="RANGE", range="MANUAL")
        viz.frame_start, viz.frame_end = first, last + 1
        bpy.ops.object.paths_update()


class NERF_DATASET_OT_build_rig(bpy.types.Operator):
    """Create or update the rig camera: one keyframed view per frame, train then val then test"""

    bl_idname = "nerf_dataset.build_rig"
    bl_label = "Build Camera Rig"
    bl_options = {"REGISTER", "UNDO"}

    @reports_errors
    def execute(self, context):
        camera, n = build_rig(context)
        self.report({"INFO"}, f"Rig camera '{camera.name}' shows {n} views on frames 1-{n}")
        return {"FINISHED"}
