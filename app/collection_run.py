"""``--import-list`` / ``--import-dir``: one dataset per asset, ``OUT/<id>/``, many assets per Blender process.

A batch is planned once (``start``: the assets, the settings, each asset's import options, the download rules)
and written to ``OUT/.nerf_collection/batch.json``, which is then the whole input of whoever renders it: this
process, the N worker processes of ``--workers N`` (``cli.py collection-worker``), or the background Blender
the panel starts. Each asset is imported into a fresh empty scene (``blender_io.assets``), normalised and lit,
then rendered by the same pipeline as any scene. An asset that fails (a broken or empty model, a refused
download) is recorded with its reason and the batch goes on. ``--resume`` skips assets whose record says done
and finishes one that was cut off.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.asset_index import AssetRecord, read_record, write_index, write_record
from ..core.collection import (
    MAX_ASSETS,
    MAX_DOWNLOAD_MB,
    SHA256,
    Asset,
    AssetOptions,
    CollectionOptions,
    check_id,
    read_import_list,
    scan_dir,
    shard_assets,
    unique_ids,
)
from ..core.errors import UserError
from ..core.files import write_json_atomic
from ..core.layout import (
    ASSETS_DIR,
    BATCH_FILE,
    BATCH_LOCK,
    COLLECTION_DIR,
    COLLECTION_LOCK,
    DOWNLOAD_CACHE,
    INDEX_CSV,
    INDEX_JSON,
    NODE_CACHE,
    PLAN_FILE,
    RECORDS_DIR,
    collection_worker_log,
)
from ..core.options import OptionError, to_record
from ..core.settings import SETTING_FIELDS, SettingError, Settings
from ..core.text import one_line
from ..core.untrusted import Unreadable, read_bounded
from .asset_hooks import AssetHooks
from .dataset import IncompleteError, RunOptions, Source
from .lock import OutputLock, one_at_a_time
from .processes import this_cli_command, threads_per_worker

MAX_BATCH_BYTES = 512 << 20
DEFAULT_TIMEOUT = 300
"""Seconds an asset may take under a watchdog (a job's workers, ``--workers N``) unless ``--asset-timeout``."""
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""A full disk, a quota or a file-size limit: no asset of the batch can be written after one."""
BATCH_KEYS = {"settings", *AssetOptions.__dataclass_fields__, "assets", "cache", "max_download_mb"}
"""What a batch file holds (``Batch.to_json``)."""


@dataclass(frozen=True)
class Batch:
    """What every asset of a collection is made with, and which assets: a collection worker's whole input."""

    settings: Settings
    options: AssetOptions
    assets: tuple[Asset, ...]
    cache: str
    """The download cache for URL sources (absolute)."""
    max_download_mb: int

    def identity(self) -> dict:
        """What a resume must ask for again: every asset is made with it (as saved: lists, not tuples)."""
        return json.loads(json.dumps({"settings": self.settings.to_dict(), **to_record(self.options)}))

    def to_json(self) -> dict:
        assets = [[a.id, a.source, a.sha256, *([a.stored] if a.stored else [])] for a in self.assets]
        return {**self.identity(), "assets": assets, "cache": self.cache, "max_download_mb": self.max_download_mb}


def plan_batch(settings: Settings, options: AssetOptions, collection: CollectionOptions, out: Path) -> Batch:
    """The assets of the collection and what each is made with; refused in one sentence before anything."""
    from ..exporters import FORMATS

    settings.validate(FORMATS)
    out = Path(out).expanduser().absolute()
    if collection.pattern and collection.import_list:
        raise OptionError("pattern", "{} filters {import_dir}'s files; a list names its assets itself")
    cache = Path(collection.cache).expanduser().absolute() if collection.cache else out / DOWNLOAD_CACHE
    if collection.cache:
        if cache.exists() and not cache.is_dir():
            raise OptionError("cache", f"{{}} {cache} exists and is not a folder")
        if cache == out or (cache.is_relative_to(out) and not cache.is_relative_to(out / COLLECTION_DIR)):
            raise OptionError("cache", f"{{}} {cache} lies in {{out}}; leave it out (the default is inside the "
                              "collection)")  # fmt: skip
    if collection.import_list:
        assets = read_import_list(collection.import_list)
    else:
        assets = scan_dir(collection.import_dir, collection.pattern, exclude=out)
    return Batch(settings, options, tuple(assets), str(cache), collection.max_download_mb)


def start(batch: Batch, run: RunOptions) -> None:
    """Check OUT and make it the batch's: it holds nothing but a collection of ours, resumed only with what it
    was started with, or redone with ``--overwrite``; then the batch file, every worker's input."""
    out = run.out_dir
    check_out(out, batch, run)
    if run.overwrite:
        shutil.rmtree(out / RECORDS_DIR, ignore_errors=True)
        for name in (INDEX_JSON, INDEX_CSV):
            (out / name).unlink(missing_ok=True)
    save_batch(out, batch)


def save_batch(out: Path, batch: Batch) -> None:
    write_json_atomic(out / BATCH_FILE, batch.to_json())


def join_batch(out: Path, batch: Batch, run: RunOptions) -> None:
    """A block of the batch (``--asset-shard``) started by hand: it continues the batch in OUT (the same one) or
    starts it, one block at a time, so that two blocks never start two batches."""
    with one_at_a_time(out / BATCH_LOCK):
        check_out(out, batch, run, block=True)
        if not (out / BATCH_FILE).is_file():  # what later blocks and a --resume compare with
            save_batch(out, batch)


@contextlib.contextmanager
def held(out: Path, shared: bool = False):
    """The collection folder's lock, for the whole run: a second run on the folder is refused at once (blocks of
    one batch started by hand share it). A refused run that made the folder leaves nothing of it behind."""
    if out.exists() and not out.is_dir():
        raise SettingError("out", f"{{}} {out} exists and is not a folder")
    ours = out / COLLECTION_DIR
    if ours.is_symlink() or (ours.exists() and not ours.is_dir()):  # a link could aim our writes anywhere
        raise SettingError("out", f"{{}} {out} holds files this tool did not write ({COLLECTION_DIR}); choose "
                           "another folder")  # fmt: skip
    made = [p for p in (out, ours) if not p.exists()]
    lock = OutputLock(out, shared, COLLECTION_LOCK).acquire()
    try:
        yield lock
    except BaseException:
        lock.release()
        if made and list(ours.iterdir()) == [out / COLLECTION_LOCK]:  # refused: it leaves nothing of ours
            (out / COLLECTION_LOCK).unlink(missing_ok=True)
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()
        raise
    finally:
        lock.release()


def check_out(out: Path, batch: Batch, run: RunOptions, block: bool = False) -> None:
    """OUT holds nothing but a collection of ours (the index, our folder, the assets' folders); a started one is
    resumed with the very settings it was started with, or redone with --overwrite. A ``block`` of the batch
    (``--asset-shard``) continues a started one as a resume does. Changes nothing."""
    if out.exists() and not out.is_dir():
        raise SettingError("out", f"{{}} {out} exists and is not a folder")
    entries = list(out.iterdir()) if out.exists() else []
    names = {p.name for p in entries}
    ours = {INDEX_JSON, INDEX_CSV, COLLECTION_DIR} | {a.id.split("/")[0] for a in batch.assets}
    records = out / RECORDS_DIR
    if records.is_dir() and not records.is_symlink():  # an asset of an earlier run (since taken out of it)
        ours |= {p.name for p in records.iterdir()}
    links = [p for p in entries + _entries(out / COLLECTION_DIR) if p.is_symlink()]  # we make none: the user's
    foreign = sorted((names - ours) | {str(p.relative_to(out)) for p in links})
    if foreign:
        raise SettingError(
            "out", f"{{}} {out} holds files this tool did not write ({foreign[0]}…); choose another folder"
        )
    started = bool(names - {COLLECTION_DIR}) or records.is_dir()  # the panel's log alone is no batch
    if started and not (run.resume or run.overwrite or block):
        raise SettingError(
            "out", f"{{}} {out} holds a collection: use {{resume}} to finish it or {{overwrite}} to redo it"
        )
    continuing = run.resume or block
    if not continuing or not (started or (out / BATCH_FILE).is_file()):
        return
    saved = _saved_identity(out)
    asking = "asset_shard" if block else "resume"
    if saved is None:
        raise SettingError(
            asking, f"{{}}: the collection in {out} has no readable settings (.nerf_collection/batch.json), so "
            "its assets cannot be known to match; use {overwrite} to redo it"
        )  # fmt: skip
    asked = batch.identity()
    if saved != asked:
        diff = next((k for k in asked if k != "settings" and asked[k] != saved.get(k)), None)
        if diff is None:
            mine, theirs = asked["settings"], saved["settings"]
            diff = next((k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k)), "settings")
            was, now = theirs.get(diff), mine.get(diff)
        else:
            was, now = saved.get(diff), asked[diff]
        made = f"made with {{{diff}}} {was!r}, not {now!r}" if diff != "settings" else "made with other settings"
        raise SettingError(asking, f"{{}} continues the collection in {out}, {made}; use {{overwrite}} to redo it")


