"""A job in object storage (``s3://BUCKET/PREFIX``): the same job, its files as objects under the prefix.

``submit`` plans into a local staging folder and uploads it (``job.json`` last: a prefix is a job only once
everything a worker reads is there). A worker downloads the job once, renders its shard locally and uploads
each view as soon as it is written, then its proof (``proofs``). A view with a good proof is done: a second
attempt neither renders nor uploads it again. ``status`` lists; ``collect`` downloads what the plan names,
checked against the proofs, never a path taken from the bucket.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..app.dataset import IncompleteError, finalise, publishing, tracks_ok, wants_points
from ..app.ownership import describe, owned_files
from ..core.errors import UserError
from ..core.files import sha256_of
from ..core.layout import (
    BACKEND_DIR,
    COLLECTION_DIR,
    JOB_FILE,
    PLAN_DIR,
    PLAN_FILE,
    SCENE_FILE,
    TRACKS_FILE,
    shard_log,
)
from ..core.plan import MAX_PLAN_BYTES
from ..core.shards import shard_views
from ..core.text import one_line
from .engines import ENGINES
from .job import MAX_JOB_BYTES, read_job, tracks_damaged
from .location import S3Url
from .proofs import ViewUploader, listed_done, proof_rel, read_proof, verified_done, view_files
from .s3 import CONCURRENCY, S3Options, S3Store
from .scratch import scratch, staging_dir

MAX_TRACKS_BYTES = 1 << 30
MAX_LOG_BYTES = 8192
RENDER_CHUNK = 25
"""Frames per render call of a worker uploading as it goes: between chunks, a failed upload stops it."""


def check_prefix(store: S3Store, overwrite: bool):
    """Whether the prefix may take a new job: refused unless it is empty, or ours and ``overwrite`` (a job of
    ours, or the leftovers of a submission that failed half-way). Returns the spec of the job of ours there (the
    caller checks that its tasks are not running), or None."""
    existing = store.list()
    if not existing:
        return None
    if not overwrite:
        raise UserError(f"{store.url} already holds files; give --overwrite to replace the job there")
    if JOB_FILE not in existing and all(k.startswith((f"{PLAN_DIR}/", f"{COLLECTION_DIR}/")) for k in existing):
        return None  # an upload that failed before its job.json: ours, and no job
    if _collection_there(store):
        return _our_collection(store, existing)
    with scratch() as tmp:
        try:
            spec, plan = read_remote_job(store, Path(tmp), with_scene=False)
        except UserError:
            raise UserError(f"{store.url} holds files that are not a job of this tool; not replacing them") from None
    owned = owned_files(plan)
    foreign = sorted(k for k in existing if not (k.startswith(f"{PLAN_DIR}/") or k in owned))
    if foreign:
        raise UserError(f"{store.url} holds files that are not this tool's ({describe(foreign)}); not replacing them")
    return spec


def _collection_there(store: S3Store) -> bool:
    from .collection_job import job_kind

    raw = store.read(JOB_FILE, MAX_JOB_BYTES)
    return raw is not None and job_kind(raw) == "collection"


def _our_collection(store: S3Store, existing: dict):
    """The spec of the collection job of ours in the prefix, when everything there is its own."""
    from .collection_places import BucketAssets

    try:
        spec, batch = BucketAssets.of_store(store).read()
    except UserError:
        raise UserError(f"{store.url} holds files that are not a job of this tool; not replacing them") from None
    tops = {a.id.split("/")[0] for a in batch.assets}
    foreign = sorted(k for k in existing if not (k.startswith((f"{PLAN_DIR}/", f"{COLLECTION_DIR}/"))
                                                  or k.split("/")[0] in tops))  # fmt: skip
    if foreign:
        raise UserError(f"{store.url} holds files that are not this tool's ({describe(foreign)}); not replacing them")
    return spec


def upload_job(local: Path, store: S3Store, overwrite: bool) -> None:
    """The job made in ``local`` into the store, ``job.json`` last; a job of ours already there is replaced
    only with ``overwrite``, and anything else under the prefix is never touched. A failed upload removes
    what it put."""
    check_prefix(store, overwrite)
    existing = store.list()
    if existing:
        store.delete([JOB_FILE])  # first: a half-deleted prefix is no job
        store.delete(sorted(k for k in existing if k != JOB_FILE))
    put = []
    try:
        if (local / COLLECTION_DIR).is_dir():  # a collection's job: its assets, manifest and batch, then job.json
            files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
            files = [f for f in files if f != JOB_FILE]
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                for rel in pool.map(lambda rel: (store.upload(local / rel, rel), rel)[1], files):
                    put.append(rel)
            store.upload(local / JOB_FILE, JOB_FILE)
            put.append(JOB_FILE)
            return
        for rel in (SCENE_FILE, TRACKS_FILE, PLAN_FILE, JOB_FILE):
            if (local / rel).is_file():
                store.upload(local / rel, rel)
                put.append(rel)
    except BaseException:
        try:
            store.delete(put)
        except OSError:
            pass  # the bucket is what failed; check_prefix accepts these leftovers with --overwrite
        raise


def remove_unsubmitted(store: S3Store) -> None:
    """Take back a job just uploaded whose hand-over failed before anything was submitted (an engine's records
    of what it submitted lie under ``backend/``; best effort)."""
    try:
        if not store.list(f"{BACKEND_DIR}/"):
            store.delete([JOB_FILE])
            store.delete([SCENE_FILE, TRACKS_FILE, PLAN_FILE])
            store.delete(sorted(store.list(f"{COLLECTION_DIR}/")))  # a collection's assets and batch
    except (OSError, UserError):
        pass


def read_remote_job(store: S3Store, dest: Path, with_scene: bool, with_tracks: bool | None = None):
    """Download the job's spec and plan (and the scene and tracks for a worker; the tracks for collect) into
    ``dest``; checked as ``read_job`` checks a folder, and named by its URL."""
    if not store.download(JOB_FILE, dest / JOB_FILE, MAX_JOB_BYTES):
        store.list(f"{PLAN_DIR}/")  # a missing bucket says so (exit 1) rather than "no job"
        raise UserError(f"{store.url} holds no job ({JOB_FILE} is missing)")
    store.download(PLAN_FILE, dest / PLAN_FILE, MAX_PLAN_BYTES)
    try:
        spec, plan = read_job(dest, ENGINES, need_scene=False, kind="s3")
    except UserError as exc:
        raise UserError(str(exc).replace(str(dest), str(store.url))) from None
    if with_scene:
        download_scene(store, spec, dest / SCENE_FILE)
    if with_scene if with_tracks is None else with_tracks:
        download_tracks(store, dest)
    return spec, plan


def download_scene(store: S3Store, spec, path: Path) -> None:
    """The packed scene, exactly the bytes the job records (a format-1 job records none: it is taken whole)."""
    if spec.scene is None:
        if not store.download(SCENE_FILE, path):
            raise UserError(f"{store.url}: {SCENE_FILE} is missing")
    elif not store.download_exact(SCENE_FILE, path, spec.scene["size"], spec.scene["sha256"]):
        raise UserError(f"{store.url}: {SCENE_FILE} is missing, or not the scene the job was submitted with")


def read_spec(store: S3Store):
    """The job's spec alone (its plan checked against the digest all the same)."""
    with scratch() as tmp:
        return read_remote_job(store, Path(tmp), with_scene=False)[0]


