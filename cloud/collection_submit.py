"""``cli.py submit --import-dir DIR | --import-list FILE``: a collection made a job, with no Blender.

The batch is planned once (``app.collection_run.plan_batch``: the assets, their ids, the settings), every refusal
said before anything is written; then the job is made in its folder (a new one, or a collection job of ours that
``--overwrite`` replaces when none of its tasks runs) or in a scratch folder that is uploaded to the bucket, and
handed to the engine as any job is (``cloud.actions.hand_over``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..app.collection_run import DEFAULT_TIMEOUT, plan_batch
from ..core.collection import AssetOptions, CollectionOptions
from ..core.errors import UserError
from ..core.layout import COLLECTION_DIR, INDEX_CSV, INDEX_JSON, PLAN_DIR
from .collection_job import check_shards, find_bundles, make_collection_job


class Held:
    """What a made job holds until it is handed over: a folder job's lock (its local workers run under it), or
    nothing (a bucket's)."""

    def __init__(self, lock=None):
        self.lock = lock

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()


def make_collection(sub, settings, options: AssetOptions, collection: CollectionOptions) -> tuple[Path, Held]:
    """The job made in its folder (a bucket's: a scratch folder), ready to be handed over, and what it holds;
    refused in one sentence, leaving nothing."""
    place = sub.place
    target = Path(place.location) if place.kind == "folder" else None
    batch = plan_batch(settings, options, collection, target or Path(tempfile.gettempdir()) / "nerf_dataset-none")
    check_shards(sub.asked.shards, len(batch.assets))
    found = find_bundles(batch, collection)  # every model read before an old job is replaced
    if target is not None:
        lock, made = _claim_folder(place, sub.overwrite)
        folder = target
    else:
        lock, made, folder = None, [], place.staging()
    record = sub.engine.record(sub.options, place.reach)
    timeout = collection.asset_timeout or DEFAULT_TIMEOUT
    try:
        make_collection_job(folder, batch, found, sub.asked.shards, sub.engine.name, record, timeout)
    except BaseException:
        if target is None:
            place.drop_staging(folder)
        else:
            lock.release()
            _remove_ours(folder, made, with_lock=True)
        raise
    return folder, Held(lock)


def _claim_folder(place, overwrite: bool):
    """The job folder made ready and locked: new, empty, or a collection job of ours (replaced with
    ``overwrite`` when no worker or engine task runs on it). Returns (its lock, the folders made here: a refused
    job removes them)."""
    from ..app.lock import OutputLock
    from .status import refuse_busy

    folder = Path(place.location)
    if folder.is_symlink() or folder.exists() and not folder.is_dir():
        raise UserError(f"--job {folder} exists and is not a folder")
    made = [] if folder.exists() else [folder]
    entries = list(folder.iterdir()) if folder.exists() else []
    spec = batch = None
    if entries:
        if place.job_kind() != "collection":
            raise UserError(f"--job {folder} holds files that are not a collection job of this tool; choose a new "
                            "folder")  # fmt: skip
        spec, batch = place.read()
        if not overwrite:
            raise UserError(f"--job {folder} holds a collection job: give --overwrite to replace it, or choose "
                            "another folder")  # fmt: skip
        ours = {PLAN_DIR, COLLECTION_DIR, INDEX_JSON, INDEX_CSV} | {a.id.split("/")[0] for a in batch.assets}
        foreign = sorted(p.name for p in entries if p.name not in ours or p.is_symlink())
        if foreign:
            raise UserError(f"--job {folder} holds files this tool did not write ({foreign[0]}); not replacing them")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        lock = OutputLock(folder).acquire()  # workers hold it shared: never replaced under them
    except UserError as exc:
        for path in made:  # nothing of the job there is touched: it is another run's now
            shutil.rmtree(path, ignore_errors=True)
        raise UserError(str(exc).replace("--out", "--job")) from None
    try:
        if spec is not None:
            refuse_busy(place, spec)
        for p in entries:
            if p.name == PLAN_DIR:  # its lock stays: this run holds it
                for q in p.iterdir():
                    if q.name != "lock":
                        shutil.rmtree(q) if q.is_dir() and not q.is_symlink() else q.unlink()
            else:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    except BaseException:
        lock.release()
        raise
    return lock, made


def _remove_ours(folder: Path, made: list[Path], with_lock: bool = False) -> None:
    """A refused job leaves nothing of itself: what it wrote in the folder (its lock's file too once released),
    and the folder if it made it."""
    shutil.rmtree(folder / COLLECTION_DIR, ignore_errors=True)
    plan_dir = folder / PLAN_DIR
    if plan_dir.is_dir() and not plan_dir.is_symlink():
        for q in plan_dir.iterdir():
            if q.name != "lock" or with_lock:
                shutil.rmtree(q, ignore_errors=True) if q.is_dir() else q.unlink(missing_ok=True)
        if with_lock:
            plan_dir.rmdir()
    for path in reversed(made):
        shutil.rmtree(path, ignore_errors=True)
