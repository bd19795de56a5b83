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
