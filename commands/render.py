"""``cli.py [OPTIONS]``: render a dataset (of a scene, or one per asset of a collection), or ``--collect`` one.

The same command under ``blender -b scene.blend -P cli.py -- OPTIONS`` and ``python cli.py OPTIONS``. Its flags
are the option families' (``core.options``): the scene source, the dataset's settings, the run, a collection's;
each is read into its typed values here and handed to the application, which never sees a command line.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ..app.dataset import SCENES, IncompleteError, RunOptions, Source
from ..app.processes import max_workers
from ..blender_io.presence import require_blender
from ..core.collection import AXES, AssetOptions, CollectionOptions
from ..core.errors import UserError
from ..core.layout import BATCH_FILE, PLAN_FILE
from ..core.options import OptionError, build, flag_of
from ..core.preview import PREVIEW_FILE
from ..core.settings import Settings, settings_from_values
from .parsing import EXIT_FAILED, EXIT_OK, Parser, Progress, add_family, failed, given, refused, say

PROG = "cli.py"
LISTS = ("import_list", "import_dir")
# Options of a collection: given to a single scene, they are refused rather than ignored.
COLLECTION_ONLY = ("pattern", "cache", "max_download_mb", "asset_shard")


def build_parser() -> argparse.ArgumentParser:
    from ..exporters import FORMATS

    p = Parser(prog=PROG, description="Render a NeRF / 3D Gaussian Splatting training dataset from a Blender scene.")
    scene = p.add_mutually_exclusive_group()
    add_family(scene, Source, only=SCENES)
    add_family(scene, CollectionOptions, only=LISTS)
    group = p.add_argument_group("collections (--import-list, --import-dir)")
    add_family(group, CollectionOptions, skip=LISTS)
    add_family(group, AssetOptions)
    add_family(p, Source, only=("object",))
    add_family(p, RunOptions, only=("out", "overwrite", "resume"))
    add_settings(p, FORMATS)
    add_family(p, RunOptions, only=("workers", "shard", "threads", "retries"))
    p.add_argument("--collect", action="store_true", help="only finalise --out: check the images, write the formats")
    add_family(p, RunOptions, only=("verbose",))
    return p


def add_settings(p, formats: dict) -> None:
    """One option per setting, from ``core.settings``' descriptions."""
    add_family(p, Settings, dynamic=formats)


def settings_from_args(a: argparse.Namespace) -> Settings:
    """The settings the options give, checked: a ``SettingError`` names the flag."""
    from ..core.settings import SETTING_FIELDS, compound_flags, meta_of
    from ..exporters import FORMATS

    values = {name: getattr(a, name) for name in SETTING_FIELDS if getattr(a, name, None) is not None}
    for flag, names in compound_flags().items():  # the first part's option holds the compound's text
        text = values.pop(names[0], None)
        if text is not None and meta_of(names[0]).part == 0:
            values[flag[2:]] = text
    return settings_from_values({k: v for k, v in values.items() if v is not False}, FORMATS)


def joined_negatives(argv: list[str]) -> list[str]:
    """``--up-axis -Y`` as ``--up-axis=-Y``: argparse would take ``-Y`` for an option."""
    flags = {"--up-axis", "--forward-axis"}
    out, i = [], 0
    while i < len(argv):
        if argv[i] in flags and i + 1 < len(argv) and argv[i + 1] in AXES:
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def run_options(a: argparse.Namespace) -> RunOptions:
    run = RunOptions(**given(RunOptions, a))
    if run.overwrite and run.resume:
        raise UserError("--overwrite and --resume contradict each other; give one")
    if run.shard is not None and run.workers > 1:
        raise UserError("--shard renders one shard in this process; --workers runs every shard: give one")
    if run.workers > max_workers():
        raise OptionError("workers", f"{{}} must be 1 to {max_workers()} here (each Blender needs about 500 MB "
                          "of memory)")  # fmt: skip
    return run


def main(ours: list[str]) -> int:
    a = None
    try:
        a = build_parser().parse_args(joined_negatives(ours))
        if a.collect:
            return _collect(a)
        settings = settings_from_args(a)
        run = run_options(a)
        source = build(Source, given(Source, a), "the scene")
        collection = CollectionOptions(**given(CollectionOptions, a))
        assets = AssetOptions(**given(AssetOptions, a))
        _check_kind(a, source, collection, run)
        if collection.given:
            return _collection(settings, assets, collection, run)
        require_blender()
        return _scene(settings, source, run)
    except UserError as exc:
        return refused(PROG, exc)
    except (IncompleteError, OSError) as exc:  # OSError: the disk said no (full, read-only, a folder in the way)
        return failed(PROG, _failure(exc) + _advice(a))


def _check_kind(a, source: Source, collection: CollectionOptions, run: RunOptions) -> None:
    """A collection's options given to one scene, or one scene's to a collection, are refused, not ignored."""
    if not collection.given:
        extra = [n for n in (*COLLECTION_ONLY, *AssetOptions.__dataclass_fields__) if getattr(a, n, None) is not None]
        if extra:
            raise OptionError(extra[0], "{} belongs to a collection: give {import_list} or {import_dir}")
        return
    if source.object:
        raise OptionError("object", "{} names a scene's object; a collection renders each asset whole")
    if run.shard:
        raise OptionError("shard", "{} splits one dataset's views; a collection is split by {asset_shard}")


def _scene(settings: Settings, source: Source, run: RunOptions) -> int:
    from ..blender_io import compat

    if not (source.given or compat.inside_blender_executable()):
        raise UserError("give the scene: --blend PATH, --import PATH or --demo")
    if run.workers > 1 and run.shard is None:
        from ..cloud.actions import render_with_workers

        planned = render_with_workers(settings, source, run, Progress())
    else:
        from ..app.pipeline import make_dataset

        planned = make_dataset(settings, source, run, Progress()).planned
    try:
        return _summary(planned, settings, run)
    finally:
        planned.release()


