import pytest

from nerf_dataset.app.commandline import build_parser, worker_args
from nerf_dataset.app.parallel import threads_per_worker


def test_workers_get_the_dataset_options_but_not_the_parents():
    argv = ["--demo", "--out", "d", "--workers", "3", "--overwrite", "--seed", "4", "--retries=5", "--verbose"]
    assert worker_args(argv, build_parser().parse_args(argv)) == ["--demo", "--out", "d", "--seed", "4"]


@pytest.mark.parametrize("workers,cores,threads", [(1, 2, 2), (2, 2, 1), (4, 2, 1), (3, 16, 5)])
def test_cores_are_split_between_workers(workers, cores, threads):
    assert threads_per_worker(workers, cores) == threads


def test_default_is_one_worker_as_measured():
    assert build_parser().parse_args(["--out", "d"]).workers == 1
