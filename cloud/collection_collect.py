"""``cli.py collect`` of a collection job: every finished asset's dataset and record, and the index, into OUT (or
the job folder itself), streamed one asset at a time; refused while an asset has no final record."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ..app.collection_run import Batch, load_batch, save_batch
from ..app.dataset import IncompleteError
from ..core.asset_index import AssetRecord, IndexWriter, write_record
from ..core.errors import UserError
from ..core.layout import (
    BATCH_FILE,
    COLLECTION_DIR,
    COLLECTION_LOCK,
    DOWNLOAD_CACHE,
    INDEX_CSV,
    INDEX_JSON,
    PLAN_FILE,
)
from .collection_places import AssetDamaged, assets_of

CHUNK = 64
"""Assets collected at once from a bucket: their downloads overlap, the index stays in order and small."""


class AssetsMissing(IncompleteError):
    """Assets without a final record (never rendered, or cut off): ``collect`` waits for them (exit 1)."""

    def __init__(self, ids: list[str], job, why: str = "are not finished"):
        self.views = []
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        Exception.__init__(self, f"{len(ids)} assets of {job} {why} ({shown}); cli.py status --job {job} shows "
                           f"their shards, cli.py submit --retry-missing --job {job} renders them")  # fmt: skip


@dataclass
class Collected:
    """What ``collect`` made of a collection job."""

    out: Path
    total: int
    done: int
    failed: list

    def line(self) -> str:
        return f"wrote {self.done} of {self.total} assets to {self.out}; index: {INDEX_CSV}"


def collect_assets(place, out: Path, overwrite: bool = False, progress=None) -> Collected:
    """Every asset of a finished job: its dataset when done and its record either way, with the index; refused
    while an asset has no final record. A bucket asset whose files do not match its record loses the record, so
    that ``--retry-missing`` renders it again."""
    from ..app.lock import OutputLock

    assets = assets_of(place)
    spec, batch = assets.read()
    states = assets.states(batch)
    missing = [a.id for a in batch.assets if states.get(a.id) not in ("done", "failed")]
    if missing:
        raise AssetsMissing(missing, place)
    out = Path(out).expanduser().absolute()
    if place.kind == "folder" and out.resolve() == Path(place.location).resolve():
        lock = OutputLock(out).acquire()
        try:
            done, failed = collect_in_place(assets, batch)
        finally:
            lock.release()
    else:
        try:
            done, failed = collect_into(assets, batch, out, overwrite, progress)
        except AssetDamaged as exc:
            assets.forget_done(exc.asset_id)
            raise AssetsMissing([exc.asset_id], place, "had files that do not match their record") from None
    return Collected(out, len(batch.assets), done, failed)


def collect_into(place_assets, batch: Batch, out: Path, overwrite: bool, progress=None) -> tuple[int, list]:
    """Every asset of a finished job into ``out`` (its dataset when done, its record either way) and the index,
    written one asset at a time; built beside ``out`` and put in its place at the end, so a collect that fails
    leaves ``out`` as it was. Returns (the assets done, the failed records)."""
    from ..app.lock import OutputLock

    out = Path(out).expanduser().absolute()
    _check_out(out, overwrite, batch)
    out.parent.mkdir(parents=True, exist_ok=True)
    # a run rendering a collection there holds its lock: never replaced under it
    held = OutputLock(out, lock=COLLECTION_LOCK).acquire() if (out / COLLECTION_DIR).is_dir() else None
    building = out.parent / f".{out.name}.collecting-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    done, failed = 0, []
    try:
        with IndexWriter(building) as index, ThreadPoolExecutor(8) as pool:
            assets = list(batch.assets)
            for lo in range(0, len(assets), CHUNK):
                chunk = assets[lo : lo + CHUNK]
                for record in pool.map(lambda a: place_assets.fetch(a, building), chunk):
                    write_record(building, record)
                    index.add(record)
                    done += record.status == "done"
                    failed += [record] if record.status != "done" else []
                if progress:
                    progress(min(lo + CHUNK, len(assets)), len(assets), 0.0)
        local = replace(batch, assets=tuple(replace(a, stored=None) for a in batch.assets),
                        cache=str(out / DOWNLOAD_CACHE))  # fmt: skip
        save_batch(building, local)
        _swap(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    finally:
        if held is not None:
            held.release()
    return done, failed


def _check_out(out: Path, overwrite: bool, batch: Batch) -> None:
    """OUT is new, empty, or a collection of ours and nothing else (``overwrite`` replaces it): no file of the
    user's, no job, no link is ever in what is replaced."""
    if out.is_symlink() or out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    entries = list(out.iterdir()) if out.is_dir() else []
    if not entries:
        return
    ids = {a.id for a in batch.assets}
    try:  # the assets of the collection there (another batch's)
        ids |= {a.id for a in load_batch(out).assets}
    except UserError:
        pass
    split = [i.split("/") for i in ids]
    foreign = sorted(p.name for p in entries if p.is_symlink() or p.name not in (INDEX_JSON, INDEX_CSV, COLLECTION_DIR)
                     and not _datasets_only(p, [i for i in split if i[0] == p.name], 1))  # fmt: skip
    if not (out / BATCH_FILE).is_file() or (out / COLLECTION_DIR).is_symlink():
        foreign = foreign or [COLLECTION_DIR]
    if foreign:
        raise UserError(f"--out {out} holds files this tool did not write there ({foreign[0]}); choose another "
                        "folder")  # fmt: skip
    if not overwrite:
        raise UserError(f"--out {out} holds a collection: give --overwrite to replace it")


def _datasets_only(path: Path, ids: list[list[str]], depth: int) -> bool:
    """Whether ``path`` holds nothing but the datasets of these ids (split at '/'): a user's folder that only
    shares an asset's name is not ours to replace."""
    if not ids or path.is_symlink() or not path.is_dir():
        return False
    if any(len(i) == depth for i in ids):  # an asset's own folder: a dataset of ours
        return (path / PLAN_FILE).is_file()
    return all(_datasets_only(child, [i for i in ids if i[depth] == child.name], depth + 1) for child in path.iterdir())


def _swap(building: Path, out: Path) -> None:
    if out.exists():
        old = out.parent / f".{out.name}.replaced-{os.getpid()}"
        out.rename(old)
        building.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        building.rename(out)


def collect_in_place(assets, batch: Batch) -> tuple[int, list[AssetRecord]]:
    """A folder job finalised where it is: its index, written from its records."""
    done, failed = 0, []

    def records():
        nonlocal done
        for a in batch.assets:
            record = assets.record(a)
            done += record.status == "done"
            failed.extend([record] if record.status != "done" else [])
            yield record

    with IndexWriter(assets.root) as index:
        for r in records():
            index.add(r)
    return done, failed