def remote_tracks_ok(store: S3Store, plan) -> bool:
    """Whether the bucket holds the tracks the plan's points need (or it needs none)."""
    if not wants_points(plan):
        return True
    with scratch() as tmp:
        return download_tracks(store, tmp) and tracks_ok(tmp, plan)


def download_tracks(store: S3Store, dest: Path) -> bool:
    """The tracks into ``dest``; False when there are none or they are larger than any (damaged: sampled again
    by the next worker, never read)."""
    size = store.size(TRACKS_FILE)
    return size is not None and size <= MAX_TRACKS_BYTES and store.download(TRACKS_FILE, dest / TRACKS_FILE,
                                                                             MAX_TRACKS_BYTES)  # fmt: skip


def done_frames(store: S3Store, spec, plan) -> set[int]:
    """Frames with a proof of this plan and all their objects (one listing): what ``status`` counts."""
    return listed_done(store.list(), spec.digest, plan)


def run_remote_worker(url: S3Url, options: S3Options, shard=None, threads: int = 0, quiet=True, progress=None):
    """Render one shard of the job in ``url``: download, render what has no good proof yet, upload as it
    goes. Returns (the run, the shard, the uploader)."""
    from .worker import run_worker, shard_from_environment

    store = S3Store(url, options, patient=True)
    scratch = staging_dir()
    index = shard[0] if shard else None
    try:
        spec, plan = read_remote_job(store, scratch, with_scene=True)
        shard = shard or shard_from_environment(spec)
        index = shard[0]
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        store.put(shard_log(index), f"started at {started}\n".encode())  # fails at once where we may not write
        listing = store.list()
        done = verified_done(store, listing, spec.digest, plan, shard_views(plan.views, *shard))
        uploader = ViewUploader(store, plan, spec.digest, scratch)
        tracks = scratch / TRACKS_FILE
        tracks_before = sha256_of(tracks) if tracks.is_file() else None
        try:
            run, shard = run_worker(scratch, shard, threads, quiet, progress, done_elsewhere=done, on_view=uploader.add,
                                    between_chunks=uploader.check, chunk=RENDER_CHUNK, kind="s3")  # fmt: skip
        finally:
            uploader.finish()
        if tracks.is_file() and sha256_of(tracks) != tracks_before:
            store.upload(tracks, TRACKS_FILE)  # missing or damaged, so sampled again here: collect needs them
        store.put(shard_log(index), f"finished: {uploader.views} views uploaded\n".encode())
        return run, shard, uploader
    except BaseException as exc:
        if index is not None and isinstance(exc, (UserError, OSError)):
            _note_failure(store, index, exc)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _note_failure(store: S3Store, index: int, exc: BaseException) -> None:
    """The task's last words where ``status`` reads them (best effort: the bucket may be what failed)."""
    try:
        store.put(shard_log(index), f"failed: {redact(one_line(str(exc)), store)}\n".encode())
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
    """The shard's last log line, printable characters only (it is the bucket's text on a terminal)."""
    try:
        data = store.read(shard_log(index), MAX_LOG_BYTES) or b""
    except (OSError, UserError):
        return ""
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    return "".join(c for c in lines[-1] if c.isprintable())[:300] if lines else ""


