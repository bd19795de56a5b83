"""``cli.py submit | worker | status | collect | cancel``: the job contract on the command line.

    cli.py submit --backend local|slurm|aws-batch|kubernetes|gcp-batch --job DIR|s3://BUCKET/PREFIX --shards N [...]
    cli.py submit --retry-missing --job DIR|s3://...
    cli.py worker --job DIR|s3://... [--shard I/N]
    cli.py status --job DIR|s3://...
    cli.py collect --job DIR|s3://... [--out OUT]
    cli.py cancel --job DIR|s3://...

Each reads its flags into typed values (the families of ``core.options``) and calls the action of
``cloud.actions`` that the panel's operators call too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..app.dataset import SCENES, IncompleteError, RunOptions, Source
from ..blender_io.presence import require_blender
from ..cloud import actions
from ..cloud.actions import JobLocation, SubmitOptions
from ..cloud.engines import ENGINES
from ..cloud.places import job_place
from ..cloud.s3 import S3Options
from ..core.collection import AssetOptions, CollectionOptions
from ..core.errors import UserError
from ..core.options import OptionError, build, default_of, fields_of, flag_of, meta_of
from ..core.settings import SettingError, Settings
from .parsing import EXIT_FAILED, EXIT_OK, Parser, Progress, add_family, failed, given, help_of, refused
from .render import LISTS, add_settings, joined_negatives, settings_from_args

JOB_COLLECTION = ("pattern", "max_download_mb", "asset_timeout")
"""A collection's options that a job takes (its download cache is each node's own; its blocks are the shards)."""


def _job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = Parser(prog=prog, description=description)
    add_family(p, JobLocation)
    add_family(p.add_argument_group("object storage (a job in s3://...)"), S3Options)
    return p


def _place(a: argparse.Namespace):
    reach = given(S3Options, a)
    place = job_place(JobLocation(**given(JobLocation, a)).job, S3Options(**reach))
    if reach and place.kind == "folder":  # said, not ignored: the user meant a bucket
        flags = " and ".join(flag_of(n) for n in reach)
        raise UserError(
            f"{flags} {'reach' if len(reach) > 1 else 'reaches'} a job in a bucket; --job {place} is a folder"
        )
    return place


def _submit_parser() -> argparse.ArgumentParser:
    from ..exporters import FORMATS

    p = _job_parser("cli.py submit", "Plan once and hand the shards to a batch engine.")
    add_family(p, SubmitOptions)
    p.add_argument("--retry-missing", action="store_true", help="resubmit only the shards with missing views "
                   "(a collection's: assets)")  # fmt: skip
    p.add_argument("--retry-failed", action="store_true", help="with --retry-missing: a collection's failed assets "
                   "too (failures are final otherwise)")  # fmt: skip
    add_family(p, RunOptions, only=("overwrite",))
    add_family(p, RunOptions, only=("retries",), also=" (the local engine's)")
    scene = p.add_mutually_exclusive_group()
    add_family(scene, Source, only=SCENES)
    add_family(scene, CollectionOptions, only=LISTS)
    add_family(p, Source, only=("object",))
    group = p.add_argument_group("collections (--import-list, --import-dir)")
    add_family(group, CollectionOptions, only=JOB_COLLECTION)
    add_family(group, AssetOptions)
    add_engine_options(p)
    add_family(p, RunOptions, only=("verbose",))
    add_settings(p, FORMATS)
    return p


def add_engine_options(p) -> None:
    """Each engine's own flags, in a group per engine; a flag two engines share (``--memory``) once, its help
    saying what each takes."""
    owners: dict[str, list] = {}
    for engine in ENGINES.values():
        for name in fields_of(engine.options) if engine.options else ():
            owners.setdefault(meta_of(engine.options, name).flag, []).append((engine, name))
    for engine in ENGINES.values():
        if engine.options is None:
            continue
        group = p.add_argument_group(engine.name)
        for name in fields_of(engine.options):
            meta = meta_of(engine.options, name)
            shared = owners[meta.flag]
            if len(shared) == 1:
                add_family(group, engine.options, only=(name,), required=False)
            elif shared[0][0] is engine:  # once, in the first owner's group: what each engine takes
                metavars = {meta_of(e.options, n).metavar for e, n in shared}
                helps = [help_of(e.options, n) for e, n in shared]
                each = "; ".join(f"{e.name}: {h}" for (e, _), h in zip(shared, helps))
                if len(set(helps)) == 1:
                    each = f"{helps[0]} ({', '.join(e.name for e, _ in shared)})"
                group.add_argument(meta.flag, dest=name, default=None, help=each,
                                   metavar=metavars.pop() if len(metavars) == 1 else "VALUE")  # fmt: skip


def _typed(cls, a: argparse.Namespace) -> list[str]:
    """The options of ``cls`` typed in ``a`` (not read yet: a flag of another engine is refused as such)."""
    return [n for n in fields_of(cls) if getattr(a, n, None) not in (None, False)]


def _flags(cls) -> set[str]:
    return {meta_of(cls, n).flag for n in fields_of(cls)}


def check_applicable(a: argparse.Namespace, engine) -> None:
    """Every engine option typed belongs to ``engine``: a flag of another engine is refused, not ignored."""
    mine = _flags(engine.options) if engine.options else set()
    for other in ENGINES.values():
        for name in _typed(other.options, a) if other.options else ():
            flag = meta_of(other.options, name).flag
            if flag in mine:
                continue
            owners = [e.name for e in ENGINES.values() if e.options and flag in _flags(e.options)]
            if len(owners) == 1:
                article = "an" if owners[0][0] in "aeiou" else "a"
                raise UserError(f"{flag} is {article} {owners[0]} option, not one of --backend {engine.name}")
            raise UserError(f"{flag} is an option of {' and '.join(owners)}, not of {engine.name}")
    if getattr(a, "retries", None) is not None and not engine.runs_here:
        raise UserError(f"--retries restarts the workers of the local engine; {engine.label} retries its own tasks")


def _run_value(a: argparse.Namespace, name: str):
    return given(RunOptions, a, only=(name,)).get(name, default_of(RunOptions, name))


def submit_command(args: list[str]) -> int:
    a = _submit_parser().parse_args(joined_negatives(args))
    place = _place(a)
    if a.retry_missing:
        return _retry_missing(place, a)
    if a.retry_failed:
        raise UserError("--retry-failed goes with --retry-missing (cli.py submit --retry-missing --retry-failed "
                        "--job J)")  # fmt: skip
    asked = SubmitOptions(**given(SubmitOptions, a))
    settings = settings_from_args(a)
    engine = ENGINES[asked.backend]
    check_applicable(a, engine)  # the panel shows each engine's own settings only: no such mix-up there
    collection = CollectionOptions(**given(CollectionOptions, a))
    assets = AssetOptions(**given(AssetOptions, a))
    _check_collection(a, collection)
    options = build(engine.options, given(engine.options, a), f"--backend {engine.name}") if engine.options else None
    sub = actions.submission(place, asked, options, _run_value(a, "overwrite"), _run_value(a, "retries"))
    if collection.given:  # planned and copied into the job without Blender
        print(actions.submit_collection(sub, settings, assets, collection, Progress(what="finished {} assets")))
        return EXIT_OK
    require_blender()
    source = Source(**given(Source, a))
    if not source.given:
        raise UserError("give the scene: --blend PATH, --import PATH or --demo")
    if place.kind != "folder":
        print(f"uploading the job to {place}", file=sys.stderr)
    print(actions.submit(sub, settings, source, not _run_value(a, "verbose"), Progress()))
    return EXIT_OK


def _check_collection(a: argparse.Namespace, collection: CollectionOptions) -> None:
    """A collection's options given to one scene, or a scene's ``--object`` to a collection: refused, not
    ignored."""
    if collection.given:
        if a.object:
            raise OptionError("object", "{} names a scene's object; a collection renders each asset whole")
        return
    extra = [n for n in (*JOB_COLLECTION, *AssetOptions.__dataclass_fields__) if getattr(a, n, None) is not None]
    if extra:
        raise OptionError(extra[0], "{} belongs to a collection: give {import_list} or {import_dir}")


def _retry_missing(place, a: argparse.Namespace) -> int:
    """The shards with missing views again; engine options typed now replace the job's (for this retry, or, on
    Slurm, for good)."""
    asked = [(SubmitOptions, ("backend", "shards")), (Source, None), (Settings, None), (RunOptions, ("overwrite",)),
             (CollectionOptions, None), (AssetOptions, None)]  # fmt: skip
    unused = [meta_of(cls, n).flag for cls, names in asked for n in _typed(cls, a) if names is None or n in names]
    if unused:
        raise UserError(f"--retry-missing starts the job as it was planned; it takes no {unused[0]}")
    spec, _ = place.read(need_scene=False)
    engine = ENGINES.get(spec.backend)
    typed = {}
    if engine is not None:
        check_applicable(a, engine)
        typed = given(engine.options, a) if engine.options is not None else {}
    emit = given(SubmitOptions, a, only=("emit",)).get("emit")
    print(actions.retry_missing(place, typed, emit, bool(a.apply), _run_value(a, "retries"), Progress(),
                                a.retry_failed))  # fmt: skip
    return EXIT_OK


def worker_command(args: list[str]) -> int:
    p = _job_parser("cli.py worker", "Render one shard of a job (a batch engine's task).")
    add_family(p, RunOptions, only=("shard", "threads", "verbose"))
    p.add_argument("--under-parent", action="store_true", help=argparse.SUPPRESS)  # its parent holds the lock
    p.add_argument("--asset-child", metavar="BEAT", help=argparse.SUPPRESS)  # a collection block's renderer
    a = p.parse_args(args)
    run = given(RunOptions, a, only=("shard", "threads", "verbose"))
    place = _place(a)
    threads = run.get("threads", default_of(RunOptions, "threads"))
    if a.asset_child:  # under its watchdog, the worker of a collection's block (cloud.collection_worker)
        from ..cloud.collection_worker import render_block

        require_blender()
        print(render_block(place, run.get("shard"), threads, not run.get("verbose"), Path(a.asset_child)))
        return EXIT_OK
    if place.job_kind() != "collection":  # a collection's worker is a watchdog: its renderer needs Blender
        require_blender()
    print(place.render_shard(run.get("shard"), threads, not run.get("verbose"), Progress(), a.under_parent))
    return EXIT_OK


def status_command(args: list[str]) -> int:
    a = _job_parser("cli.py status", "Views done per shard, and each task as the engine sees it.").parse_args(args)
    st = actions.job_status(_place(a))
    for line in st.lines():
        print(line)
    return EXIT_OK if st.finished else EXIT_FAILED


def collect_command(args: list[str]) -> int:
    p = _job_parser("cli.py collect", "Check every view of a job and write the dataset. No Blender.")
    p.add_argument("--out", metavar="DIR", help="where the dataset goes (default: the job folder itself)")
    add_family(p, RunOptions, only=("overwrite",))
    a = p.parse_args(args)
    if a.out and a.out.lower().startswith("s3://"):
        raise UserError("--out is a folder here; collect downloads a job's dataset, it does not upload one")
    written, out, report = actions.collect(_place(a), a.out, bool(a.overwrite), Progress(what="downloaded {} files"))
    if report is None:  # a collection: each asset's dataset was checked by its worker
        print(written.line())
        if written.failed:
            first = written.failed[0]
            return failed("cli.py collect", f"{len(written.failed)} of {written.total} assets failed, e.g. "
                          f"{first.id}: {first.reason}")  # fmt: skip
        return EXIT_OK
    print(f"wrote {len(written)} dataset files to {out}")
    print(f"validate: {report.summary()}")
    return EXIT_FAILED if report.problems else EXIT_OK


def cancel_command(args: list[str]) -> int:
    a = _job_parser("cli.py cancel", "Cancel every task of a job with the engine's own cancel.").parse_args(args)
    print(actions.cancel(_place(a)))
    return EXIT_OK


def guarded(name: str, command):
    """The command with the job contract's exit codes: bad input 2, work that could not be done 1."""

    def run(args: list[str]) -> int:
        prog = f"cli.py {name}"
        try:
            return command(args)
        except SettingError as exc:  # a job's folder is its --job (the settings keep their flags)
            return refused(prog, exc, lambda n: "--job" if n == "out" and name != "collect" else flag_of(n))
        except UserError as exc:
            return refused(prog, exc)
        except (IncompleteError, OSError) as exc:
            return failed(prog, str(exc))

    return run


COMMANDS = {
    name: guarded(name, command)
    for name, command in (
        ("submit", submit_command),
        ("worker", worker_command),
        ("status", status_command),
        ("collect", collect_command),
        ("cancel", cancel_command),
    )
}
