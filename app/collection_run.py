"""``--import-list`` / ``--import-dir``: one dataset per asset, ``OUT/<id>/``, many assets per Blender process.

Each asset is imported into a fresh empty scene (``blender_io.assets``), normalised and lit, then rendered by the
same pipeline as any scene. An asset that fails (a broken or empty model, a refused download) is recorded with
its reason and the batch goes on. ``--workers N`` runs N processes over contiguous blocks of the assets;
``--resume`` skips assets whose record says done and finishes one that was cut off.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..core.asset_index import AssetRecord, read_record, write_index, write_record
from ..core.collection import AXES, LIGHTING, NORMALIZE, Asset, read_import_list, scan_dir, shard_assets
from ..core.errors import UserError
from ..core.files import write_json_atomic
from ..core.layout import BATCH_FILE, COLLECTION_DIR, INDEX_CSV, INDEX_JSON, PLAN_FILE, RECORDS_DIR
from ..core.settings import SettingError
from ..core.shards import parse_shard
from ..core.text import one_line
from .cli_parts import EXIT_FAILED, EXIT_OK, script_args
from .dataset import IncompleteError, RunOptions, Source

OPTIONS = ("normalize", "up_axis", "forward_axis", "lighting", "cache", "max_download_mb", "pattern")


def add_collection_options(p, src) -> None:
    src.add_argument("--import-list", metavar="FILE", help="assets to render, one per line: SOURCE [ID] [SHA256]")
    src.add_argument("--import-dir", metavar="DIR", help="every model under DIR (ShapeNet's layout recognised)")
    g = p.add_argument_group("collections (--import-list, --import-dir)")
    g.add_argument("--pattern", metavar="GLOB", help="with --import-dir: only files matching GLOB (e.g. '*.glb')")
    g.add_argument(
        "--normalize",
        choices=NORMALIZE,
        default="unit-cube",
        help="centre each asset and scale it into [-0.5, 0.5]^3 or the unit sphere (default unit-cube)",
    )
    g.add_argument("--up-axis", choices=AXES, help="the models' up axis, for importers that take one (.obj: Y)")
    g.add_argument("--forward-axis", choices=AXES, help="the models' forward axis (.obj: -Z)")
    g.add_argument(
        "--lighting",
        choices=LIGHTING,
        default="studio",
        help="studio (three area lights), uniform (a white world) or sun (default studio)",
    )
    g.add_argument("--cache", metavar="DIR", help="download cache for URL sources (default OUT/.nerf_collection/cache)")
    g.add_argument("--max-download-mb", type=int, default=512, metavar="MB", help="largest download (default 512)")
    g.add_argument("--asset-shard", metavar="I/N", help="render only block I of N of the assets (each worker's)")


def collection_given(args) -> bool:
    return bool(getattr(args, "import_list", None) or getattr(args, "import_dir", None))


def check_options(args) -> None:
    """Options of a collection run given to a single-scene run are refused rather than ignored, and a collection's
    own values are checked here, once, rather than failing every asset."""
    if not collection_given(args):
        given = [o for o in OPTIONS if getattr(args, o, None) not in (None, "unit-cube", "studio", 512)]
        if given or args.asset_shard:
            flag = "--" + (given[0] if given else "asset_shard").replace("_", "-")
            raise UserError(f"{flag} belongs to a collection: give --import-list or --import-dir")
        return
    if args.object:
        raise UserError("--object names a scene's object; a collection renders each asset whole")
    if args.shard:
        raise UserError("--shard splits one dataset's views; a collection is split by --asset-shard")
    if args.pattern and args.import_list:
        raise UserError("--pattern filters --import-dir's files; a list names its assets itself")
    if not 1 <= args.max_download_mb <= 1 << 20:
        raise UserError(f"--max-download-mb must be 1 to {1 << 20}, not {args.max_download_mb}")
    if args.up_axis and args.forward_axis and args.up_axis.lstrip("-") == args.forward_axis.lstrip("-"):
        raise UserError(f"--forward-axis {args.forward_axis} and --up-axis {args.up_axis} lie on one axis")
    if args.cache:
        cache = Path(args.cache).expanduser().absolute()
        if cache.exists() and not cache.is_dir():
            raise UserError(f"--cache {cache} exists and is not a folder")
        out = Path(args.out).expanduser().absolute()
        if cache == out or (cache.is_relative_to(out) and not cache.is_relative_to(out / COLLECTION_DIR)):
            raise UserError(f"--cache {cache} lies in --out; leave it out (the default is inside the collection)")


def normalized_argv(argv: list[str]) -> list[str]:
    """``--up-axis -Y`` as ``--up-axis=-Y``: argparse would take ``-Y`` for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in ("--up-axis", "--forward-axis") and i + 1 < len(argv) and argv[i + 1] in AXES:
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def load_assets(args) -> list[Asset]:
    if args.import_list:
        return read_import_list(args.import_list)
    return scan_dir(args.import_dir, args.pattern, exclude=Path(args.out).expanduser().absolute())