def _entries(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else []


def _saved_identity(out: Path) -> dict | None:
    """What the batch in OUT was started with (an older batch file holds nothing else)."""
    try:
        saved = json.loads(read_bounded(out / BATCH_FILE, out, MAX_BATCH_BYTES))
    except (Unreadable, OSError, ValueError, RecursionError):
        return None
    if not isinstance(saved, dict) or not isinstance(saved.get("settings"), dict):
        return None
    return {k: saved.get(k) for k in ("settings", *AssetOptions.__dataclass_fields__)}


def node_cache() -> str:
    """This node's download cache for a job's URL sources: this user's own folder (mode 0700) in the temporary
    folder; one that is not (a link, another user's, open to others) is never used."""
    path = Path(tempfile.gettempdir()) / f"{NODE_CACHE}-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
            return str(path)
    except OSError:
        pass
    return tempfile.mkdtemp(prefix=f"{NODE_CACHE}-")


def load_batch(out: Path, job: bool = False) -> Batch:
    """The batch file, read as hostile (a worker's only input): every field of the type and range a run
    writes, every asset id a plain one; a ``job``'s names no download cache (each node has its own)."""
    from ..exporters import FORMATS

    path = Path(out) / BATCH_FILE
    if not path.exists() and not path.is_symlink():
        raise UserError(f"{out} holds no started collection (it has no {BATCH_FILE})")
    damaged = f"{path} is damaged" + " ({}); start the collection again"
    try:
        d = json.loads(read_bounded(path, Path(out), MAX_BATCH_BYTES))
    except (Unreadable, ValueError, RecursionError) as exc:
        raise UserError(damaged.format(one_line(exc, 200))) from None
    if isinstance(d, dict) and isinstance(d.get("settings"), dict) and "assets" not in d:
        raise UserError(f"{path} was written by an older version (it lists no assets): run the collection again "
                        "with --resume")  # fmt: skip
    try:
        if not isinstance(d, dict) or not isinstance(d.get("settings"), dict) or not set(d) <= BATCH_KEYS:
            raise ValueError("not a batch")
        if set(d["settings"]) != set(SETTING_FIELDS):
            raise ValueError("not every setting")
        settings = Settings.from_dict(d["settings"])
        settings.validate(FORMATS)
        options = AssetOptions.from_record({k: d[k] for k in AssetOptions.__dataclass_fields__})
        rows, cache, limit = d["assets"], d["cache"], d["max_download_mb"]
        if job != (cache is None):
            raise ValueError("a download cache no run writes")
        cache = node_cache() if job else cache
        if not (isinstance(rows, list) and len(rows) <= MAX_ASSETS and isinstance(cache, str)):
            raise ValueError("a field of the wrong type")
        if not Path(cache).is_absolute() or type(limit) is not int or not 1 <= limit <= MAX_DOWNLOAD_MB:
            raise ValueError("a download cache or limit no run writes")
        assets = tuple(_asset(row) for row in rows)
        unique_ids(list(assets), str(path))
    except (ValueError, KeyError, TypeError, AttributeError, UserError) as exc:
        raise UserError(damaged.format(one_line(exc, 200))) from None
    return Batch(settings, options, assets, cache, limit)


def _asset(row) -> Asset:
    if not (isinstance(row, list) and len(row) in (3, 4) and all(isinstance(x, str) or x is None for x in row)):
        raise ValueError("an asset that is not [id, source, sha256] or [id, source, sha256, stored]")
    asset_id, source, sha, stored = [*row, None][:4]
    absolute = source and (re.match(r"https?://", source) or Path(source).is_absolute())
    if not absolute or (sha is not None and not SHA256.fullmatch(sha)):
        raise ValueError(f"asset {asset_id!r} has no absolute source or a bad sha256")
    if (
        stored is not None
        and not STORED.fullmatch(stored)
        or stored
        and not all(p not in ("", ".", "..") for p in stored.split("/"))
    ):
        raise ValueError(f"asset {asset_id!r} is stored outside the job's assets")
    return Asset(check_id(asset_id or "", "the batch file"), source, sha, stored)


STORED = re.compile(rf"{re.escape(ASSETS_DIR)}/[0-9a-f]{{64}}/[^\0\\]{{1,4096}}")
"""Where a job's batch may say an asset's model lies: in the job's own assets, at a plain relative path."""


def stored_model(out: Path, asset: Asset) -> Path:
    """The model of an asset a job carries: a regular file inside the job's assets (no link out of them)."""
    assets = (Path(out) / ASSETS_DIR).resolve()
    path = Path(out) / asset.stored
    real = path.resolve()
    if path.is_symlink() or not real.is_relative_to(assets) or not real.is_file():
        raise UserError(f"its model is missing from the job ({asset.stored})")
    return real


def render_assets(out: Path, batch: Batch, run: RunOptions, shard: tuple[int, int] | None = None,
                  hooks: AssetHooks | None = None, failed_final: bool = False, after: int = 0) -> list:  # fmt: skip
    """Render the batch's assets (``shard``: block I of N of them) one after the other, each recorded as it ends;
    returns the records of those that failed. With ``failed_final`` (a job's), an asset recorded failed is
    not tried again; ``after``: the block's first assets are left alone (a watchdog stopped the one before)."""
    hooks = hooks or AssetHooks()
    mine = shard_assets(list(batch.assets), shard) if shard else list(batch.assets)
    failures = []
    for i, asset in enumerate(mine, start=1):
        if i <= after or hooks.skip(asset) or run.resume and _finished(out, asset, failed_final):
            continue
        record = _render_asset(asset, batch, out, run, lambda: hooks.starting(i - 1, asset))  # noqa: B023
        write_record(out, record)
        hooks.finished(asset, record)
        what = f"done, {record.views} views" if record.status == "done" else f"failed: {record.reason}"
        print(f"[{i}/{len(mine)}] {asset.id}: {what} ({record.seconds:.1f} s)", file=sys.stderr, flush=True)
        failures += [record] if record.status != "done" else []
    return failures


def _finished(out: Path, asset: Asset, failed_final: bool = False) -> bool:
    rec = read_record(out, asset.id)
    if rec is not None and failed_final and rec.status == "failed":
        return True
    return rec is not None and rec.status == "done" and (out / asset.id / PLAN_FILE).is_file()


class StorageFailure(Exception):
    """The job's storage failed around an asset (a bucket's download or upload): no fault of the asset's, so it
    is not recorded failed; the shard stops and its retry renders the asset again."""


def _render_asset(asset: Asset, batch: Batch, out: Path, run: RunOptions, starting=None) -> AssetRecord:
    from ..blender_io.assets import import_asset
    from .fetch import FetchOptions, download_asset
    from .pipeline import make_dataset

    t0 = time.monotonic()
    norm: dict = {}
    started = read_record(out, asset.id)
    try:
        # Finish what this batch started (its record says so); anything else in the folder is an older batch's
        folder = out / asset.id
        cut_off = run.resume and (folder / PLAN_FILE).is_file() and started is not None and started.status == "started"
        write_record(out, AssetRecord(asset.id, asset.shown, "started"))  # before the import: it may never end
        if starting is not None:
            starting()
        path = asset.source
        if asset.stored:
            path = str(stored_model(out, asset))
        elif asset.remote:
            path = str(download_asset(asset, FetchOptions(Path(batch.cache), max_bytes=batch.max_download_mb << 20)))
        objs, norm = import_asset(path, batch.options, run.quiet)
        one = RunOptions(out=folder, resume=cut_off, overwrite=not cut_off, threads=run.threads, verbose=run.verbose)
        source = Source(object=objs[0].name, objects=tuple(o.name for o in objs))
        try:
            made = make_dataset(batch.settings, source, one)
        except SettingError:
            if not cut_off:
                raise
            # killed before its dataset was replaced: the folder holds an older batch's (ours), so redo it
            made = make_dataset(batch.settings, source, replace(one, resume=False, overwrite=True))
        made.planned.release()
        plan = made.plan
        note, bounds = norm.pop("note", ""), (tuple(plan.scene.bounds_min), tuple(plan.scene.bounds_max))
        seconds = round(time.monotonic() - t0, 3)
        return AssetRecord(asset.id, asset.shown, "done", note, len(plan.views), norm, *bounds, seconds)
    except StorageFailure:
        raise
    except OSError as exc:
        if exc.errno in DISK_FULL:  # every asset after it would fail too: the batch stops, --resume finishes it
            raise
        reason = str(exc)
    except (UserError, IncompleteError) as exc:
        reason = str(exc)
    except Exception as exc:  # an importer's own failure on a broken file: this asset fails, the batch goes on
        reason = f"{type(exc).__name__}: {exc}"
    norm.pop("note", None)
    return AssetRecord(asset.id, asset.shown, "failed", one_line(reason, 300), 0, norm, (), (),
                       round(time.monotonic() - t0, 3))  # fmt: skip


def run_workers(out: Path, batch: Batch, run: RunOptions, timeout: int) -> None:
    """N processes (``cli.py collection-worker``), each a block of the assets, each reading the batch file, each
    under a watchdog that stops an asset taking longer than ``timeout`` seconds; each writes its assets' records
    (the caller writes the index)."""
    from .asset_watch import Watched, wait_all

    n = max(1, min(run.workers, len(batch.assets)))
    threads = threads_per_worker(n)
    (out / COLLECTION_DIR).mkdir(parents=True, exist_ok=True)

    def command(i: int, beat: Path):
        def starting_after(after: int) -> list[str]:
            ours = ["collection-worker", "--out", str(out), "--asset-shard", f"{i}/{n}", "--threads", str(threads)]
            ours += ["--under-parent", "--beat", str(beat), "--after", str(after)]  # the parent holds the lock
            ours += [*(["--resume"] if run.resume else []), *(["--verbose"] if run.verbose else [])]
            return this_cli_command(ours)

        return starting_after

    def stopped(asset: Asset, reason: str) -> None:
        record = read_record(out, asset.id)
        if record is None or record.status != "done":  # done before its renderer died: it stays
            write_record(out, AssetRecord(asset.id, asset.shown, "failed", reason))

    with tempfile.TemporaryDirectory(prefix="nerf_dataset-beats-") as beats:
        watched = []
        for i in range(n):
            beat = Path(beats) / f"{i}"
            block = shard_assets(list(batch.assets), (i, n))
            watched.append(Watched(command(i, beat), beat, timeout, block, stopped, out / collection_worker_log(i),
                                   finished_codes=(0, 1)).start())  # fmt: skip
        wait_all(watched)


def start_in_background(out: Path, resume: bool, log: Path) -> subprocess.Popen:
    """The whole started batch in a background Blender (the panel's: a collection replaces the scene with each
    asset, so it never renders in the open file); it writes the index when it ends."""
    ours = ["collection-worker", "--out", str(out), *(["--resume"] if resume else [])]
    with open(log, "ab") as f:
        return subprocess.Popen(this_cli_command(ours), stdout=f, stderr=subprocess.STDOUT)


def summary(out: Path, batch: Batch) -> tuple[list[AssetRecord], str]:
    """Every asset's final record (one whose worker died fails), the index written from them, and one line."""
    failed: list[AssetRecord] = []
    views = 0

    def records():  # one at a time: the index of 100 000 assets is never in memory
        nonlocal views
        for a in batch.assets:
            record = _final(read_record(out, a.id), a)
            views += record.views
            failed.extend([record] if record.status != "done" else [])
            yield record

    count = write_index(out, records())
    line = f"wrote {count - len(failed)} of {count} assets ({views} views) to {out}; index: {INDEX_CSV}"
    return failed, line


def _final(record: AssetRecord | None, asset: Asset) -> AssetRecord:
    if record is None:
        return AssetRecord(asset.id, asset.shown, "failed", "not rendered (its worker died)")
    if record.status == "started":
        return AssetRecord(asset.id, asset.shown, "failed", "not finished (its process died while rendering it)")
    return record
