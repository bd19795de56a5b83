"""The headless command line, shared by ``blender -b -P cli.py -- OPTIONS`` and ``python cli.py OPTIONS``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.collection import AXES, NORMALIZE
from ..core.errors import UserError
from ..core.preview import PREVIEW_FILE
from ..core.shards import parse_shard
from ..core.text import one_line
from .cli_parts import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    Parser,
    Progress,
    add_settings,
    require_blender,
    script_args,
    settings_from_args,
)
from .collection_run import add_collection_options, check_options, collection_given, normalized_argv, run_collection
from .dataset import IncompleteError, RunOptions

# cli.py's commands beside rendering and validate: the job contract (cloud/).
JOB_COMMANDS = ("submit", "worker", "status", "collect", "cancel")


def build_parser() -> argparse.ArgumentParser:
    from ..exporters import FORMATS

    p = Parser(
        prog="cli.py", description="Render a NeRF / 3D Gaussian Splatting training dataset from a Blender scene."
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--blend", metavar="PATH", help=".blend to open (inside Blender: the loaded file when omitted)")
    src.add_argument(
        "--import", dest="import_path", metavar="PATH", help="model to import (.obj, .glb, .gltf, .ply, .stl)"
    )
    src.add_argument("--demo", action="store_true", help="the built-in demo scene")
    add_collection_options(p, src)
    p.add_argument("--object", metavar="NAME", help="object to orbit (default: active object, else all visible meshes)")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    p.add_argument(
        "--resume", action="store_true", help="finish the dataset in --out: keep complete images, render the rest"
    )
    add_settings(p, FORMATS)
    p.add_argument("--workers", type=int, default=1, metavar="N", help="parallel Blender processes (default 1)")
    p.add_argument("--shard", metavar="I/N", help="render only shard I of N (what each worker runs)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="render threads (default: all cores)")
    p.add_argument("--retries", type=int, default=2, metavar="N", help="restarts of a failed worker (default 2)")
    p.add_argument("--collect", action="store_true", help="only finalise --out: check the images, write the formats")
    p.add_argument(
        "--verbose", action="store_true", help="show Blender's own output (rendering, opening and importing)"
    )
    return p


def build_validate_parser() -> argparse.ArgumentParser:
    p = Parser(prog="cli.py validate", description="Check a dataset against every consumer's rules.")
    p.add_argument("dir", metavar="DIR", help="dataset folder (ours or anyone's)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--blend", metavar="PATH", help="the scene, to reproject the object with the cameras")
    src.add_argument(
        "--import", dest="import_path", metavar="PATH", help="the model (.obj, .glb, .gltf, .ply, .stl) to reproject"
    )
    src.add_argument("--demo", action="store_true", help="the built-in demo scene")
    p.add_argument("--object", metavar="NAME", help="object to reproject (default: the dataset's target)")
    p.add_argument("--sample", type=int, metavar="N", help="reproject N views per format, spread evenly (default all)")
    g = p.add_argument_group("a collection's asset: --import its model with the options it was rendered with")
    g.add_argument("--normalize", choices=NORMALIZE, help="as the collection normalised it")
    g.add_argument("--up-axis", choices=AXES)
    g.add_argument("--forward-axis", choices=AXES)
    return p


# A Blender process that opened a small scene and renders with Cycles peaks near 300 MB, EEVEE near 1.6 GB
# (research/blender-headless.md); 500 MB keeps a margin for Cycles' usual scenes.
WORKER_MB = 500


def max_workers() -> int:
    """As many workers as this machine's memory holds (Linux: MemAvailable), and never absurdly many."""
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return 64
    return max(1, min(256, kb // 1024 // WORKER_MB))


def run_options(args: argparse.Namespace) -> RunOptions:
    if args.overwrite and args.resume:
        raise UserError("--overwrite and --resume contradict each other; give one")
    if not (1 <= args.workers <= max_workers()):
        raise UserError(
            f"--workers must be 1 to {max_workers()} here (each Blender needs about {WORKER_MB} MB of memory)"
        )
    if not (0 <= args.retries <= 100 and 0 <= args.threads <= 1024):
        raise UserError("--retries must be 0 to 100 and --threads 0 to 1024")
    return RunOptions(
        out=args.out,
        overwrite=args.overwrite,
        resume=args.resume,
        shard=parse_shard(args.shard) if args.shard is not None else None,
        threads=args.threads,
        quiet=not args.verbose,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    finally:
        _leave_no_failed_driver()


def _leave_no_failed_driver() -> None:
    """bpy 4.5 hangs at exit once a Python driver failed to run (auto-run off: "restricted access"), whatever
    the run did; an empty file before exit lets it end."""
    bpy = sys.modules.get("bpy")
    if bpy is None:
        return
    owners = (bpy.data.objects, bpy.data.cameras, bpy.data.lights, bpy.data.materials, bpy.data.meshes)
    if any(not fc.driver.is_valid for kind in owners for owner in kind if owner.animation_data
           for fc in owner.animation_data.drivers):  # fmt: skip
        from ..blender_io.quiet import quiet_stdout

        with quiet_stdout():
            bpy.ops.wm.read_factory_settings(use_empty=True)


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    ours = script_args(argv)
    if ours[:1] == ["validate"]:
        return _validate_command(ours[1:])
    if ours[:1] == ["stream"]:
        from .stream_instance import stream_command

        return stream_command(ours[1:], build_parser())
    if ours[:1] and ours[0] in JOB_COMMANDS:
        from ..cloud.commands import run_command

        return run_command(ours[0], ours[1:])
    args = None
    try:
        args = build_parser().parse_args(normalized_argv(ours))
        if args.collect:
            _collect_takes_only_out(args)
            return _collect(args.out)
        settings = settings_from_args(args)
        run = run_options(args)
        check_options(args)
        require_blender()
        if collection_given(args):
            return run_collection(settings, args, run, ours)
        from ..blender_io.compat import inside_blender_executable
        from .dataset import Source

        if not (args.blend or args.import_path or args.demo or inside_blender_executable()):
            raise UserError("give the scene: --blend PATH, --import PATH or --demo")
        source = Source(blend=args.blend, import_path=args.import_path, demo=args.demo, object=args.object)
        if args.workers > 1 and run.shard is None:
            planned = _run_parallel(settings, source, run, args)
        else:
            from .pipeline import make_dataset

            planned = make_dataset(settings, source, run, Progress()).planned
        try:
            return _summary(planned, settings, run, args)
        finally:
            planned.release()
    except UserError as exc:
        print(f"cli.py: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (IncompleteError, OSError) as exc:  # OSError: the disk said no (full, read-only, a folder in the way)
        print(f"cli.py: failed: {one_line(_failure(exc))}{_advice(args)}", file=sys.stderr)
        return EXIT_FAILED


def _failure(exc: Exception) -> str:
    """An OSError as a person reads it: what failed on which file (its final name, not our temporary one)."""
    if not isinstance(exc, OSError) or not exc.filename:
        return str(exc)
    from .ownership import TEMPORARY

    path = Path(exc.filename)
    temp = TEMPORARY.match(path.name)
    return f"{exc.strerror or exc} writing {path.with_name(temp['name']) if temp else path}"


def _advice(args) -> str:
    """ "--resume finishes the dataset" only where there is a started dataset to resume."""
    from ..core.layout import PLAN_FILE

    planned = args is not None and (Path(args.out).expanduser() / PLAN_FILE).is_file()
    return "; --resume finishes the dataset" if planned else ""


def _summary(planned, settings, run: RunOptions, args) -> int:
    plan, out_dir = planned.plan, planned.out_dir
    for note in plan.notes:
        print(f"cli.py: warning: {note}", file=sys.stderr)
    i = plan.intrinsics
    if run.shard:
        print(f"wrote shard {args.shard} of {out_dir}")
        return EXIT_OK
    views = f"{len(plan.views)} view{'s' if len(plan.views) != 1 else ''}"
    print(f"wrote {views} ({i.w}x{i.h}, {', '.join(settings.formats)}) to {out_dir}; contact sheet: {PREVIEW_FILE}")
    from .pipeline import check_written

    return _print_report(check_written(planned))


def _print_report(report) -> int:
    for line in report.lines():
        _say(f"cli.py: validate: {line}", sys.stderr)
    _say(f"validate: {report.summary()}", sys.stdout)
    return EXIT_FAILED if report.problems else EXIT_OK


def _say(line: str, stream) -> None:
    """Print one line whatever the stream's encoding: a file name from anywhere must not crash the report."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(line.encode(encoding, "backslashreplace").decode(encoding), file=stream)


def _validate_command(args: list[str]) -> int:
    """``cli.py validate``: exit 0 without problems, 1 with, 2 for bad input (no folder, no dataset, bad options)."""
    try:
        a = build_validate_parser().parse_args(normalized_argv(args))
        if a.sample is not None and a.sample < 1:
            raise UserError("--sample must be at least 1")
        report = _validate(a)
    except UserError as exc:
        _say(f"cli.py validate: error: {one_line(str(exc), 1000)}", sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - a bug must still be one line, not a traceback over the report
        _say(f"cli.py validate: error: validate failed ({type(exc).__name__}: {one_line(str(exc), 300)})", sys.stderr)
        return EXIT_BAD_INPUT
    return _print_report(report)


def _validate(a: argparse.Namespace):
    from ..core.untrusted import is_dir
    from .dataset import Source
    from .pipeline import load_scene, validate_dataset
    from .validate import dataset_folders

    root = Path(a.dir).expanduser().absolute()
    if not is_dir(root):
        raise UserError(f"{a.dir} is not a folder")
    if not dataset_folders(root):
        raise UserError(
            f"{a.dir} holds no dataset: no transforms_*.json, transforms.json or sparse/ (here or one level down)"
        )
    objs = None
    if a.blend or a.demo or a.import_path:
        require_blender()
        # An imported model is the object itself; a scene's object is the one the dataset was made of.
        target = a.object or (None if a.import_path else _planned_target(root))
        if a.import_path and (a.normalize or a.up_axis or a.forward_axis):  # as the collection imported it
            from ..blender_io.assets import AssetOptions, import_asset

            objs = import_asset(a.import_path, AssetOptions(a.normalize or "unit-cube", a.up_axis, a.forward_axis))[0]
        else:
            objs = load_scene(Source(blend=a.blend, import_path=a.import_path, demo=a.demo, object=target))[2]
    elif a.normalize or a.up_axis or a.forward_axis:
        raise UserError("--normalize, --up-axis and --forward-axis describe an --import'ed asset: give --import")
    return validate_dataset(root, objs, a.sample)


def _planned_target(root: Path) -> str | None:
    """The object a dataset of ours was made of, from its saved plan (read as warily as the rest)."""
    import json

    from ..core.layout import PLAN_FILE
    from ..core.untrusted import Unreadable, read_bounded

    try:
        target = json.loads(read_bounded(root / PLAN_FILE, root))["scene"]["target"]
    except (Unreadable, ValueError, RecursionError, LookupError, TypeError):
        return None
    return target if isinstance(target, str) and not target.startswith("<") else None


def _run_parallel(settings, source, run: RunOptions, args):
    """``--workers N``: the local back-end of the job contract. Plan once (the folder becomes a job), N
    ``cli.py worker`` processes, one collect; the folder's lock is this process's throughout."""
    from ..cloud.local import run_workers
    from ..cloud.submit import write_job_files
    from .dataset import collect
    from .pipeline import plan_dataset

    planned = plan_dataset(settings, source, run)
    try:
        write_job_files(planned, args.workers, "local", {})
        run_workers(planned.plan, planned.out_dir, args.workers, args.retries, Progress())
        collect(planned.out_dir, planned.plan)
    except BaseException:
        planned.release()
        raise
    return planned


def _collect_takes_only_out(args: argparse.Namespace) -> None:
    """``--collect`` finalises what the saved plan says: any other option would be silently ignored."""
    defaults = build_parser().parse_args(["--out", args.out, "--collect"])
    given = [k for k, v in vars(args).items() if v != getattr(defaults, k) and k != "verbose"]
    if given:
        raise UserError(f"--collect finalises the dataset its plan describes; it takes only --out, not --{given[0]}")


def _collect(out: str) -> int:
    from .dataset import collect
    from .lock import OutputLock
    from .ownership import saved_plan
    from .validate import validate

    root = Path(out).expanduser().absolute()
    if not root.is_dir() or saved_plan(root) is None:
        raise UserError(f"--out {root} holds no planned dataset to collect")
    lock = OutputLock(root).acquire()
    try:
        written = collect(root)
    finally:
        lock.release()
    print(f"wrote {len(written)} dataset files to {out}")
    return _print_report(validate(root))  # no scene here: the structural checks only