def run_collection(settings, args, run: RunOptions, argv: list[str] | None = None) -> int:
    """``argv``: our own options as given (a worker's command repeats them); default: this process's."""
    assets = load_assets(args)
    out = run.out_dir
    shard = parse_shard(args.asset_shard) if args.asset_shard else None
    batch = _batch(settings, args)
    if shard is None:
        _check_out(out, assets, run, batch)
        _prepare_out(out, run, batch)
    if args.workers > 1 and shard is None:
        return _parallel(args, out, assets, script_args(sys.argv) if argv is None else argv)
    mine = shard_assets(assets, shard) if shard else assets
    from ..blender_io.assets import AssetOptions

    opts = AssetOptions(args.normalize, args.up_axis, args.forward_axis, args.lighting)
    for i, asset in enumerate(mine, start=1):
        if run.resume and _finished(out, asset):
            continue
        record = _render_asset(asset, settings, opts, out, run, args)
        write_record(out, record)
        what = f"done, {record.views} views" if record.status == "done" else f"failed: {record.reason}"
        print(f"[{i}/{len(mine)}] {asset.id}: {what} ({record.seconds:.1f} s)", file=sys.stderr, flush=True)
    if shard is not None:
        return EXIT_OK
    return _summary(out, assets)


def _batch(settings, args) -> dict:
    """What every asset of the batch is made with: a resume must ask for the same."""
    import json

    options = {k: getattr(args, k) for k in ("normalize", "up_axis", "forward_axis", "lighting")}
    return json.loads(json.dumps({"settings": settings.to_dict(), **options}))  # as saved: lists, not tuples


def _finished(out: Path, asset: Asset) -> bool:
    rec = read_record(out, asset.id)
    return rec is not None and rec.status == "done" and (out / asset.id / PLAN_FILE).is_file()


def _render_asset(asset: Asset, settings, opts, out: Path, run: RunOptions, args) -> AssetRecord:
    from ..blender_io.assets import import_asset
    from .fetch import FetchOptions, fetch
    from .pipeline import make_dataset

    t0 = time.monotonic()
    norm: dict = {}
    started = read_record(out, asset.id)
    try:
        path = asset.source
        if asset.remote:
            cache = Path(args.cache) if args.cache else out / COLLECTION_DIR / "cache"
            path = str(fetch(asset, FetchOptions(cache, max_bytes=args.max_download_mb << 20)))
        objs, norm = import_asset(path, opts, run.quiet)
        folder = out / asset.id
        # Finish what this batch started (its record says so); anything else in the folder is an older batch's
        cut_off = run.resume and (folder / PLAN_FILE).is_file() and started is not None and started.status == "started"
        write_record(out, AssetRecord(asset.id, asset.shown, "started"))
        resume = cut_off
        one = RunOptions(out=folder, resume=resume, overwrite=not resume, threads=run.threads, quiet=run.quiet)
        source = Source(object=objs[0].name, objects=tuple(o.name for o in objs))
        try:
            job = make_dataset(settings, source, one)
        except SettingError:
            if not resume:
                raise
            # killed before its dataset was replaced: the folder holds an older batch's (ours), so redo it
            job = make_dataset(settings, source, RunOptions(out=folder, overwrite=True, threads=run.threads,
                                                            quiet=run.quiet))  # fmt: skip
        job.planned.release()
        plan = job.plan
        note, bounds = norm.pop("note", ""), (tuple(plan.scene.bounds_min), tuple(plan.scene.bounds_max))
        seconds = round(time.monotonic() - t0, 3)
        return AssetRecord(asset.id, asset.shown, "done", note, len(plan.views), norm, *bounds, seconds)
    except (UserError, IncompleteError, OSError) as exc:
        reason = str(exc)
    except Exception as exc:  # an importer's own failure on a broken file: this asset fails, the batch goes on
        reason = f"{type(exc).__name__}: {exc}"
    norm.pop("note", None)
    return AssetRecord(asset.id, asset.shown, "failed", one_line(reason, 300), 0, norm, (), (),
                       round(time.monotonic() - t0, 3))  # fmt: skip


