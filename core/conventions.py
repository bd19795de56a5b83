"""Every coordinate convention of the project, stated once.

World: Blender's world, +Z up, right-handed, scene units (metres by default).

Camera (OpenGL / Blender / NeRF-synthetic / nerfstudio / instant-ngp input): +X right, +Y up,
the camera looks down -Z. A ``c2w_opengl`` 4x4 maps camera-local points to world points; its
columns are the camera's +X, +Y, +Z axes and its origin, in world coordinates. This is Blender's
``Object.matrix_world`` of a camera without scale, and NeRF-synthetic's ``transform_matrix``.

Camera (OpenCV / COLMAP): +X right, +Y down, +Z forward (the viewing direction). COLMAP stores
world-to-camera (``w2c_opencv``).

Pixels: continuous image coordinates with (0, 0) at the top-left *corner* of the top-left pixel,
+x right, +y down, so the centre of pixel (col i, row j) is (i + 0.5, j + 0.5). This is what COLMAP,
nerfstudio and instant-ngp mean by ``cx, cy``; a centred principal point is ``(w / 2, h / 2)``.
"""

import numpy as np

# Diagonal flip between the two camera frames; it is its own inverse.
OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def c2w_opengl_to_opencv(c2w_opengl: np.ndarray) -> np.ndarray:
    """Camera-to-world with OpenGL camera axes -> camera-to-world with OpenCV camera axes."""
    return np.asarray(c2w_opengl, dtype=float) @ OPENGL_FROM_OPENCV


def c2w_opengl_to_w2c_opencv(c2w_opengl: np.ndarray) -> np.ndarray:
    """Camera-to-world (OpenGL axes) -> world-to-camera (OpenCV axes), COLMAP's extrinsics."""
    c2w_cv = c2w_opengl_to_opencv(c2w_opengl)
    rot = c2w_cv[:3, :3]
    w2c = np.eye(4)
    w2c[:3, :3] = rot.T
    w2c[:3, 3] = -rot.T @ c2w_cv[:3, 3]
    return w2c


def look_at_c2w_opengl(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world (OpenGL axes) for a camera at ``eye`` looking at ``target``, world ``up`` kept up.

    Straight above or below the target, where ``up`` is parallel to the view, world +Y serves as up.
    """
    eye = np.asarray(eye, dtype=float)
    forward = np.asarray(target, dtype=float) - eye
    forward /= np.linalg.norm(forward)
    up = np.asarray(up, dtype=float)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, 0] = right
    c2w[:3, 1] = cam_up
    c2w[:3, 2] = -forward
    c2w[:3, 3] = eye
    return c2w


def rotation_to_quaternion_wxyz(rot: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, of a 3x3 rotation matrix (COLMAP's QW QX QY QZ order)."""
    m = np.asarray(rot, dtype=float)
    # Build from the largest of the four squared components, so the division is always well conditioned.
    t = np.trace(m)
    candidates = [t, m[0, 0], m[1, 1], m[2, 2]]
    k = int(np.argmax(candidates))
    if k == 0:
        s = 2.0 * np.sqrt(1.0 + t)
        q = [s / 4, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i, j, n = k - 1, k % 3, (k + 1) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[n, n])
        q = [0.0, 0.0, 0.0, 0.0]
        q[0] = (m[n, j] - m[j, n]) / s
        q[1 + i] = s / 4
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + n] = (m[n, i] + m[i, n]) / s
    q = np.array(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q
