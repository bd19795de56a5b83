"""The Slurm array script is a shell script sbatch also reads: a job folder can't put a line of its own into it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nerf_dataset.cloud.engines.slurm import SlurmOptions, array_script
from nerf_dataset.core.errors import UserError


@pytest.mark.parametrize("name", ["sl\ntouch /tmp/PWNED #", "with space", "tab\there", "bell\x07"])
def test_a_folder_that_could_break_an_sbatch_line_is_refused(tmp_path, name):
    with pytest.raises(UserError, match="no spaces or control characters"):
        array_script(tmp_path / name, SlurmOptions())


def test_a_percent_in_the_folder_stays_a_percent(tmp_path):
    script = array_script(tmp_path / "100%", SlurmOptions(worker_command=("python", "cli.py")))
    assert f"#SBATCH --output={tmp_path}/100%%/.nerf_dataset/logs/shard-%a.log" in script.splitlines()
    assert Path(tmp_path / "100%").name in script