def _collection(settings: Settings, options: AssetOptions, collection: CollectionOptions, run: RunOptions) -> int:
    """Plan the batch once (its file is every worker's input), render it here or in N workers, write the index;
    the collection folder is this run's throughout. A block of it (``--asset-shard I/N``, started by hand beside
    the others) renders only that: it continues the batch in OUT as ``--resume`` would, or starts it."""
    from ..app.collection_run import (
        DEFAULT_TIMEOUT,
        check_out,
        held,
        join_batch,
        plan_batch,
        render_assets,
        run_workers,
        start,
    )

    out, block = run.out_dir, collection.asset_shard
    if block is not None and (run.overwrite or run.workers > 1):
        words = "{overwrite} redoes the whole batch" if run.overwrite else "{workers} runs every block"
        raise OptionError("asset_shard", f"{{}} renders one block of the batch; {words}: give one")
    if block is not None and collection.asset_timeout:
        raise OptionError("asset_timeout", "{} needs a watchdog process; a block started by hand renders in this one "
                          "(a run with {workers}, or a job's workers, stop assets)")  # fmt: skip
    batch = plan_batch(settings, options, collection, out)
    with held(out, shared=block is not None):
        check_out(out, batch, run, block=block is not None)  # a refusal of the folder needs no Blender
        require_blender()
        if block is not None:
            join_batch(out, batch, run)
            return block_done(block, render_assets(out, batch, replace(run, resume=True), block), len(batch.assets))
        start(batch, run)
        if run.workers > 1 or collection.asset_timeout:  # each block under a watchdog
            run_workers(out, batch, run, collection.asset_timeout or DEFAULT_TIMEOUT)
        else:
            render_assets(out, batch, run)
        return finish_batch(out, batch)


def block_done(block: tuple[int, int], failures: list, assets: int) -> int:
    """A block's end: exit 1 naming a failed asset, if any (the batch's index is written by its whole run)."""
    if failures:
        first, many = failures[0], "s" if len(failures) > 1 else ""
        return failed(PROG, f"{len(failures)} asset{many} of block {block[0]}/{block[1]} failed, e.g. {first.id}: "
                      f"{first.reason}")  # fmt: skip
    if block[0] >= assets:
        print(f"block {block[0]}/{block[1]} of {assets} assets holds none")
    return EXIT_OK


def finish_batch(out: Path, batch) -> int:
    from ..app.collection_run import summary

    failures, line = summary(out, batch)
    print(line)
    if failures:
        return failed(
            PROG, f"{len(failures)} of {len(batch.assets)} assets, e.g. {failures[0].id}: {failures[0].reason}"
        )
    return EXIT_OK


def _failure(exc: Exception) -> str:
    """An OSError as a person reads it: what failed on which file (its final name, not our temporary one)."""
    if not isinstance(exc, OSError) or not exc.filename:
        return str(exc)
    from ..app.ownership import TEMPORARY

    path = Path(exc.filename)
    temp = TEMPORARY.match(path.name)
    return f"{exc.strerror or exc} writing {path.with_name(temp['name']) if temp else path}"


def _advice(a) -> str:
    """ "--resume finishes ..." only where there is a started dataset (or collection) to resume."""
    out = Path(a.out).expanduser() if a is not None and a.out is not None else None
    if out is not None and (out / PLAN_FILE).is_file():
        return "; --resume finishes the dataset"
    if out is not None and (out / BATCH_FILE).is_file():
        return "; --resume finishes the collection"
    return ""


def _summary(planned, settings: Settings, run: RunOptions) -> int:
    plan, out_dir = planned.plan, planned.out_dir
    for note in plan.notes:
        print(f"cli.py: warning: {note}", file=sys.stderr)
    i = plan.intrinsics
    if run.shard:
        print(f"wrote shard {run.shard[0]}/{run.shard[1]} of {out_dir}")
        return EXIT_OK
    views = f"{len(plan.views)} view{'s' if len(plan.views) != 1 else ''}"
    print(f"wrote {views} ({i.w}x{i.h}, {', '.join(settings.formats)}) to {out_dir}; contact sheet: {PREVIEW_FILE}")
    from ..app.pipeline import check_written

    return print_report(check_written(planned))


def print_report(report) -> int:
    for line in report.lines():
        say(f"cli.py: validate: {line}", sys.stderr)
    say(f"validate: {report.summary()}", sys.stdout)
    return EXIT_FAILED if report.problems else EXIT_OK


def _collect(a: argparse.Namespace) -> int:
    """``--collect`` finalises what the saved plan says: any other option would be silently ignored."""
    from ..app.dataset import finalise
    from ..app.lock import OutputLock
    from ..app.ownership import saved_plan
    from ..app.validate import validate

    others = [k for k, v in vars(a).items() if v not in (None, False) and k not in ("out", "collect", "verbose")]
    if others:
        raise UserError(
            f"--collect finalises the dataset its plan describes; it takes only --out, not {flag_of(others[0])}"
        )
    root = Path(a.out).expanduser().absolute()
    if not root.is_dir() or saved_plan(root) is None:
        raise UserError(f"--out {root} holds no planned dataset to collect")
    lock = OutputLock(root).acquire()
    try:
        written = finalise(root)
    finally:
        lock.release()
    print(f"wrote {len(written)} dataset files to {a.out}")
    return print_report(validate(root))  # no scene here: the structural checks only
