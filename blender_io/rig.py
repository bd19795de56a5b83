"""The rig: one camera, parented to an empty at the target's centre, whose keyframed animation shows view
``k`` of the plan on frame ``k + 1`` (train, then val, then test).

A real animation (not a frame-change handler) means any Blender, with or without this add-on, renders
the same views from the saved file. The rig's two objects carry an ID property marker, so they are found
again after a rename and the user's own cameras are never touched.
"""

from __future__ import annotations

from dataclasses import replace

import bpy
import numpy as np
from mathutils import Matrix

from ..core.camera import Optics, horizontal_optics
from ..core.plan import Plan

MARKER = "nerf_dataset_rig"
RIG_CAMERA_NAME = "NeRF Rig Camera"
RIG_CENTER_NAME = "NeRF Rig Center"


def find_rig(scene: bpy.types.Scene) -> tuple[bpy.types.Object | None, bpy.types.Object | None]:
    """The rig's (camera, centre empty) in ``scene``, or None for each that is missing."""
    found = {"camera": None, "center": None}
    for obj in scene.objects:
        role = obj.get(MARKER)
        if role in found and found[role] is None:
            found[role] = obj
    return found["camera"], found["center"]


def _apply_optics(cam_data: bpy.types.Camera, plan: Plan, o: Optics) -> None:
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
    reach = float(np.linalg.norm(np.subtract(plan.scene.bounds_max, plan.scene.bounds_min)))
    cam_data.clip_end = max(o.clip_end, 2.0 * (plan.radius + reach))
    cam_data.dof.use_dof = False


def _new_object(scene, name, data, role):
    obj = bpy.data.objects.new(name, data)
    obj[MARKER] = role
    scene.collection.objects.link(obj)
    return obj


MIN_LENS_MM = 1.0
"""Blender's floor for a camera's focal length: a smaller value is silently rendered at 1 mm."""


def _rig_sensor(plan: Plan) -> Optics:
    """The scene's optics with a sensor wide enough that every view's lens on it is at least Blender's 1 mm
    (lens and sensor scale together: the projection is the same)."""
    smallest = min(plan.intrinsics_of(v).fl_x / plan.intrinsics_of(v).w for v in plan.views)
    like = plan.scene.optics
    return replace(like, sensor_width_mm=max(like.sensor_width_mm, MIN_LENS_MM * 1.01 / smallest))


def _key_optics(cam_data: bpy.types.Camera, plan: Plan, like: Optics) -> None:
    """Each view's own intrinsics on its frame, as a horizontally fitted sensor: only lens and shift vary."""
    for view in plan.views:
        o = horizontal_optics(plan.intrinsics_of(view), plan.scene.raster, like)
        cam_data.lens, cam_data.shift_x, cam_data.shift_y = o.lens_mm, o.shift_x, o.shift_y
        for attr in ("lens", "shift_x", "shift_y"):
            cam_data.keyframe_insert(attr, frame=view.frame)
    _hold_keys(cam_data)


def _drop_animation(obj) -> None:
    if obj.animation_data and obj.animation_data.action:
        old = obj.animation_data.action
        obj.animation_data.action = None
        if old.users == 0:
            bpy.data.actions.remove(old)


def build_rig_camera(scene, plan: Plan, camera=None, center=None) -> bpy.types.Object:
    """Create the rig, or re-key the given one, so that frame ``view.frame`` shows ``view``; returns the camera."""
    if center is None:
        center = _new_object(scene, RIG_CENTER_NAME, None, "center")
        center.empty_display_type = "SPHERE"
    center.parent = None
    center.matrix_world = Matrix.Translation(plan.center)
    center.empty_display_size = max(plan.radius * 0.05, 1e-3)
    if camera is None:
        camera = _new_object(scene, RIG_CAMERA_NAME, bpy.data.cameras.new(RIG_CAMERA_NAME), "camera")
    _drop_animation(camera)
    _drop_animation(camera.data)
    if plan.per_view_intrinsics:
        like = _rig_sensor(plan)
        first = plan.intrinsics_of(plan.views[0])
        _apply_optics(camera.data, plan, horizontal_optics(first, plan.scene.raster, like))
        _key_optics(camera.data, plan, like)
    else:
        _apply_optics(camera.data, plan, plan.scene.optics)
    camera.parent = center
    camera.matrix_parent_inverse = Matrix.Identity(4)
    camera.rotation_mode = "QUATERNION"
    camera.scale = (1.0, 1.0, 1.0)
    to_local = Matrix.Translation(plan.center).inverted()
    for view in plan.views:
        m = to_local @ Matrix(view.c2w)
        camera.location = m.to_translation()
        camera.rotation_quaternion = m.to_quaternion()
        camera.keyframe_insert("location", frame=view.frame)
        camera.keyframe_insert("rotation_quaternion", frame=view.frame)
    _hold_keys(camera)
    return camera


def _hold_keys(owner) -> None:
    """CONSTANT interpolation: every frame between keys shows a real view, never a blend of two."""
    for fcurve in fcurves(owner.animation_data.action, owner):
        for key in fcurve.keyframe_points:
            key.interpolation = "CONSTANT"


def fcurves(action, owner):
    if hasattr(action, "fcurves"):  # Blender 4.x legacy action API
        return action.fcurves
    from bpy_extras import anim_utils

    return anim_utils.action_get_channelbag_for_slot(action, owner.animation_data.action_slot).fcurves
