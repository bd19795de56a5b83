import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerf_dataset.core.errors import UserError
from nerf_dataset.core.shards import append_done, done_list_path, parse_shard, read_done, shard_views, start_done_list


@given(n_views=st.integers(0, 500), count=st.integers(1, 64))
def test_shards_are_disjoint_contiguous_and_cover_the_plan(n_views, count):
    views = list(range(n_views))
    blocks = [shard_views(views, i, count) for i in range(count)]
    assert sum(blocks, []) == views
    sizes = [len(b) for b in blocks]
    assert max(sizes) - min(sizes) <= 1
    assert all(b == list(range(b[0], b[0] + len(b))) for b in blocks if b)


@pytest.mark.parametrize("bad", ["3", "a/b", "4/4", "-1/2", "0/0"])
def test_bad_shard_specs_are_user_errors(bad):
    from nerf_dataset.app.dataset import RunOptions
    from nerf_dataset.core.options import value_from_text

    with pytest.raises(UserError, match="^--shard "):
        value_from_text(RunOptions, "shard", bad)


def test_records_round_trip_and_survive_a_torn_line(tmp_path):
    assert parse_shard("2/5") == (2, 5)
    assert read_done(tmp_path, 0, 2) == set()
    start_done_list(tmp_path, 0, 2, [3, 1])
    append_done(tmp_path, 0, 2, 7)
    with open(done_list_path(tmp_path, 0, 2), "a") as f:
        f.write("9")  # a crash in the middle of writing "91\n"
    assert read_done(tmp_path, 0, 2) == {1, 3, 7}
