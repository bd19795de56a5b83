import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerf_dataset.core.conventions import c2w_opengl_to_w2c_opencv, look_at_c2w_opengl
from nerf_dataset.core.errors import UserError
from nerf_dataset.core.rigs import SPLITS, RigSpec, orbit_directions, poses_from_directions

COUNTS = {"train": 100, "val": 100, "test": 200}


def all_dirs(d):
    return np.concatenate([d[s] for s in SPLITS])


@pytest.mark.parametrize("kind", ["hemisphere", "sphere", "rings", "spiral"])
def test_no_two_views_coincide_and_all_are_unit(kind):
    lo = -90.0 if kind == "sphere" else 0.0
    d = orbit_directions(RigSpec(kind=kind, elevation_min_deg=lo), COUNTS, seed=3)
    assert {s: len(d[s]) for s in SPLITS} == COUNTS
    dirs = all_dirs(d)
    assert np.allclose(np.linalg.norm(dirs, axis=1), 1.0)
    cos = dirs @ dirs.T
    np.fill_diagonal(cos, -1)
    assert cos.max() < np.cos(1e-4)


def test_hemisphere_is_upper_and_evenly_spread():
    d = orbit_directions(RigSpec(), COUNTS, seed=0)
    train = d["train"]
    assert train[:, 2].min() >= 0.0
    # Equal-area spread: as many views above as below 30 degrees elevation (half the hemisphere's area).
    assert abs((train[:, 2] > 0.5).sum() - 50) <= 1
    assert np.allclose(np.degrees(np.arcsin(d["test"][:, 2])), 30.0)


def test_sphere_reaches_below_the_horizon():
    d = orbit_directions(RigSpec(kind="sphere", elevation_min_deg=-90), COUNTS, seed=0)
    assert d["train"][:, 2].min() < -0.9 and d["train"][:, 2].max() > 0.9


def test_rings_sit_on_their_elevations_and_val_interleaves():
    spec = RigSpec(kind="rings", rings=3, elevation_min_deg=0, elevation_max_deg=60)
    d = orbit_directions(spec, {"train": 30, "val": 30, "test": 10}, seed=1)
    elevations = np.round(np.degrees(np.arcsin(d["train"][:, 2])), 6)
    assert sorted(set(elevations)) == [10.0, 30.0, 50.0]
    assert sorted(set(np.round(np.degrees(np.arcsin(d["val"][:, 2])), 6))) == [10.0, 30.0, 50.0]


def test_spiral_rises_monotonically():
    d = orbit_directions(RigSpec(kind="spiral", elevation_min_deg=5, elevation_max_deg=80), COUNTS, seed=1)
    assert np.all(np.diff(d["train"][:, 2]) > 0)


def test_seed_changes_the_views_and_is_repeatable():
    a, b, c = (orbit_directions(RigSpec(), COUNTS, seed=s) for s in (1, 1, 2))
    assert np.array_equal(all_dirs(a), all_dirs(b))
    assert not np.allclose(all_dirs(a), all_dirs(c))


def test_bad_elevation_range_is_a_user_error():
    with pytest.raises(UserError):
        orbit_directions(RigSpec(elevation_min_deg=50, elevation_max_deg=10), COUNTS, seed=0)


@settings(max_examples=50, deadline=None)
@given(
    eye=st.tuples(*[st.floats(-50, 50)] * 3),
    target=st.tuples(*[st.floats(-5, 5)] * 3),
)
def test_look_at_puts_the_target_on_the_optical_axis(eye, target):
    eye, target = np.array(eye), np.array(target)
    if np.linalg.norm(eye - target) < 1e-3:
        return
    c2w = look_at_c2w_opengl(eye, target)
    r = c2w[:3, :3]
    assert np.allclose(r.T @ r, np.eye(3), atol=1e-9) and np.linalg.det(r) == pytest.approx(1.0)
    # OpenCV camera: the target is straight ahead (+Z), on the axis; camera +Y (down) points to world -Z.
    p = c2w_opengl_to_w2c_opencv(c2w) @ np.append(target, 1.0)
    assert p[2] > 0 and np.allclose(p[:2], 0.0, atol=1e-7 * max(1.0, p[2]))
    if abs(np.dot(r[:, 2], [0, 0, 1])) < 0.999:
        assert r[2, 1] >= -1e-9  # camera up (+Y, OpenGL) never points below the horizon: world +Z stays up


def test_poses_sit_at_the_radius_around_the_centre():
    d = orbit_directions(RigSpec(), COUNTS, seed=0)
    poses = poses_from_directions(d["train"], center=(1, 2, 3), radius=4.0)
    dist = [np.linalg.norm(p[:3, 3] - np.array([1, 2, 3])) for p in poses]
    assert np.allclose(dist, 4.0)


@settings(max_examples=200, deadline=None)
@given(q=st.tuples(*[st.floats(-1, 1)] * 4))
def test_quaternion_round_trips_every_rotation(q):
    from nerf_dataset.core.conventions import rotation_to_quaternion_wxyz

    q = np.array(q)
    if np.linalg.norm(q) < 1e-3:
        return
    w, x, y, z = q / np.linalg.norm(q)
    rot = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip
    got = rotation_to_quaternion_wxyz(rot)
    expected = np.array([w, x, y, z]) * (1 if w >= 0 else -1)
    assert got[0] >= 0 and (np.allclose(got, expected, atol=1e-9) or abs(w) < 1e-9)
