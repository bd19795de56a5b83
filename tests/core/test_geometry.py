"""A target that cannot give a dataset is refused with its reason (``core.geometry.check_surface``)."""

import numpy as np
import pytest

from nerf_dataset.core.errors import UserError
from nerf_dataset.core.geometry import check_surface

QUAD = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=float)
TWO = np.array([[0, 1, 2], [0, 2, 3]])


def test_a_surface_passes_even_a_flat_or_tiny_one():
    check_surface(QUAD, TWO, "target 'Quad'")
    check_surface(QUAD * 1e-6 + 5e3, TWO, "target 'Speck'")  # tiny and far from the origin
    check_surface(QUAD * [1, 1e-4, 1], TWO, "target 'Sliver'")


@pytest.mark.parametrize(
    "vertices, triangles, reason",
    [
        (np.zeros((0, 3)), np.zeros((0, 3), int), "has no vertices"),
        (QUAD, np.zeros((0, 3), int), "has no faces, only 4 vertices"),
        (np.vstack([QUAD, [[np.nan, 0, 0]]]), TWO, "1 of 5 vertices whose coordinates are not numbers"),
        (QUAD + [0, 0, np.inf], TWO, "4 of 4 vertices whose coordinates are not numbers"),
        (QUAD, np.array([[0, 1, 7]]), "vertex indices lie outside its 4 vertices"),
        (QUAD * [1, 0, 0], TWO, "2 faces, all of zero area"),  # corners on a line
        (np.zeros((3, 3)), np.array([[0, 1, 2]]), "all of zero area"),  # corners coincide
    ],
    ids=["empty", "points", "nan", "inf", "bad-index", "collinear", "coincident"],
)
def test_no_surface_is_refused_with_its_reason(vertices, triangles, reason):
    with pytest.raises(UserError, match=reason) as caught:
        check_surface(vertices, triangles, "target 'Thing'")
    assert str(caught.value).startswith("target 'Thing' has ")
