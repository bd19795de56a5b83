"""Every option with typed and untyped garbage: exit 2, one line, nothing written or deleted; and whatever the
checks let through is a value Blender and every consumer can take (finite, in range)."""

from __future__ import annotations

import contextlib
import io
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerf_dataset.app.processes import max_workers
from nerf_dataset.commands import main
from nerf_dataset.commands.render import build_parser, run_options, settings_from_args
from nerf_dataset.core.errors import UserError
from nerf_dataset.core.settings import MAX_SIDE_PX, MIN_SIDE_PX, SETTING_FIELDS, kind_of

SKIP = {"--out", "--blend", "--import", "--object", "--camera-path-from", "-h"}
# Every option that takes a value (flags like --transparent take none), as the parser lists them.
VALUED = sorted(
    a.option_strings[0]
    for a in build_parser()._actions
    if a.option_strings and a.nargs is None and a.option_strings[0] not in SKIP
)
WORDS = ["", "nan", "-nan", "inf", "-inf", "1e308", "-1e308", "1x1", "3x3", "0x0", "4x4", "16384x16385", ",", ",,",
         "a,b", "-0", "0", "-1", "2/1", "0/0", "-1/2", "1/0", "x", "１２", "80,10", "nan,10", "10,nan", "2,2",
         "depth,depth", "nerf,", "9" * 30, "0x10", "4x3", "1e-320", ":\x85", "a\u2028b"]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(WORDS),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=20),
    st.lists(st.sampled_from(["nerf", "ngp", "colmap", "depth", "mask", "2", "4", "16", "?"]), max_size=4).map(
        ",".join
    ),
)


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def occupied(tmp_path_factory):
    """An output folder holding a dataset of ours and a user's file: nothing may touch either."""
    from nerf_dataset.app.dataset import RunOptions, Source
    from nerf_dataset.app.pipeline import make_dataset

    out = tmp_path_factory.mktemp("occupied") / "out"
    argv = ["--out", "x", "--train", "1", "--val", "0", "--test", "1", "--resolution", "16x12", "--samples", "1"]
    small = settings_from_args(build_parser().parse_args([*argv, "--points", "0"]))
    job = make_dataset(small, Source(demo=True), RunOptions(out=out))
    job.planned.release()
    (out / "notes.txt").write_text("mine")
    return out, tree(out)


def sane(s, run) -> None:
    """What the checks let through: finite numbers in the ranges Blender and the consumers accept."""
    for name in SETTING_FIELDS:
        value = getattr(s, name)
        if kind_of(name) in ("int", "float") and value is not None:
            assert math.isfinite(value), name
    if s.resolution is not None:
        assert all(MIN_SIDE_PX <= x <= MAX_SIDE_PX for x in s.resolution)
        assert all(x // max(s.downscales, default=1) >= MIN_SIDE_PX for x in s.resolution)
    assert 0 <= s.seed < 2**31 and (s.samples is None or s.samples >= 1) and 0 <= s.points <= 10**7
    assert (s.radius is None or s.radius > 0) and (s.lens is None or s.lens > 0) and s.turns > 0 and s.rings >= 1
    assert all(v is None or v >= 0 for v in (s.train, s.val, s.test))
    assert all(e is None or -90 <= e <= 90 for e in (s.elevation_min, s.elevation_max, s.test_elevation))
    assert s.formats and len(set(s.formats)) == len(s.formats)
    assert run.shard is None or 0 <= run.shard[0] < run.shard[1]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.sampled_from(VALUED), VALUES), min_size=1, max_size=3), dangling=st.booleans())
def test_garbage_in_any_option_is_one_line_and_touches_nothing(occupied, picks, dangling):
    out, before = occupied
    argv = ["--demo", "--out", str(out)] + [x for option, value in picks for x in (option, value)]
    if dangling:
        argv.append(picks[0][0])  # an option without its value
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["cli.py", *argv])
    lines = err.getvalue().strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("cli.py: error: "), err.getvalue()
    assert tree(out) == before
    try:
        args = build_parser().parse_args(argv)
        s, run = settings_from_args(args), run_options(args)
    except UserError:
        return
    sane(s, run)
    assert 1 <= run.workers <= max_workers()