def collect_remote(url: S3Url, options: S3Options, out: Path, overwrite: bool = False, progress=None) -> list[Path]:
    """Every view of the job in ``url`` downloaded into ``out`` and checked against its proof (missing ones
    refused by name), then the formats written there, without Blender. A view whose objects do not match
    their proof, or whose image fails the dataset's checks, loses the proof: the next worker, or
    ``--retry-missing``, renders it again. A collect that fails takes back all it put in ``out``."""
    store = S3Store(url, options)
    with scratch() as tmp:
        spec, plan = read_remote_job(store, Path(tmp), with_scene=False, with_tracks=True)
        listed = done_frames(store, spec, plan)
        missing = [v for v in plan.views if v.frame not in listed]
        if missing:
            raise IncompleteError(missing)
        if not tracks_ok(Path(tmp), plan):
            raise tracks_damaged(url)
        with publishing(out, plan, overwrite):
            try:
                if (Path(tmp) / TRACKS_FILE).is_file():
                    shutil.copyfile(Path(tmp) / TRACKS_FILE, out / TRACKS_FILE)
                bad = download_views(store, spec.digest, plan, out, progress)
                if bad:
                    raise IncompleteError(bad)
                return finalise(out, plan)
            except IncompleteError as exc:  # rendered again by the next worker of their shard
                store.delete([proof_rel(spec.digest, v.frame) for v in exc.views])
                raise


def download_views(store: S3Store, digest: str, plan, out: Path, progress=None) -> list:
    """Each view's files into ``out``, each checked against its proof's size and sha256; returns the views
    that did not match."""
    started, done, total = time.monotonic(), 0, sum(len(view_files(plan, v)) for v in plan.views)

    def download_view(view) -> bool:
        files = read_proof(store, digest, plan, view)
        return files is not None and all(store.download_exact(rel, out / rel, e["size"], e["sha256"])
                                         for rel, e in files.items())  # fmt: skip

    bad = []
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for view, good in zip(plan.views, pool.map(download_view, plan.views)):
            if not good:
                bad.append(view)
            done += len(view_files(plan, view))
            if progress:
                progress(done, total, time.monotonic() - started)
    return bad
