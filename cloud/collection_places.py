"""A collection job's records and outputs in its place: a folder every node reads, or a prefix in a bucket.

A folder job is a collection folder: workers render ``JOB/<id>/`` and write ``records/<id>/record.json`` as a local
run does. A bucket job keeps each asset's state in its record's key, ``records/<id>/<state>.json`` (``started``,
``done``, ``failed``), so that ``status`` over 100 000 assets is one listing, never a read per asset. A ``done``
record is written after every file of the asset's dataset, with each file's size and sha256: ``collect`` downloads
exactly those bytes, never a path taken from the bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

from ..app.collection_run import Batch
from ..core.asset_index import AssetRecord, read_record, record_from, record_path, write_record
from ..core.collection import Asset
from ..core.errors import UserError
from ..core.layout import (
    ASSETS_DIR,
    ASSETS_FILE,
    BATCH_FILE,
    COLLECTION_DIR,
    JOB_FILE,
    PLAN_DIR,
    PLAN_FILE,
    RECORDS_DIR,
    SHARD_DIR,
)
from .engines import ENGINES

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
STATES = ("started", "failed", "done")
"""A bucket record's states, weakest first: a later state of one asset wins over an earlier one's leftover."""
MAX_RECORD_BYTES = 1 << 20
CHUNK = 64
"""Assets collected at once from a bucket: their downloads overlap, the index stays in order and small."""


def final(record: AssetRecord | None) -> bool:
    return record is not None and record.status in ("done", "failed")


def linked(root: Path, rel: str) -> bool:
    """Whether a part of ``root/rel`` is a link: this tool makes none in a job, so one was planted, and writing or
    reading through it would reach outside the job."""
    path = Path(root)
    for part in rel.split("/"):
        path = path / part
        if path.is_symlink():
            return True
    return False


class FolderAssets:
    def __init__(self, place):
        self.place, self.root = place, Path(place.location)

    def check_links(self, assets: list[Asset]) -> None:
        """Refuse a job with a link where an asset's dataset or record goes (before anything is written)."""
        for rel in (PLAN_DIR, SHARD_DIR, COLLECTION_DIR, RECORDS_DIR, ASSETS_DIR):
            if linked(self.root, rel):
                raise UserError(f"job {self.root}: {rel} is a link this tool did not make; refusing the job")
        for a in assets:
            for rel in (a.id, f"{RECORDS_DIR}/{a.id}"):
                if linked(self.root, rel):
                    raise UserError(f"job {self.root}: {rel} is a link this tool did not make; refusing the job")

    def read(self):
        from .collection_job import read_collection_job

        return read_collection_job(self.root, ENGINES, "folder")

    def states(self, batch: Batch) -> dict[str, str]:
        found = {}
        for a in batch.assets:
            record = read_record(self.root, a.id)
            if record is not None:
                found[a.id] = record.status
        return found

    def record(self, asset: Asset) -> AssetRecord | None:
        return read_record(self.root, asset.id)

    def stopped(self, asset: Asset, reason: str) -> None:
        """The watchdog's verdict, unless the asset's record already says done (its renderer died after it)."""
        self.check_links([asset])
        record = read_record(self.root, asset.id)
        if record is None or record.status != "done":
            write_record(self.root, AssetRecord(asset.id, asset.shown, "failed", reason))

    def forget_failed(self, assets: list[Asset]) -> None:
        self.check_links(assets)
        for a in assets:
            record_path(self.root, a.id).unlink(missing_ok=True)

    def fetch(self, asset: Asset, out: Path) -> AssetRecord:
        """The asset's final record, and its dataset linked (or copied) into ``out`` when done."""
        record = read_record(self.root, asset.id)
        self.check_links([asset])
        if record is None or record.status == "done" and not (self.root / asset.id / PLAN_FILE).is_file():
            raise AssetDamaged(asset.id)
        if record.status == "done":
            copy_tree(self.root / asset.id, out / asset.id)
        return record

    def forget_done(self, asset_id: str) -> None:
        record_path(self.root, asset_id).unlink(missing_ok=True)


def copy_tree(src: Path, dest: Path) -> None:
    """A dataset folder as a worker wrote it, hard-linked (or copied) into ``dest``, a new folder of this
    collect's own (so no file is replaced and no rename is needed): regular files only (a link is no file of
    ours)."""
    for folder, _dirs, files in os.walk(src, followlinks=False):
        target = dest / Path(folder).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for entry in os.scandir(folder):
            if entry.is_symlink() or not (entry.is_file(follow_symlinks=False) or entry.is_dir(follow_symlinks=False)):
                raise UserError(f"{entry.path} is not a file this tool wrote; refusing to collect it")
        for name in files:
            try:
                os.link(Path(folder, name), target / name)
            except OSError:  # another filesystem, or one without links
                shutil.copy2(Path(folder, name), target / name)


