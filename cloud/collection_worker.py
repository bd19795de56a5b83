"""``cli.py worker --job J`` of a collection job: its shard is a block of the batch's assets.

The worker is a watchdog (``app.asset_watch``, no Blender) over a child ``cli.py worker --asset-child`` that renders
the block: in a folder job, into the job itself (done and failed assets skipped, a cut-off one redone); in a bucket,
into a scratch folder of the node, each asset's model downloaded exactly as the job records it, each finished
asset uploaded file by file before its ``done`` record. An asset that runs over the job's ``asset_timeout`` (or
crashes Blender) is recorded failed by the watchdog and a new child goes on after it.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..app.asset_watch import Beat, Watched, wait_all
from ..app.collection_run import StorageFailure, render_assets
from ..app.dataset import RunOptions
from ..app.processes import this_cli_command
from ..core.asset_index import AssetRecord
from ..core.collection import shard_assets
from ..core.errors import UserError
from ..core.files import sha256_of
from ..core.layout import ASSETS_DIR, SHARD_DIR, shard_log
from .collection_places import assets_of, put_record
from .worker import shard_from_environment


def block_of(spec, shard) -> tuple[int, int]:
    if shard is None:
        return shard_from_environment(spec)
    if shard[1] != spec.shards:
        raise UserError(f"--shard {shard[0]}/{shard[1]}: this job has {spec.shards} shards")
    return shard


def run_collection_worker(place, shard, threads: int, quiet: bool, under_parent: bool) -> str:
    """The watchdog over the block's renderer; returns one line."""
    from ..app.lock import OutputLock
    from .scratch import scratch

    assets = assets_of(place)
    spec, batch = assets.read()
    shard = block_of(spec, shard)
    block = shard_assets(list(batch.assets), shard)
    if place.kind == "folder":
        assets.check_links(block)  # before any Blender starts
    locks = []
    if place.kind == "folder":  # the job's lock shared (a run replacing the job waits), the shard's exclusive
        mine = [OutputLock(Path(place.location), lock=f"{SHARD_DIR}/collection-{shard[0]}.lock")]
        locks = mine if under_parent else [OutputLock(Path(place.location), shared=True), *mine]
    try:
        for lock in locks:
            lock.acquire()
    except UserError as exc:
        for lock in locks:
            lock.release()
        raise UserError(f"block {shard[0]}/{shard[1]} of {place}: {exc}".replace("--out", "the job")) from None
    note(place, shard[0], f"started at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    try:
        with scratch() as tmp:
            ours = ["worker", *child_job_args(place), "--shard", f"{shard[0]}/{shard[1]}", "--asset-child",
                    str(tmp / "beat"), "--threads", str(threads), *([] if quiet else ["--verbose"])]  # fmt: skip
            watched = Watched(this_cli_command(ours), tmp / "beat", spec.asset_timeout, block, assets.stopped)
            [code] = wait_all([watched.start()])
    finally:
        for lock in locks:
            lock.release()
    states = assets.states(batch)
    done = sum(states.get(a.id) == "done" for a in block)
    failed = sum(states.get(a.id) == "failed" for a in block)
    line = f"rendered block {shard[0]}/{shard[1]} of {place}: {done} of {len(block)} assets done, {failed} failed"
    if code:
        note(place, shard[0], f"failed: its renderer stopped with exit code {code}")
        raise BlockFailed(f"{line}; its renderer stopped with exit code {code} (the log above says why)")
    note(place, shard[0], f"finished: {done} of {len(block)} assets done, {failed} failed")
    return line


def note(place, index: int, text: str) -> None:
    """A bucket shard's last words, where ``status`` reads them (a folder job's are its engine's log); best
    effort: the bucket may be what failed."""
    if place.kind == "folder":
        return
    try:
        place.store.put(shard_log(index), f"{text}\n".encode())
    except (OSError, UserError):
        pass


class BlockFailed(OSError):
    """The block's renderer stopped for a reason no asset is to blame for (the job's storage, a full disk):
    the task fails, and its retry goes on from the assets it finished."""


def child_job_args(place) -> list[str]:
    """How the child names the same job, reached the same way (a profile included: it is this machine's)."""
    args = place.worker_args()
    profile = getattr(place.reach, "profile", None)
    return [*args, "--profile", profile] if profile else args


def render_block(place, shard, threads: int, quiet: bool, beat: Path) -> str:
    """The child: render the block, skipping what the job records final."""
    from .scratch import staging_dir

    assets = assets_of(place)
    if place.kind == "folder":
        spec, batch = assets.read()
        shard = block_of(spec, shard)
        assets.check_links(shard_assets(list(batch.assets), shard))
        run = RunOptions(out=Path(place.location), resume=True, threads=threads, verbose=not quiet)
        failures = render_assets(run.out, batch, run, shard, Beat(beat), failed_final=True)
    else:
        root = staging_dir()
        try:
            spec, batch = assets.read(root, manifest=True)
            shard = block_of(spec, shard)
            hooks = BucketHooks(assets, root, spec, batch, beat, shard_assets(list(batch.assets), shard))
            run = RunOptions(out=root, threads=threads, verbose=not quiet)
            failures = render_assets(root, batch, run, shard, hooks, failed_final=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return f"block {shard[0]}/{shard[1]}: {len(failures)} assets failed"


class BucketHooks(Beat):
    """A bucket job's asset: its model downloaded before, its dataset uploaded after, its record last."""

    def __init__(self, assets, root: Path, spec, batch, beat: Path, block: list):
        from .collection_job import read_manifest

        super().__init__(beat)
        self.assets, self.store, self.root = assets, assets.store, root
        self.manifest = read_manifest(root, spec)
        self.states = assets.states(batch)
        self.uses = Counter(bundle_of(a) for a in block if a.stored)

    def skip(self, asset) -> bool:
        return self.states.get(asset.id) in ("done", "failed")

    def starting(self, index: int, asset) -> None:
        super().starting(index, asset)
        try:
            put_record(self.store, AssetRecord(asset.id, asset.shown, "started"))
            bundle = bundle_of(asset) if asset.stored else None
            for rel, (size, sha) in self.manifest.get(bundle, {}).items():
                key = f"{ASSETS_DIR}/{bundle}/{rel}"
                if (self.root / key).is_file():
                    continue  # an earlier asset of the block had the same files
                if not self.store.download_exact(key, self.root / key, size, sha):
                    raise UserError(f"its file {rel} is missing from the job, or damaged")
        except (OSError, StorageFailure) as exc:
            raise StorageFailure(f"the job's bucket failed: {exc}") from None

    def finished(self, asset, record: AssetRecord) -> None:
        folder = self.root / asset.id
        try:
            if record.status == "done":
                files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()]
                with ThreadPoolExecutor(8) as pool:
                    entries = list(pool.map(lambda p: self._upload(asset, folder, p), files))
                put_record(self.store, record, dict(entries))
            else:
                put_record(self.store, record)
        except OSError as exc:
            raise StorageFailure(f"the job's bucket failed: {exc}") from None
        shutil.rmtree(folder, ignore_errors=True)  # a node's disk holds one asset at a time
        if asset.stored:
            bundle = bundle_of(asset)
            self.uses[bundle] -= 1
            if self.uses[bundle] <= 0:
                shutil.rmtree(self.root / ASSETS_DIR / bundle, ignore_errors=True)

    def _upload(self, asset, folder: Path, path: Path) -> tuple[str, list]:
        rel = path.relative_to(folder).as_posix()
        entry = [path.stat().st_size, sha256_of(path)]
        self.store.upload(path, f"{asset.id}/{rel}")
        return rel, entry


def bundle_of(asset) -> str:
    return asset.stored.split("/")[2]
