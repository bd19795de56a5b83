"""Scenes for the Blender tests, built with bpy in the test process and saved as .blend files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_demo_blend(path: Path, resolution=(200, 200), render=None, **camera) -> dict:
    """The demo object (asymmetric, off the origin); ``render`` and ``camera`` set render and camera attributes.

    Returns the target's evaluated world-space triangles: ``{"vertices": (n, 3), "triangles": (m, 3)}``.
    """
    import bpy

    from nerf_dataset.blender_io.demo import DEMO_OBJECT, build_demo_scene

    scene = build_demo_scene()
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    for key, value in (render or {}).items():
        setattr(scene.render, key, value)
    for key, value in camera.items():
        setattr(scene.camera.data, key, value)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return world_triangles(bpy.data.objects[DEMO_OBJECT])


def save_zoom_blend(path: Path, frames=8, zoom=True, pixel_aspect=1.0, resolution=(64, 48)) -> dict:
    """Issue 15's scene: the scene camera parented to an empty that turns once around the demo object, aimed
    at it by a Track To constraint, its lens keyed 40 -> 65 mm and its shift_x keyed 0.05 -> -0.05 (constant
    40 mm and 0.05 with ``zoom`` False); ``pixel_aspect`` is x over y. Returns the target's triangles."""
    import math

    import bpy

    from nerf_dataset.blender_io.demo import DEMO_OBJECT, build_demo_scene

    scene = build_demo_scene()
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = pixel_aspect
    scene.frame_start, scene.frame_end = 1, frames
    target = bpy.data.objects[DEMO_OBJECT]
    pivot = bpy.data.objects.new("Pivot", None)
    scene.collection.objects.link(pivot)
    pivot.location = target.location
    cam = scene.camera
    cam.parent, cam.location = pivot, (7.0, 0.0, 2.5)
    cam.constraints.new("TRACK_TO").target = target
    cam.data.lens, cam.data.shift_x = 40.0, 0.05
    for f in (1, frames):
        pivot.rotation_euler = (0.0, 0.0, (f - 1) * 2 * math.pi / frames)
        pivot.keyframe_insert("rotation_euler", frame=f)
        if zoom:
            t = (f - 1) / (frames - 1)
            cam.data.lens, cam.data.shift_x = 40.0 + 25.0 * t, 0.05 - 0.1 * t
            cam.data.keyframe_insert("lens", frame=f)
            cam.data.keyframe_insert("shift_x", frame=f)
    scene.frame_set(1)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return world_triangles(target)


def world_triangles(obj) -> dict:
    import bpy

    depsgraph = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(depsgraph)
    mesh = ev.to_mesh()
    mesh.calc_loop_triangles()
    co = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
    mesh.loop_triangles.foreach_get("vertices", tris)
    mw = np.array(ev.matrix_world)
    ev.to_mesh_clear()
    verts = co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]
    return {"vertices": verts, "triangles": tris.reshape(-1, 3)}
