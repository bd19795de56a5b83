import pytest

from nerf_dataset.app.processes import threads_per_worker
from nerf_dataset.commands.render import build_parser, run_options


@pytest.mark.parametrize("workers,cores,threads", [(1, 2, 2), (2, 2, 1), (4, 2, 1), (3, 16, 5)])
def test_cores_are_split_between_workers(workers, cores, threads):
    assert threads_per_worker(workers, cores) == threads


def test_default_is_one_worker_as_measured():
    assert run_options(build_parser().parse_args(["--out", "d"])).workers == 1
