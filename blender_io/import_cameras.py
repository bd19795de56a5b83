"""File > Import > NeRF / COLMAP Cameras: another dataset's views as Blender cameras to look through.

One camera keyed on frames ``frame_start + i`` (CONSTANT keys: each frame is one view, never a blend of two), or
one camera per view. Intrinsics go in as a horizontally fitted sensor (``core.camera.horizontal_optics``), the
scene takes the source's image size and pixel aspect, so looking through a camera shows what it saw.
"""

from __future__ import annotations

import bpy
from mathutils import Matrix

from ..core.camera import Optics, horizontal_optics
from ..core.dataset_rig import RigCameras
from .rig import MIN_LENS_MM, _hold_keys

IMPORTED_NAME = "NeRF Dataset Cameras"


def _optics_setter(cams: RigCameras):
    narrowest = min(v.intrinsics.fl_x / v.intrinsics.w for v in cams.views)
    like = Optics(sensor_width_mm=max(36.0, MIN_LENS_MM * 1.01 / narrowest))

    def put(data: bpy.types.Camera, view) -> None:
        o = horizontal_optics(view.intrinsics, cams.raster, like)
        data.sensor_fit, data.sensor_width, data.sensor_height = "HORIZONTAL", o.sensor_width_mm, o.sensor_height_mm
        data.lens, data.shift_x, data.shift_y = o.lens_mm, o.shift_x, o.shift_y

    return put


def import_cameras(scene, cams: RigCameras, per_view: bool = False) -> list[bpy.types.Object]:
    """The cameras of ``cams`` in ``scene``; the scene's resolution, pixel aspect and frame range follow them,
    and the (first) new camera becomes the scene camera."""
    put = _optics_setter(cams)
    collection = bpy.data.collections.new(IMPORTED_NAME)
    scene.collection.children.link(collection)
    made: list = []
    try:
        _make(scene, cams, per_view, put, collection, made)
    except BaseException:  # nothing half-made stays behind
        for obj in made:
            data = obj.data
            bpy.data.objects.remove(obj)
            if data is not None and data.users == 0:
                bpy.data.cameras.remove(data)
        bpy.data.collections.remove(collection)
        raise
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = cams.raster.width, cams.raster.height, 100
    r.pixel_aspect_x, r.pixel_aspect_y = cams.raster.pixel_aspect_x, cams.raster.pixel_aspect_y
    scene.camera = made[0]
    scene.frame_set(scene.frame_start)
    return made


def _make(scene, cams: RigCameras, per_view: bool, put, collection, made: list) -> None:
    start = scene.frame_start
    if per_view:
        for view in cams.views:
            data = bpy.data.cameras.new(view.name)
            put(data, view)
            obj = bpy.data.objects.new(f"{view.split}: {view.name}", data)
            obj.matrix_world = Matrix(view.c2w.tolist())
            collection.objects.link(obj)
            made.append(obj)
    else:
        data = bpy.data.cameras.new(IMPORTED_NAME)
        obj = bpy.data.objects.new(IMPORTED_NAME, data)
        made.append(obj)
        collection.objects.link(obj)
        obj.rotation_mode = "QUATERNION"
        for i, view in enumerate(cams.views):
            m = Matrix(view.c2w.tolist())
            obj.location, obj.rotation_quaternion = m.to_translation(), m.to_quaternion()
            obj.keyframe_insert("location", frame=start + i)
            obj.keyframe_insert("rotation_quaternion", frame=start + i)
            put(data, view)
            for attr in ("lens", "shift_x", "shift_y"):
                data.keyframe_insert(attr, frame=start + i)
        _hold_keys(obj)
        _hold_keys(data)
        scene.frame_end = start + len(cams.views) - 1
