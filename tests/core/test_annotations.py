"""Streamed frames' annotations from geometry: boxes, corners, the near plane."""

from __future__ import annotations

import numpy as np

from nerf_dataset.core.annotations import BOUND_BOX_ORDER, bounding_box, box_corners, mesh_box, project_points

K = np.array([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])
EYE = np.eye(4)  # OpenGL camera at the origin looking down -Z


def test_corners_come_in_blender_bound_box_order():
    corners = box_corners((-1, -2, -3), (1, 2, 3), np.eye(4))
    signs = np.sign(corners)
    assert [tuple(int(b > 0) for b in row) for row in signs] == list(BOUND_BOX_ORDER)
    scaled = box_corners((0, 0, 0), (1, 1, 1), np.diag([2.0, 2.0, 2.0, 1.0]))
    assert scaled.max() == 2.0 and tuple(scaled[6]) == (2.0, 2.0, 2.0)


def test_a_mesh_through_the_camera_plane_stretches_the_box_to_the_image_edge():
    # a long plank beside the camera, from 5 units behind it to 5 in front, 1 unit to the right
    verts = np.array([[1.0, -0.2, 5.0], [1.0, 0.2, 5.0], [1.0, 0.2, -5.0], [1.0, -0.2, -5.0]])
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    box, seen = mesh_box(verts, tris, EYE, K, 0.1, 64, 48)
    assert seen and box[2] == 64.0, "it reaches the right edge: the plank passes beside the camera"
    assert 32.0 < box[0] < 43.0  # its far end: 1/5 * 50 px right of the centre
    only_points, _ = bounding_box(project_points(verts, EYE, K)[0], 64, 48)
    assert only_points[2] < 64.0, "projecting the vertices alone would miss it"


def test_nothing_in_front_is_no_box():
    verts = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 2.0], [0.0, 1.0, 3.0]])
    assert mesh_box(verts, np.array([[0, 1, 2]]), EYE, K, 0.1, 64, 48) == ([0.0, 0.0, 0.0, 0.0], False)
