"""Scratch folders of this process (a bucket job made before its upload, a worker's download, a collect's
staging): named by the pid, so that those of processes that died (a killed worker) are removed by the next."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..app.processes import pid_alive

STAGING = re.compile(r"nerf_dataset-job-(\d+)-")


def staging_dir() -> Path:
    """A scratch folder of this process; those of processes that died (a killed worker) are removed."""
    root = Path(tempfile.gettempdir())
    for old in root.glob("nerf_dataset-job-*"):
        m = STAGING.match(old.name)
        if m and not pid_alive(int(m[1])):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"nerf_dataset-job-{os.getpid()}-"))


@contextlib.contextmanager
def scratch():
    """A ``staging_dir`` for the length of a block: removed after it, or by a later run when this one is killed."""
    folder = staging_dir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
