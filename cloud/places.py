"""Where a job lives, behind one interface: a folder every node reads (``FolderJob``), or a prefix in a bucket
(``BucketJob``). Each action (``cloud.actions``) and each engine asks its job's place, never which kind it is:
how the job is read, which views are done, a shard's last words, where a new job is made and how it is handed
in, how a worker reaches it and renders its shard, and how the dataset is collected from it.

A place is named by its location (``cloud.location``): ``s3://BUCKET/PREFIX``, or any other text as a folder.
A bucket is reached as the user says now (``S3Options``: endpoint, region, profile name), never as the job says:
a job in a bucket is anyone's file, and it must not send requests signed with the user's credentials to a host
of its choosing.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from ..core.errors import UserError
from ..core.files import last_line
from ..core.layout import JOB_FILE, SUBMIT_LOCK, shard_log
from .collection_places import assets_of
from .engines import ENGINES
from .location import S3Url, parse_location
from .s3 import S3Options


class FolderJob:
    kind = "folder"
    online = False
    reach = None

    def __init__(self, location: Path):
        self.location = Path(location)

    def __str__(self) -> str:
        return str(self.location)

    def assets(self):
        """A collection job's records and outputs here (``cloud.collection_places``)."""
        return assets_of(self)

    def job_kind(self) -> str:
        """Which job the folder holds, "collection" or "scene" (what ``read`` then checks in full)."""
        from ..core.untrusted import Unreadable, read_bounded
        from .collection_job import job_kind
        from .job import MAX_JOB_BYTES

        try:
            return job_kind(read_bounded(self.location / JOB_FILE, self.location, MAX_JOB_BYTES))
        except Unreadable:
            return "scene"

    def read(self, need_scene: bool = True):
        """(spec, plan) of a scene's job, (spec, batch) of a collection's."""
        from .job import read_job

        if self.job_kind() == "collection":
            return assets_of(self).read()
        return read_job(self.location, ENGINES, need_scene)

    def tracks_ok(self, plan) -> bool:
        from ..app.dataset import tracks_ok

        return tracks_ok(self.location, plan)

    def is_done(self, spec, plan):
        """A predicate: is this view's every file complete (decoded to its end, the right size)?"""
        from ..app.dataset import view_complete

        return lambda view: view_complete(plan, self.location, view)

    def log_line(self, index: int) -> str:
        return last_line(self.location / shard_log(index))

    def existing_job(self, overwrite: bool):
        """A folder is checked when the job is planned into it (the output folder's rules)."""
        return None

    def staging(self) -> Path:
        """Where a new job is made: the folder itself."""
        return self.location

    def hand_in(self, made: Path, overwrite: bool) -> None:
        """The job was made in place: nothing to move."""

    def take_back(self) -> None:
        """Nothing was moved."""

    def drop_staging(self, made: Path) -> None:
        """The job stays where it was made."""

    def write_spec(self, spec) -> None:
        from .job import write_job

        write_job(self.location, spec)

    @contextlib.contextmanager
    def submitting(self, engine):
        """The job folder while its shards are handed to ``engine`` again (a retry, a cancel): one submission
        at a time, never beside a run that replaces or collects the job. An engine that runs its workers here
        holds the folder itself (its workers run under it); the others let the workers on their nodes go on."""
        from ..app.lock import OutputLock

        locks = [OutputLock(self.location)] if engine.runs_here else [
            OutputLock(self.location, shared=True), OutputLock(self.location, lock=SUBMIT_LOCK)]  # fmt: skip
        with contextlib.ExitStack() as held:
            for lock in locks:
                lock.acquire()
                held.callback(lock.release)
            yield

    def worker_args(self, mounted: str | None = None) -> list[str]:
        """How a worker elsewhere (a container) names the job: where its volume mounts it, or this path."""
        return ["--job", mounted or str(self.location)]

    def default_out(self) -> Path:
        """``collect`` finalises a job folder in place unless told otherwise."""
        return self.location

    def collect(self, out: Path, overwrite: bool = False, progress=None) -> list[Path]:
        from .collector import collect_job

        job, out = self.location, Path(out)
        if out != job and (job.resolve() in out.resolve().parents or out.resolve() in job.resolve().parents):
            raise UserError(f"--out {out} and --job {job} must be the same folder, or neither inside the other")
        if self.job_kind() == "collection":
            from .collection_collect import collect_assets

            return collect_assets(self, out, overwrite, progress)
        return collect_job(job, out, overwrite)

    def render_shard(self, shard, threads: int, quiet: bool, progress, under_parent: bool) -> str:
        from .worker import run_worker

        if self.job_kind() == "collection":
            from .collection_worker import run_collection_worker

            return run_collection_worker(self, shard, threads, quiet, under_parent)
        run, shard = run_worker(self.location, shard, threads, quiet, progress, under_parent)
        return f"rendered shard {shard[0]}/{shard[1]} of {self}: {run.render.done} views"


