"""Import a nerfstudio camera path as a keyframed Blender camera (``core.camera_path`` holds the format)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import bpy
from mathutils import Matrix

from ..core.camera_path import DataparserTransform, read_camera_path
from ..core.errors import UserError
from .rig import fcurves

IMPORTED_NAME = "NeRF Camera Path"


def load_json(path: str | Path, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {what} {path}: {exc}") from None


def import_camera_path(scene, path, dataparser_transforms=None, set_scene: bool = True) -> bpy.types.Object:
    """A new camera keyed on frames ``frame_start``, ``frame_start + 1``, ... with the path's poses and fov.

    ``dataparser_transforms``: nerfstudio's ``dataparser_transforms.json`` of the trained model, to map the
    path back to the scene (default: the transform stored in the path). ``set_scene`` also sets the
    scene's resolution, frame rate and frame range to the path's.
    """
    frame = (
        DataparserTransform.from_json(load_json(dataparser_transforms, "dataparser transforms"))
        if dataparser_transforms
        else None
    )
    cams, settings = read_camera_path(load_json(path, "camera path"), frame)
    data = bpy.data.cameras.new(IMPORTED_NAME)
    data.sensor_fit = "VERTICAL"  # the path's fov is vertical, and its pixels square
    obj = bpy.data.objects.new(IMPORTED_NAME, data)
    scene.collection.objects.link(obj)
    start = scene.frame_start
    previous = None
    for i, cam in enumerate(cams):
        obj.matrix_world = Matrix(cam.c2w.tolist())
        if previous is not None:  # the Euler angles nearest the last key's, so no key spins the long way
            obj.rotation_euler = obj.matrix_world.to_euler("XYZ", previous)
        previous = obj.rotation_euler.copy()
        obj.keyframe_insert("location", frame=start + i)
        obj.keyframe_insert("rotation_euler", frame=start + i)
        data.lens = 0.5 * data.sensor_height / math.tan(math.radians(cam.fov_y_deg) / 2)
        data.keyframe_insert("lens", frame=start + i)
    for action_owner in (obj, data):
        _linear(action_owner)
    if set_scene:
        scene.render.resolution_x, scene.render.resolution_y = settings["width"], settings["height"]
        scene.render.resolution_percentage = 100
        scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
        scene.render.fps, scene.render.fps_base = round(settings["fps"]), round(settings["fps"]) / settings["fps"]
        scene.frame_end = start + len(cams) - 1
        scene.camera = obj
    scene.frame_set(start)
    return obj


def _linear(owner) -> None:
    """Keys are the path's own samples: interpolate linearly between them, as ns-render steps through them."""
    anim = owner.animation_data
    if anim is None or anim.action is None:
        return
    for fc in fcurves(anim.action, owner):
        for key in fc.keyframe_points:
            key.interpolation = "LINEAR"