def _check_out(out: Path, assets: list[Asset], run: RunOptions, batch: dict | None) -> None:
    """OUT holds nothing but a collection of ours (the index, our folder, the assets' folders); a started one is
    resumed with the very settings it was started with (``batch``; None: not compared), or redone with
    --overwrite. Changes nothing."""
    if out.exists() and not out.is_dir():
        raise SettingError("out", f"{{}} {out} exists and is not a folder")
    names = {p.name for p in out.iterdir()} if out.exists() else set()
    ours = {INDEX_JSON, INDEX_CSV, COLLECTION_DIR} | {a.id.split("/")[0] for a in assets}
    if (out / RECORDS_DIR).is_dir():  # an asset of an earlier run of this collection (since taken out of it)
        ours |= {p.name for p in (out / RECORDS_DIR).iterdir()}
    foreign = sorted(names - ours)
    if foreign:
        raise SettingError(
            "out", f"{{}} {out} holds files this tool did not write ({foreign[0]}…); choose another folder"
        )
    started = bool(names - {COLLECTION_DIR}) or (out / RECORDS_DIR).is_dir()  # the panel's log alone is no batch
    if started and not (run.resume or run.overwrite):
        raise SettingError(
            "out", f"{{}} {out} holds a collection: use {{resume}} to finish it or {{overwrite}} to redo it"
        )
    saved = _saved_batch(out)
    if run.resume and started and batch is not None and saved is None:
        raise SettingError(
            "resume", f"{{}}: the collection in {out} has no readable settings (.nerf_collection/batch.json), so "
            "its assets cannot be known to match; use {overwrite} to redo it"
        )  # fmt: skip
    if run.resume and started and saved is not None and batch is not None and saved != batch:
        diff = next((k for k in batch if k != "settings" and batch[k] != saved.get(k)), None)
        if diff is None:
            mine, theirs = batch["settings"], saved["settings"]
            diff = next((k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k)), "settings")
            was, now = theirs.get(diff), mine.get(diff)
        else:
            was, now = saved.get(diff), batch[diff]
        made = f"made with {diff} {was!r}, not {now!r}"
        raise SettingError("resume", f"{{}} continues the collection in {out}, {made}; use {{overwrite}} to redo it")


def _prepare_out(out: Path, run: RunOptions, batch: dict) -> None:
    """After the checks: --overwrite clears the records and index (ours); a new batch saves its settings."""
    if run.overwrite:
        shutil.rmtree(out / RECORDS_DIR, ignore_errors=True)
        for name in (INDEX_JSON, INDEX_CSV):
            (out / name).unlink(missing_ok=True)
    if not (run.resume and _saved_batch(out) is not None):
        write_json_atomic(out / BATCH_FILE, batch)


def _saved_batch(out: Path) -> dict | None:
    import json

    try:
        saved = json.loads((out / BATCH_FILE).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return saved if isinstance(saved, dict) and isinstance(saved.get("settings"), dict) else None


def _final(record: AssetRecord | None, asset: Asset) -> AssetRecord:
    if record is None:
        return AssetRecord(asset.id, asset.shown, "failed", "not rendered (its worker died)")
    if record.status == "started":
        return AssetRecord(asset.id, asset.shown, "failed", "not finished (its process died while rendering it)")
    return record


def _summary(out: Path, assets: list[Asset]) -> int:
    records = [_final(read_record(out, a.id), a) for a in assets]
    write_index(out, records)
    failed = [r for r in records if r.status != "done"]
    views = sum(r.views for r in records)
    print(f"wrote {len(records) - len(failed)} of {len(records)} assets ({views} views) to {out}; index: {INDEX_CSV}")
    if failed:
        print(f"cli.py: failed: {len(failed)} of {len(records)} assets, e.g. {failed[0].id}: {failed[0].reason}",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    return EXIT_OK


def _parallel(args, out: Path, assets: list[Asset], argv: list[str]) -> int:
    """N processes, each a block of the assets; each writes its assets' records, the parent the index."""
    from ..cloud.local import _die_with_parent, cli_command, threads_per_worker

    n = min(args.workers, len(assets))
    ours = _without(normalized_argv(argv), "--workers")  # OUT checked (and cleared) above
    threads = threads_per_worker(n)
    procs = []
    (out / COLLECTION_DIR).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cmd = cli_command([*ours, "--asset-shard", f"{i}/{n}", "--threads", str(threads)])
        log = open(out / COLLECTION_DIR / f"worker-{i}.log", "ab")
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent))
        log.close()
    try:
        for p in procs:
            p.wait()
    except BaseException:
        for p in procs:
            p.kill()
        raise
    return _summary(out, assets)


def _without(argv: list[str], flag: str) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            out.append(a)
    return out
