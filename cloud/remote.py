"""A job in object storage (``s3://BUCKET/PREFIX``): the same job, its files as objects under the prefix.

``submit`` plans into a local staging folder and uploads it (``job.json`` last: a prefix is a job only once
everything a worker reads is there). A worker downloads the job once, renders its shard locally and uploads
each view (image, then passes, then one record object per view: S3 has no append) as soon as it is written.
A view with a record is done: a second attempt neither renders nor uploads it again. ``status`` lists the
records; ``collect`` downloads what the plan names, never a path taken from the bucket.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..app.dataset import IncompleteError, collect, pass_files, prepare_out_dir
from ..app.lock import OutputLock
from ..app.ownership import describe, owned_files
from ..core.errors import UserError
from ..core.plan import MAX_PLAN_BYTES, PLAN_DIR, PLAN_FILE, save_plan
from ..core.points import TRACKS_FILE
from .job import JOB_FILE, LOG_DIR, MAX_JOB_BYTES, SCENE_FILE, read_job
from .location import S3Url
from .s3 import CONCURRENCY, S3Options, S3Store

RECORD_DIR = f"{PLAN_DIR}/views"
MAX_TRACKS_BYTES = 1 << 30
MAX_LOG_BYTES = 8192


def record_rel(frame: int) -> str:
    return f"{RECORD_DIR}/{frame}.json"


def log_rel(shard: int) -> str:
    return f"{LOG_DIR}/shard-{shard}.log"


def view_files(plan, view) -> list[str]:
    """The files of one view, passes before the image (a complete image means complete passes)."""
    return [*map(str, pass_files(plan, view).values()), str(view.image)]


def staging_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="nerf_dataset-job-"))


def check_prefix(store: S3Store, overwrite: bool) -> dict[str, int]:
    """What is under the prefix; refused unless it is empty, or a job of ours and ``overwrite``."""
    existing = store.list()
    if not existing:
        return existing
    if not overwrite:
        raise UserError(f"{store.url} already holds files; give --overwrite to replace the job there")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _, plan = read_remote_job(store, Path(tmp), with_scene=False)
        except UserError:
            raise UserError(f"{store.url} holds files that are not a job of this tool; not replacing them") from None
    owned = owned_files(plan)
    foreign = sorted(k for k in existing if not (k.startswith(f"{PLAN_DIR}/") or k in owned))
    if foreign:
        raise UserError(f"{store.url} holds files that are not this tool's ({describe(foreign)}); not replacing them")
    return existing


def upload_job(local: Path, store: S3Store, overwrite: bool) -> None:
    """The job made in ``local`` into the store, ``job.json`` last; a job of ours already there is replaced
    only with ``overwrite``, and anything else under the prefix is never touched."""
    existing = check_prefix(store, overwrite)
    if existing:
        store.delete([JOB_FILE])  # first: a half-deleted prefix is no job
        store.delete(sorted(k for k in existing if k != JOB_FILE))
    for rel in (SCENE_FILE, TRACKS_FILE, PLAN_FILE, JOB_FILE):
        if (local / rel).is_file():
            store.upload(local / rel, rel)


def read_remote_job(store: S3Store, dest: Path, with_scene: bool, with_tracks: bool | None = None):
    """Download the job's spec and plan (and the scene and tracks for a worker; the tracks for collect) into
    ``dest``; checked as ``read_job`` checks a folder."""
    if not store.download(JOB_FILE, dest / JOB_FILE, MAX_JOB_BYTES):
        raise UserError(f"{store.url} holds no job ({JOB_FILE} is missing)")
    store.download(PLAN_FILE, dest / PLAN_FILE, MAX_PLAN_BYTES)
    if with_scene:
        store.download(SCENE_FILE, dest / SCENE_FILE)
    if with_scene if with_tracks is None else with_tracks:
        store.download(TRACKS_FILE, dest / TRACKS_FILE, MAX_TRACKS_BYTES)
    return read_job(dest, need_scene=with_scene)


def read_spec(store: S3Store):
    """The job's spec alone (its plan checked against the digest all the same)."""
    with tempfile.TemporaryDirectory() as tmp:
        return read_remote_job(store, Path(tmp), with_scene=False)[0]


def done_frames(store: S3Store, plan) -> set[int]:
    """Frames of the plan whose record is in the store (their files were uploaded before it)."""
    frames = {v.frame for v in plan.views}
    done = set()
    for rel in store.list(f"{RECORD_DIR}/"):
        name = rel[len(RECORD_DIR) + 1 :]
        stem = name[:-5] if name.endswith(".json") else ""
        if stem.isascii() and stem.isdigit() and len(stem) <= 9 and int(stem) in frames:
            done.add(int(stem))
    return done


