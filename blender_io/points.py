"""Sample the target's surface and find, for every view, which samples it sees and in what colour."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector
from mathutils.bvhtree import BVHTree

from ..core.plan import Plan
from ..core.points import ScenePoints, sample_surface
from ..core.silhouette import project
from .scene import visible_geometry, world_triangles

# Each point is tested for visibility in about this many views, spread evenly over the plan: enough for
# tracks and colours, and it keeps the cost of ray casting independent of the number of views.
TRACK_VIEWS = 16


def _bvh(vertices: np.ndarray, triangles: np.ndarray) -> BVHTree:
    return BVHTree.FromPolygons([tuple(v) for v in vertices.tolist()], [tuple(t) for t in triangles.tolist()])


def _pixels(path: Path) -> np.ndarray:
    """(h, w, 4) float RGBA of a PNG, row 0 at the top (Blender stores images bottom-up)."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        w, h = image.size
        px = np.empty(w * h * 4, dtype=np.float32)
        image.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(image)
    return px.reshape(h, w, 4)[::-1]


def scene_points(scene, objs, plan: Plan, out_dir: Path, count: int) -> ScenePoints:
    """``count`` surface samples of ``objs`` with their tracks over ``plan.views`` and rendered colours."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    verts, tris = world_triangles(objs, depsgraph)
    xyz, normals = sample_surface(verts, tris, count, plan.settings.seed)
    occluders = [o for o in visible_geometry(scene) if o not in objs]
    if occluders:
        overts, otris = world_triangles(occluders, depsgraph)
        verts, tris = np.concatenate([verts, overts]), np.concatenate([tris, otris + len(verts)])
    bvh = _bvh(verts, tris)
    size = float(np.linalg.norm(np.ptp(xyz, axis=0))) or 1.0
    tolerance = 1e-4 * size
    K, w, h = plan.intrinsics.matrix(), plan.intrinsics.w, plan.intrinsics.h
    obs_point, obs_view, obs_uv = [], [], []
    colour_sum, colour_n = np.zeros((count, 3)), np.zeros(count)
    stride = max(1, -(-len(plan.views) // TRACK_VIEWS))
    point_ids = np.arange(count)
    for k, view in enumerate(plan.views):
        c2w = view.c2w_array()
        eye = c2w[:3, 3]
        uv, z = project(xyz, c2w, K)
        to_eye = eye - xyz
        dist = np.linalg.norm(to_eye, axis=1)
        in_image = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        facing = np.einsum("ij,ij->i", normals, to_eye) > 0
        candidates = np.flatnonzero(((point_ids + k) % stride == 0) & in_image & facing)
        origin, ray_cast = Vector(eye), bvh.ray_cast
        directions = (-to_eye[candidates] / dist[candidates, None]).tolist()
        reach = dist[candidates].tolist()
        visible = []
        for v, d in zip(directions, reach):
            hit, _, _, hit_dist = ray_cast(origin, v, d + tolerance)
            visible.append(hit is not None and hit_dist >= d - tolerance)
        seen = candidates[np.array(visible, dtype=bool)] if len(candidates) else candidates
        if not len(seen):
            continue
        px = _pixels(Path(out_dir) / view.image)
        cols = px[uv[seen, 1].astype(int), uv[seen, 0].astype(int), :3]
        colour_sum[seen] += cols
        colour_n[seen] += 1
        obs_point.append(seen)
        obs_view.append(np.full(len(seen), k))
        obs_uv.append(uv[seen])
    keep = colour_n > 0  # a point no view sees would be a point without a track
    new_index = np.cumsum(keep) - 1
    point = np.concatenate(obs_point) if obs_point else np.zeros(0, dtype=int)
    rgb = colour_sum[keep] / colour_n[keep, None]
    return ScenePoints(
        xyz=xyz[keep],
        normals=normals[keep],
        rgb=np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8),
        track_point=new_index[point],
        track_view=np.concatenate(obs_view) if obs_view else np.zeros(0, dtype=int),
        track_uv=np.concatenate(obs_uv) if obs_uv else np.zeros((0, 2)),
    )
