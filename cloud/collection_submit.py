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
from .collection_job import check_shards, make_collection_job


class NothingHeld:
    """A collection job holds no planned scene: nothing to release after the hand-over."""

    def release(self) -> None:
        pass


def make_collection(sub, settings, options: AssetOptions, collection: CollectionOptions) -> Path:
    """The job made in its folder (a bucket's: a scratch folder), ready to be handed over; refused in one
    sentence, leaving nothing."""
    place = sub.place
    target = Path(place.location) if place.kind == "folder" else None
    batch = plan_batch(settings, options, collection, target or Path(tempfile.gettempdir()) / "nerf_dataset-none")
    check_shards(sub.asked.shards, len(batch.assets))
    if target is not None:
        made = _clear_folder(place, sub.overwrite)
        folder = target
    else:
        made, folder = [], place.staging()
    record = sub.engine.record(sub.options, place.reach)
    timeout = collection.asset_timeout or DEFAULT_TIMEOUT
    try:
        make_collection_job(folder, batch, collection, sub.asked.shards, sub.engine.name, record, timeout)
    except BaseException:
        if target is None:
            place.drop_staging(folder)
        else:
            _remove_ours(folder, made)
        raise
    return folder


def _clear_folder(place, overwrite: bool) -> list[Path]:
    """The job folder made ready: new, empty, or a collection job of ours (replaced with ``overwrite`` when
    none of its tasks runs). Returns the folders made here (a refused job removes them)."""
    from .status import refuse_busy

    folder = Path(place.location)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--job {folder} exists and is not a folder")
    if not folder.exists():
        folder.mkdir(parents=True)
        return [folder]
    entries = list(folder.iterdir())
    if not entries:
        return []
    if place.job_kind() != "collection":
        raise UserError(f"--job {folder} holds files that are not a collection job of this tool; choose a new folder")
    spec, batch = place.read()
    if not overwrite:
        raise UserError(f"--job {folder} holds a collection job: give --overwrite to replace it, or choose another "
                        "folder")  # fmt: skip
    ours = {PLAN_DIR, COLLECTION_DIR, INDEX_JSON, INDEX_CSV} | {a.id.split("/")[0] for a in batch.assets}
    foreign = sorted(p.name for p in entries if p.name not in ours or p.is_symlink())
    if foreign:
        raise UserError(f"--job {folder} holds files this tool did not write ({foreign[0]}); not replacing them")
    refuse_busy(place, spec)
    for p in entries:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return []


def _remove_ours(folder: Path, made: list[Path]) -> None:
    """A refused job leaves nothing of itself: what it wrote in the folder, and the folder if it made it."""
    for name in (PLAN_DIR, COLLECTION_DIR):
        shutil.rmtree(folder / name, ignore_errors=True)
    for path in reversed(made):
        shutil.rmtree(path, ignore_errors=True)