class ViewUploader:
    """Uploads each finished view in the background while the next renders; the first failure stops it."""

    def __init__(self, store: S3Store, plan, root: Path):
        self.store, self.plan, self.root = store, plan, root
        self.pool = ThreadPoolExecutor(max(1, CONCURRENCY // 2), thread_name_prefix="upload")
        self.futures = []
        self.files = 0
        self.views = 0
        self._lock = threading.Lock()

    def add(self, view) -> None:
        self.futures.append(self.pool.submit(self._upload, view))

    def _upload(self, view) -> None:
        sizes = {rel: (self.root / rel).stat().st_size for rel in view_files(self.plan, view)}
        for rel in sizes:
            self.store.upload(self.root / rel, rel)
        record = {"frame": view.frame, "files": sizes}
        self.store.put(record_rel(view.frame), json.dumps(record, sort_keys=True).encode())
        with self._lock:
            self.files += len(sizes)
            self.views += 1

    def finish(self) -> None:
        try:
            for f in self.futures:
                f.result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def run_remote_worker(url: S3Url, options: S3Options, shard=None, threads: int = 0, quiet=True, progress=None):
    """Render one shard of the job in ``url``: download, render what has no record yet, upload as it goes.
    Returns (job, shard, uploader)."""
    from .worker import run_worker

    store = S3Store(url, options)
    scratch = staging_dir()
    index = shard[0] if shard else None
    try:
        spec, plan = read_remote_job(store, scratch, with_scene=True)
        from .job import shard_from_environment

        shard = shard or shard_from_environment(spec)
        index = shard[0]
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        store.check_writable(log_rel(index), f"started at {started}\n".encode())
        done = frozenset(done_frames(store, plan))
        uploader = ViewUploader(store, plan, scratch)
        try:
            job, shard = run_worker(scratch, shard, threads, quiet, progress, done_elsewhere=done, on_view=uploader.add)
        finally:
            uploader.finish()
        store.put(log_rel(index), f"finished: {uploader.views} views uploaded\n".encode())
        return job, shard, uploader
    except BaseException as exc:
        if index is not None and isinstance(exc, (UserError, OSError)):
            _note_failure(store, index, exc)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _note_failure(store: S3Store, index: int, exc: BaseException) -> None:
    """The task's last words where ``status`` reads them (best effort: the bucket may be what failed)."""
    from ..app.cli_parts import one_line

    text = redact(one_line(str(exc)), store)
    try:
        store.put(log_rel(index), f"failed: {text}\n".encode())
    except (OSError, UserError):
        pass


def redact(text: str, store: S3Store) -> str:
    """Never let a credential into anything we write, even inside an error message."""
    creds = store.client._request_signer._credentials  # the resolved chain's own values
    for secret in (getattr(creds, "access_key", None), getattr(creds, "secret_key", None)):
        if secret:
            text = text.replace(secret, "***")
    return text


def last_log_line(store: S3Store, index: int) -> str:
    try:
        data = store.read(log_rel(index), MAX_LOG_BYTES) or b""
    except (OSError, UserError):
        return ""
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else ""


def collect_remote(url: S3Url, options: S3Options, out: Path, overwrite: bool = False, progress=None) -> list[Path]:
    """Every view of the job in ``url`` downloaded into ``out`` (missing ones refused by name), then the
    formats written there, without Blender."""
    store = S3Store(url, options)
    with tempfile.TemporaryDirectory() as tmp:
        _, plan = read_remote_job(store, Path(tmp), with_scene=False, with_tracks=True)
        done = done_frames(store, plan)
        missing = [v for v in plan.views if v.frame not in done]
        if missing:
            raise IncompleteError(missing)
        lock = OutputLock(out).acquire()
        try:
            prepare_out_dir(out, overwrite)
            save_plan(plan, out)
            if (Path(tmp) / TRACKS_FILE).is_file():
                shutil.copyfile(Path(tmp) / TRACKS_FILE, out / TRACKS_FILE)
            download_views(store, plan, out, progress)
            return collect(out, plan)
        finally:
            lock.release()


def download_views(store: S3Store, plan, out: Path, progress=None) -> None:
    files = [rel for v in plan.views for rel in view_files(plan, v)]
    started, done = time.monotonic(), 0
    with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="download") as pool:
        futures = [pool.submit(_fetch, store, rel, out / rel) for rel in files]
        for f in futures:
            f.result()
            done += 1
            if progress:
                progress(done, len(files), time.monotonic() - started)


def _fetch(store: S3Store, rel: str, path: Path) -> None:
    if not store.download(rel, path):
        raise UserError(f"{store.where(rel)} is missing although its view has a record; rerun its shard")