class BucketAssets:
    def __init__(self, place):
        self.place, self.store = place, place.store

    @classmethod
    def of_store(cls, store) -> BucketAssets:
        from types import SimpleNamespace

        return cls(SimpleNamespace(store=store))

    def read(self, scratch: Path | None = None, manifest: bool = False):
        """The spec and batch, downloaded into ``scratch`` (a folder of this process) and checked there."""
        from ..app.collection_run import MAX_BATCH_BYTES
        from .collection_job import read_collection_job
        from .job import MAX_JOB_BYTES
        from .scratch import scratch as scratch_dir

        with contextlib.ExitStack() as stack:
            dest = scratch or stack.enter_context(scratch_dir())
            self.store.download(JOB_FILE, dest / JOB_FILE, MAX_JOB_BYTES)
            if not self.store.download(BATCH_FILE, dest / BATCH_FILE, MAX_BATCH_BYTES):
                raise UserError(f"{self.store.url}: {BATCH_FILE} is missing")
            if manifest and not self.store.download(ASSETS_FILE, dest / ASSETS_FILE, MAX_BATCH_BYTES):
                raise UserError(f"{self.store.url}: {ASSETS_FILE} is missing")
            try:
                return read_collection_job(dest, ENGINES, "s3")
            except UserError as exc:
                raise UserError(str(exc).replace(str(dest), str(self.store.url))) from None

    def states(self, batch: Batch) -> dict[str, str]:
        """Each asset's strongest state, from one listing of the records."""
        ids = {a.id for a in batch.assets}
        found: dict[str, str] = {}
        for key in self.store.list(f"{RECORDS_DIR}/"):
            asset_id, _, name = key[len(RECORDS_DIR) + 1 :].rpartition("/")
            state = name.removesuffix(".json")
            if asset_id in ids and state in STATES and STATES.index(state) >= STATES.index(found.get(asset_id, state)):
                found[asset_id] = state
        return found

    def _read(self, asset: Asset, state: str) -> dict | None:
        try:
            raw = self.store.read(record_key(asset.id, state), MAX_RECORD_BYTES)
            d = json.loads(raw) if raw is not None else None
        except (ValueError, RecursionError, UnicodeDecodeError, UserError):
            return None
        return d if isinstance(d, dict) else None

    def record(self, asset: Asset, state: str | None = None) -> AssetRecord | None:
        for name in [state] if state else ("done", "failed"):
            d = self._read(asset, name)
            record = _record(d.get("record") if d else None, asset)
            if record is not None and record.status == name:
                return record
        return None

    def stopped(self, asset: Asset, reason: str) -> None:
        if self.store.size(record_key(asset.id, "done")) is None:  # done before its renderer died: it stays
            put_record(self.store, AssetRecord(asset.id, asset.shown, "failed", reason))

    def forget_failed(self, assets: list[Asset]) -> None:
        self.store.delete([record_key(a.id, "failed") for a in assets])

    def forget_done(self, asset_id: str) -> None:
        self.store.delete([record_key(asset_id, "done")])

    def fetch(self, asset: Asset, out: Path) -> AssetRecord:
        d = self._read(asset, "done")
        record = _record(d.get("record") if d else None, asset)
        files = _files(d.get("files") if d else None)
        if record is not None and record.status == "done" and files is not None and PLAN_FILE in files:
            for rel, (size, sha) in files.items():
                if size == 0 and sha == EMPTY_SHA256:  # an empty file (a lock): nothing to download
                    (out / asset.id / rel).parent.mkdir(parents=True, exist_ok=True)
                    (out / asset.id / rel).write_bytes(b"")
                elif not self.store.download_exact(f"{asset.id}/{rel}", out / asset.id / rel, size, sha):
                    raise AssetDamaged(asset.id)
            return record
        record = self.record(asset, "failed")
        if record is None:
            raise AssetDamaged(asset.id)
        return record


class AssetDamaged(Exception):
    def __init__(self, asset_id: str):
        self.asset_id = asset_id
        super().__init__(f"{asset_id}: its files in the bucket do not match its record")


def record_key(asset_id: str, state: str) -> str:
    return f"{RECORDS_DIR}/{asset_id}/{state}.json"


def put_record(store, record: AssetRecord, files: dict | None = None) -> None:
    """The asset's record in its state's key; the keys of its earlier states go (``states`` reads the strongest
    anyway, so a delete that fails costs nothing)."""
    body = {"record": record.to_json(), **({"files": files} if files is not None else {})}
    store.put(record_key(record.id, record.status), json.dumps(body, sort_keys=True).encode())
    older = {"started": [], "failed": ["started"], "done": ["started", "failed"]}[record.status]
    with contextlib.suppress(OSError, UserError):
        store.delete([record_key(record.id, s) for s in older])


def _record(d, asset: Asset) -> AssetRecord | None:
    record = record_from(d)
    return replace(record, source=asset.shown) if record is not None and record.id == asset.id else None


def _files(d) -> dict[str, tuple[int, str]] | None:
    if not isinstance(d, dict) or not d or len(d) > 100_000:
        return None
    files = {}
    for rel, entry in d.items():
        parts = rel.split("/") if isinstance(rel, str) else [""]
        if any(p in ("", ".", "..") for p in parts) or "\\" in rel or "\0" in rel:
            return None
        if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int and 0 <= entry[0] < 1 << 40):
            return None
        if not (isinstance(entry[1], str) and len(entry[1]) == 64):
            return None
        files[rel] = (entry[0], entry[1])
    return files


PLACES = {"folder": FolderAssets, "s3": BucketAssets}


def assets_of(place):
    return PLACES[place.kind](place)
