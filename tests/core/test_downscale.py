"""Downscaled copies: exact block geometry, no dark fringes, binary masks, depth only from hits."""

from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nerf_dataset.core.downscale import downscale_pixels, downscaled_relpath


def test_folders_follow_nerfstudio():
    assert downscaled_relpath(PurePosixPath("images/train_0001.png"), 2) == PurePosixPath("images_2/train_0001.png")
    assert downscaled_relpath(PurePosixPath("masks/x.png"), 8) == PurePosixPath("masks_8/x.png")


@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([2, 4, 8]))
def test_size_is_floor_and_blocks_average(w, h, k):
    rng = np.random.default_rng(w * 100 + h)
    grey = rng.integers(0, 256, (h, w), dtype=np.uint8)
    small = downscale_pixels(grey, k, "color")
    assert small.shape == (h // k, w // k)
    if small.size:
        assert small[0, 0] == int(np.rint(grey[:k, :k].mean()))


def test_transparent_background_does_not_darken_edges():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (200, 100, 50, 255)  # one opaque pixel, three fully transparent black ones
    out = downscale_pixels(rgba, 2, "color")[0, 0]
    assert tuple(out[:3]) == (200, 100, 50) and out[3] == 64


def test_mask_stays_binary_by_majority():
    mask = np.array([[255, 255, 0, 0], [255, 0, 0, 0]], dtype=np.uint8)
    assert downscale_pixels(mask, 2, "mask").tolist() == [[255, 0]]


def test_depth_averages_hits_only():
    depth = np.array([[1000, 3000, 0, 0], [0, 0, 0, 500]], dtype=np.uint16)
    out = downscale_pixels(depth, 2, "depth")
    assert out.dtype == np.uint16 and out.tolist() == [[2000, 0]]
