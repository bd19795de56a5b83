"""Sample the target's surface and find, for every view, which samples it sees and in what colour."""

from __future__ import annotations

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


def point_tracks(scene, objs, plan: Plan, count: int) -> ScenePoints:
    """``count`` surface samples of ``objs`` with their tracks over ``plan.views`` (which views see each, and
    where); the colours come later from the rendered images (``core.points.colour_points``), so this runs
    before rendering, where the scene is open, and the colours wherever the images are."""
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
    w, h = plan.intrinsics.w, plan.intrinsics.h
    obs_point, obs_view, obs_uv = [], [], []
    seen_by = np.zeros(count)
    stride = max(1, -(-len(plan.views) // TRACK_VIEWS))
    point_ids = np.arange(count)
    for k, view in enumerate(plan.views):
        c2w = view.c2w_array()
        eye = c2w[:3, 3]
        uv, z = project(xyz, c2w, plan.intrinsics_of(view).matrix())
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
        seen_by[seen] += 1
        obs_point.append(seen)
        obs_view.append(np.full(len(seen), k))
        obs_uv.append(uv[seen])
    keep = seen_by > 0  # a point no view sees would be a point without a track
    new_index = np.cumsum(keep) - 1
    point = np.concatenate(obs_point) if obs_point else np.zeros(0, dtype=int)
    return ScenePoints(
        xyz=xyz[keep],
        normals=normals[keep],
        rgb=np.zeros((int(keep.sum()), 3), dtype=np.uint8),
        track_point=new_index[point],
        track_view=np.concatenate(obs_view) if obs_view else np.zeros(0, dtype=int),
        track_uv=np.concatenate(obs_uv) if obs_uv else np.zeros((0, 2)),
    )