class BucketJob:
    kind = "s3"
    online = True

    def __init__(self, url: S3Url, reach: S3Options | None = None):
        self.location, self.reach = url, reach or S3Options()
        self._store = None

    def __str__(self) -> str:
        return str(self.location)

    @property
    def store(self):
        """The bucket's client, made once it is needed (boto3 is imported then)."""
        if self._store is None:
            from .s3 import S3Store

            self._store = S3Store(self.location, self.reach)
        return self._store

    def assets(self):
        return assets_of(self)

    def job_kind(self) -> str:
        from .collection_job import job_kind
        from .job import MAX_JOB_BYTES

        raw = self.store.read(JOB_FILE, MAX_JOB_BYTES)
        return job_kind(raw) if raw is not None else "scene"

    def read(self, need_scene: bool = False):
        """The spec and plan (a bucket's scene is for workers only: ``render_shard`` downloads it); a
        collection's spec and batch."""
        from .remote import read_remote_job
        from .scratch import scratch

        if self.job_kind() == "collection":
            return assets_of(self).read()
        with scratch() as tmp:
            return read_remote_job(self.store, tmp, with_scene=False)

    def tracks_ok(self, plan) -> bool:
        from .remote import remote_tracks_ok

        return remote_tracks_ok(self.store, plan)

    def is_done(self, spec, plan):
        from .remote import done_frames

        done = done_frames(self.store, spec, plan)
        return lambda view: view.frame in done

    def log_line(self, index: int) -> str:
        from .remote import last_log_line

        return last_log_line(self.store, index)

    def existing_job(self, overwrite: bool):
        """Before any planning: a bucket we cannot reach or may not fill fails at once. The spec of a job of
        ours already there (``overwrite`` replaces it), or None."""
        from .remote import check_prefix

        return check_prefix(self.store, overwrite)

    def staging(self) -> Path:
        """Where a new job is made before it is uploaded: a scratch folder of this process."""
        from .scratch import staging_dir

        return staging_dir()

    def hand_in(self, made: Path, overwrite: bool) -> None:
        from .remote import upload_job

        upload_job(made, self.store, overwrite)

    def take_back(self) -> None:
        """A job just uploaded whose hand-over failed before anything was submitted leaves no job behind."""
        from .remote import remove_unsubmitted

        remove_unsubmitted(self.store)

    def drop_staging(self, made: Path) -> None:
        shutil.rmtree(made, ignore_errors=True)

    def write_spec(self, spec) -> None:
        raise UserError(f"{self}: a job in a bucket keeps the options it was submitted with")

    def submitting(self, engine):
        """A bucket has no lock: each submission is an object of its own (``aws_batch.SUBMISSIONS``)."""
        return contextlib.nullcontext()

    def worker_args(self, mounted: str | None = None) -> list[str]:
        """A worker reaches the same bucket with its own credentials (its role): endpoint and region only."""
        return ["--job", str(self.location), *self.reach.worker_args()]

    def default_out(self) -> Path:
        raise UserError(f"give --out DIR: the dataset of {self} is downloaded there")

    def collect(self, out: Path, overwrite: bool = False, progress=None) -> list[Path]:
        from .remote import collect_remote

        if self.job_kind() == "collection":
            from .collection_collect import collect_assets

            return collect_assets(self, Path(out), overwrite, progress)
        return collect_remote(self.location, self.reach, Path(out), overwrite, progress)

    def render_shard(self, shard, threads: int, quiet: bool, progress, under_parent: bool) -> str:
        from .remote import run_remote_worker

        if self.job_kind() == "collection":
            from .collection_worker import run_collection_worker

            return run_collection_worker(self, shard, threads, quiet, under_parent)

        run, shard, uploads = run_remote_worker(self.location, self.reach, shard, threads, quiet, progress)
        return (f"rendered shard {shard[0]}/{shard[1]} of {self}: {run.render.done} views; "
                f"uploaded {uploads.views} views ({uploads.files} files)")  # fmt: skip


def job_place(where, reach: S3Options | None = None) -> FolderJob | BucketJob:
    """The place a location names (text as typed, or a parsed location), reached with ``reach`` if a bucket."""
    location = parse_location(where) if isinstance(where, str) else where
    if isinstance(location, S3Url):
        return BucketJob(location, reach)
    return FolderJob(location)
