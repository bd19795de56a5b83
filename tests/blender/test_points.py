"""Surface points: on the real mesh, seen where their tracks say, in COLMAP and in 3DGS's points3d.ply."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

ARGS = ["--demo", "--train", "8", "--val", "2", "--test", "2", "--resolution", "96x72", "--samples", "4"]
ARGS += ["--transparent", "--points", "400", "--format", "colmap,nerf,nerfstudio", "--seed", "2"]


@pytest.fixture(scope="module")
def out(tmp_path_factory, user_resources):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("points") / "out"
    r = run_cli(*ARGS, "--out", out, user_resources=user_resources)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def reconstruction(out):
    import pycolmap

    rec = pycolmap.Reconstruction()
    rec.read_binary(str(out / "colmap" / "sparse" / "0"))
    return rec


def test_points_lie_on_the_mesh_surface(reconstruction, fresh_bpy):
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    from nerf_dataset.blender_io.demo import DEMO_OBJECT, build_demo_scene
    from nerf_dataset.blender_io.scene import world_triangles

    build_demo_scene()
    depsgraph = fresh_bpy.context.evaluated_depsgraph_get()
    verts, tris = world_triangles([fresh_bpy.data.objects[DEMO_OBJECT]], depsgraph)
    bvh = BVHTree.FromPolygons(verts.tolist(), tris.tolist())
    size = np.linalg.norm(np.ptp(verts, axis=0))
    xyz = np.array([p.xyz for p in reconstruction.points3D.values()])
    assert len(xyz) > 200
    distances = [bvh.find_nearest(Vector(p))[3] for p in xyz]
    assert max(distances) < 1e-4 * size


def test_every_observation_reprojects_onto_the_object(reconstruction, out):
    seen = 0
    for pid, point in reconstruction.points3D.items():
        assert point.track.length() >= 1
        for element in point.track.elements:
            image = reconstruction.images[element.image_id]
            point2d = image.points2D[element.point2D_idx]
            assert point2d.point3D_id == pid
            cam_from_world = image.cam_from_world()
            cam = cam_from_world.rotation.matrix() @ point.xyz + cam_from_world.translation
            uv = reconstruction.cameras[image.camera_id].img_from_cam(cam[None])[0]
            assert np.linalg.norm(uv - point2d.xy) < 0.5
            alpha = np.asarray(Image.open(out / "colmap" / "images" / image.name))[..., 3]
            u, v = int(point2d.xy[0]), int(point2d.xy[1])
            assert alpha[max(v - 1, 0) : v + 2, max(u - 1, 0) : u + 2].max() > 0  # never off the object
            seen += alpha[v, u] > 127
    total = sum(p.track.length() for p in reconstruction.points3D.values())
    assert seen >= 0.95 * total  # the rest sit on the anti-aliased silhouette edge


def read_like_3dgs(path):
    """3D Gaussian Splatting's fetchPly: positions, colours / 255, normals."""
    from plyfile import PlyData

    vertices = PlyData.read(str(path))["vertex"]
    positions = np.vstack([vertices["x"], vertices["y"], vertices["z"]]).T
    colors = np.vstack([vertices["red"], vertices["green"], vertices["blue"]]).T / 255.0
    normals = np.vstack([vertices["nx"], vertices["ny"], vertices["nz"]]).T
    return positions, colors, normals


def test_points3d_ply_beside_nerf_synthetic_and_nerfstudio(reconstruction, out):
    positions, colors, normals = read_like_3dgs(out / "nerf" / "points3d.ply")
    assert len(positions) == reconstruction.num_points3D()
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    assert colors.max() > 0.3  # rendered colours, not the black placeholder
    colmap_xyz = np.array([p.xyz for p in reconstruction.points3D.values()])
    assert np.allclose(np.sort(positions, axis=0), np.sort(colmap_xyz, axis=0), atol=1e-5)
    meta = json.loads((out / "nerfstudio" / "transforms.json").read_text())
    assert (out / "nerfstudio" / meta["ply_file_path"]).is_file()
