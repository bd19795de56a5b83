"""The nerfstudio dataparser frame of camera paths, and reading a path back."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerf_dataset.core.camera_path import camera_path_json, dataparser_transform, read_camera_path
from nerf_dataset.core.conventions import look_at_c2w_opengl


def _ring(n, radius=4.0, height=1.0, centre=(0.3, -0.2, 0.5)):
    eyes = [
        (np.cos(a) * radius + centre[0], np.sin(a) * radius + centre[1], height + centre[2])
        for a in np.linspace(0, 2 * np.pi, n, endpoint=False)
    ]
    return np.array([look_at_c2w_opengl(e, centre) for e in eyes])


def test_none_orientation_centres_and_scales_like_nerfstudio():
    poses = _ring(8)
    frame = dataparser_transform(poses)
    moved = np.array([frame.apply(p) for p in poses])
    assert np.allclose(moved[:, :3, :3], poses[:, :3, :3])
    assert np.allclose(moved[:, :3, 3].mean(axis=0), 0, atol=1e-12)
    assert np.abs(moved[:, :3, 3]).max() == pytest.approx(1.0)


def test_up_orientation_turns_the_mean_up_vector_to_z():
    tilt = np.eye(4)
    tilt[:3, :3] = [[1, 0, 0], [0, np.cos(0.4), -np.sin(0.4)], [0, np.sin(0.4), np.cos(0.4)]]
    poses = np.array([tilt @ p for p in _ring(8)])
    frame = dataparser_transform(poses, orientation="up")
    up = np.mean([frame.apply(p)[:3, 1] for p in poses], axis=0)
    assert np.allclose(up / np.linalg.norm(up), [0, 0, 1], atol=1e-9)


def test_a_single_camera_has_no_scale_to_take():
    frame = dataparser_transform(_ring(1))
    assert frame.scale == 1.0 and np.isfinite(frame.transform).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.floats(0.5, 20), st.floats(-3, 3))
def test_a_path_reads_back_to_the_scene_poses(n, radius, height):
    poses = _ring(n, radius, height)
    frame = dataparser_transform(poses)
    d = camera_path_json(list(poses), [40.0] * n, (80, 60), 24.0, frame)
    cams, settings_ = read_camera_path(d)
    assert settings_ == {"width": 80, "height": 60, "fps": 24.0}
    assert np.allclose([c.c2w for c in cams], poses, atol=1e-9)
