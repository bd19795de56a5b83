"""The rig camera: one camera whose keyframed animation shows view ``k`` of the plan on frame ``k + 1``.

A real animation (not a frame-change handler) means any Blender, with or without this add-on, renders
the same views from the saved file.
"""

from __future__ import annotations

import bpy
from mathutils import Matrix

from ..core.plan import Plan

RIG_CAMERA_NAME = "NeRF Rig Camera"


def _apply_optics(cam_data: bpy.types.Camera, plan: Plan) -> None:
    o = plan.scene.optics
    cam_data.type = "PERSP"
    cam_data.lens_unit = "MILLIMETERS"
    cam_data.lens = o.lens_mm
    cam_data.sensor_width = o.sensor_width_mm
    cam_data.sensor_height = o.sensor_height_mm
    cam_data.sensor_fit = o.sensor_fit
    cam_data.shift_x = o.shift_x
    cam_data.shift_y = o.shift_y
    cam_data.clip_start = o.clip_start
    # A fitted orbit can sit farther out than the user's camera reaches; never clip the target away.
    cam_data.clip_end = max(o.clip_end, 2.0 * (plan.radius + _target_radius(plan)))
    cam_data.dof.use_dof = False


def _target_radius(plan: Plan) -> float:
    lo, hi = plan.scene.bounds_min, plan.scene.bounds_max
    return sum((b - a) ** 2 for a, b in zip(lo, hi)) ** 0.5 / 2.0


def build_rig_camera(scene: bpy.types.Scene, plan: Plan, camera: bpy.types.Object | None = None) -> bpy.types.Object:
    """Create (or re-key ``camera``) so that frame ``view.frame`` shows ``view``; returns the camera object."""
    if camera is None:
        camera = bpy.data.objects.new(RIG_CAMERA_NAME, bpy.data.cameras.new(RIG_CAMERA_NAME))
        scene.collection.objects.link(camera)
    elif camera.animation_data and camera.animation_data.action:
        old = camera.animation_data.action
        camera.animation_data.action = None
        if old.users == 0:
            bpy.data.actions.remove(old)
    _apply_optics(camera.data, plan)
    camera.parent = None
    camera.rotation_mode = "QUATERNION"
    camera.scale = (1.0, 1.0, 1.0)
    for view in plan.views:
        m = Matrix(view.c2w)
        camera.location = m.to_translation()
        camera.rotation_quaternion = m.to_quaternion()
        camera.keyframe_insert("location", frame=view.frame)
        camera.keyframe_insert("rotation_quaternion", frame=view.frame)
    _hold_keys(camera)
    return camera


def _hold_keys(camera: bpy.types.Object) -> None:
    """CONSTANT interpolation: every frame between keys shows a real view, never a blend of two."""
    for fcurve in _fcurves(camera.animation_data.action, camera):
        for key in fcurve.keyframe_points:
            key.interpolation = "CONSTANT"


def _fcurves(action, owner):
    if hasattr(action, "fcurves"):  # Blender 4.x legacy action API
        return action.fcurves
    from bpy_extras import anim_utils

    slot = owner.animation_data.action_slot
    return anim_utils.action_get_channelbag_for_slot(action, slot).fcurves
