"""The built-in demo scene: an asymmetric, coloured object off the origin, built from code (no asset files)."""

from __future__ import annotations

import math

import bmesh
import bpy
from mathutils import Euler, Matrix, Vector

from .scene import new_empty_scene

DEMO_OBJECT = "NeRF Demo Object"


def _material(name: str, rgb) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = (*rgb, 1.0)
    if mat.node_tree is None:  # Blender 4.x; 5.0 gives every new material its node tree
        mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
        bsdf.inputs["Roughness"].default_value = 0.6
    return mat


def build_demo_object(name: str = DEMO_OBJECT) -> bpy.types.Object:
    """Suzanne wearing a tilted cone, with a box on one side: no mirror symmetry, so an axis flip shows."""
    bm = bmesh.new()
    bmesh.ops.create_monkey(bm)
    for f in bm.faces:
        f.material_index = 0
    hat = bmesh.ops.create_cone(bm, cap_ends=True, segments=12, radius1=0.45, radius2=0.0, depth=0.9)
    hat_xf = Matrix.Translation((0.25, 0.1, 0.95)) @ Euler((0.35, -0.3, 0.0)).to_matrix().to_4x4()
    bmesh.ops.transform(bm, matrix=hat_xf, verts=hat["verts"])
    box = bmesh.ops.create_cube(bm, size=1.0)
    bmesh.ops.transform(
        bm, matrix=Matrix.LocRotScale(Vector((1.05, -0.15, -0.35)), None, (0.45, 0.3, 0.7)), verts=box["verts"]
    )
    for index, verts in ((1, hat["verts"]), (2, box["verts"])):
        vset = set(verts)
        for f in bm.faces:
            if all(v in vset for v in f.verts):
                f.material_index = index
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    for mname, rgb in (("Skin", (0.8, 0.45, 0.2)), ("Hat", (0.15, 0.35, 0.85)), ("Box", (0.2, 0.7, 0.25))):
        mesh.materials.append(_material(mname, rgb))
    obj = bpy.data.objects.new(name, mesh)
    obj.location = (0.4, -0.3, 0.6)
    obj.rotation_euler = (math.radians(8), math.radians(-5), math.radians(35))
    return obj


def build_demo_scene() -> bpy.types.Scene:
    """A fresh scene holding the demo object (active and selected), two suns and a default camera."""
    scene = new_empty_scene()
    obj = build_demo_object()
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.location = (6.0, -6.0, 4.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    return scene
