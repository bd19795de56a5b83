"""``cli.py collect --job DIR --out OUT``: check every view of a job, then write every format. No Blender.

While views are missing it refuses, naming them. OUT may be the job folder itself (finalised in place) or
another folder, which gets the plan, the points and links to (or copies of) every rendered file.
"""

from __future__ import annotations

from pathlib import Path

from ..app.dataset import (
    IncompleteError,
    finalise,
    pass_files,
    pending_views,
    publishing,
    refuse_foreign_files,
    tracks_ok,
)
from ..app.lock import OutputLock
from ..core.files import link_or_copy
from ..core.layout import TRACKS_FILE
from .engines import ENGINES
from .job import read_job, tracks_damaged


def collect_job(job_dir: Path, out: Path, overwrite: bool = False) -> list[Path]:
    job_dir, out = Path(job_dir).absolute(), Path(out).expanduser().absolute()
    _, plan = read_job(job_dir, ENGINES)
    refuse_foreign_files(job_dir, plan, "job")  # before anything is made in --out
    missing = pending_views(plan, job_dir)
    if missing:
        raise IncompleteError(missing)
    if not tracks_ok(job_dir, plan):
        raise tracks_damaged(job_dir)
    if out.resolve() == job_dir.resolve():  # finalised in place: its files are the job's own, kept whatever fails
        lock = OutputLock(out).acquire()
        try:
            return finalise(out, plan)
        finally:
            lock.release()
    with publishing(out, plan, overwrite):
        if (job_dir / TRACKS_FILE).is_file():
            link_or_copy(job_dir / TRACKS_FILE, out / TRACKS_FILE)
        for view in plan.views:
            for rel in [view.image, *map(str, pass_files(plan, view).values())]:
                link_or_copy(job_dir / rel, out / rel)
        return finalise(out, plan)
