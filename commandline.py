"""The headless command line, shared by ``blender -b -P cli.py -- OPTIONS`` and ``python cli.py OPTIONS``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .core.errors import UserError
from .core.passes import parse_passes
from .core.rigs import RIG_KINDS
from .core.settings import ENGINES, Settings
from .core.shards import parse_shard
from .pipeline import IncompleteError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block: the contract is "one clear line on stderr"
        raise UserError(message)


def _resolution(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolution must look like 800x600, not '{text}'") from None
    return w, h


def _formats(text: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in text.split(",") if f.strip())


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="cli.py", description="Render a NeRF / 3D Gaussian Splatting training dataset from a Blender scene."
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--blend", metavar="PATH", help=".blend to open (inside Blender: the loaded file when omitted)")
    src.add_argument(
        "--import", dest="import_path", metavar="PATH", help="model to import (.obj, .glb, .gltf, .ply, .stl)"
    )
    src.add_argument("--demo", action="store_true", help="the built-in demo scene")
    p.add_argument("--object", metavar="NAME", help="object to orbit (default: active object, else all visible meshes)")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    p.add_argument(
        "--resume", action="store_true", help="finish the dataset in --out: keep complete images, render the rest"
    )
    p.add_argument(
        "--format",
        dest="formats",
        type=_formats,
        default=("nerf",),
        metavar="LIST",
        help="comma list: nerf, ngp, nerfstudio, colmap",
    )
    for split, default in (("train", 100), ("val", 100), ("test", 200)):
        p.add_argument(f"--{split}", type=int, metavar="N", help=f"views in the {split} split (default {default})")
    p.add_argument("--rig", default="hemisphere", metavar="KIND", help=f"{' | '.join(RIG_KINDS)} (default hemisphere)")
    p.add_argument("--radius", type=float, metavar="R", help="orbit radius (default: fit the object in view)")
    p.add_argument("--elevation", type=_pair, metavar="MIN,MAX", help="camera elevation range in degrees")
    p.add_argument("--rings", type=int, default=3, metavar="K", help="rings of the rings rig (default 3)")
    p.add_argument("--turns", type=float, default=4.0, metavar="T", help="turns of the spiral rig (default 4)")
    p.add_argument("--test-elevation", type=float, default=30.0, metavar="DEG", help="elevation of the test ring")
    p.add_argument("--resolution", type=_resolution, metavar="WxH", help="image size (default: the scene's)")
    p.add_argument("--samples", type=int, metavar="N", help="render samples (default: the scene's)")
    p.add_argument("--engine", metavar="NAME", help=" | ".join(ENGINES))
    p.add_argument("--transparent", action="store_true", help="RGBA images with a transparent film")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="same seed + same settings = same dataset")
    p.add_argument("--lens", type=float, metavar="MM", help="focal length override in millimetres")
    p.add_argument("--points", type=int, default=10000, metavar="N", help="surface points for COLMAP / 3DGS (0: none)")
    p.add_argument("--passes", type=parse_passes, default=(), metavar="LIST", help="comma list: depth, normal, mask")
    p.add_argument(
        "--downscales", type=_factors, default=(), metavar="LIST", help="images_<k>/ copies: 2,4,8 (nerfstudio, colmap)"
    )
    p.add_argument(
        "--camera-path-from", metavar="OBJECT", help="an animated camera to export as a nerfstudio camera path"
    )
    p.add_argument("--workers", type=int, metavar="N", help="parallel Blender processes (default: see README)")
    p.add_argument("--shard", metavar="I/N", help="render only shard I of N (what each worker runs)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="render threads (default: all cores)")
    p.add_argument("--retries", type=int, default=2, metavar="N", help="restarts of a failed worker (default 2)")
    p.add_argument("--collect", action="store_true", help="only finalise --out: check the images, write the formats")
    p.add_argument("--verbose", action="store_true", help="show Blender's own render output")
    return p


def _factors(text: str) -> tuple[int, ...]:
    try:
        factors = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected factors like 2,4,8, not '{text}'") from None
    return tuple(factors)


def _pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX in degrees, not '{text}'") from None
    return lo, hi


def settings_from_args(a: argparse.Namespace) -> Settings:
    return Settings(
        formats=a.formats,
        train=a.train,
        val=a.val,
        test=a.test,
        rig=a.rig,
        radius=a.radius,
        elevation_min=a.elevation[0] if a.elevation else None,
        elevation_max=a.elevation[1] if a.elevation else None,
        rings=a.rings,
        turns=a.turns,
        test_elevation=a.test_elevation,
        resolution=a.resolution,
        samples=a.samples,
        engine=a.engine.upper() if a.engine else None,
        transparent=a.transparent,
        seed=a.seed,
        lens=a.lens,
        points=a.points,
        passes=a.passes,
        camera_path_from=a.camera_path_from,
        downscales=a.downscales,
    )


def script_args(argv: list[str]) -> list[str]:
    """Our options: everything after ``--`` (Blender's convention), else everything after the script."""
    return argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]


class Progress:
    """One updating line on a terminal; plain lines (at most one per 5 s) when stderr is a log file."""

    def __init__(self, stream=sys.stderr):
        self.stream, self.tty, self.last = stream, stream.isatty(), 0.0

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        line = f"rendered {done}/{total} views, {rate:.2f} views/s, ETA {eta:.0f} s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done == total else ""))
        elif done == total or time.monotonic() - self.last >= 5.0:
            self.stream.write(line + "\n")
            self.last = time.monotonic()
        self.stream.flush()


def default_workers() -> int:
    """One process. Cycles already uses every core from one process, and on the 2-core machines measured
    (bench/RESULTS.md) a second process only added start-up and contention, at 200x200 and at 64x64 alike.
    ``--workers N`` is for many-core machines, several GPUs, or per-frame overhead that outweighs start-up."""
    return 1


# Options a worker must not inherit from the parent's command line.
PARENT_ONLY = {"--workers": 1, "--overwrite": 0, "--resume": 0, "--retries": 1, "--threads": 1, "--verbose": 0}


def worker_args(argv: list[str], args: argparse.Namespace) -> list[str]:
    """The parent's options for its workers: the same dataset, minus what only the parent does."""
    out, skip = [], 0
    for token in argv:
        if skip:
            skip -= 1
            continue
        name = token.split("=", 1)[0]
        if name in PARENT_ONLY:
            skip = PARENT_ONLY[name] if "=" not in token else 0
            continue
        out.append(token)
    if not (args.blend or args.import_path or args.demo):
        import bpy

        if not bpy.data.filepath:
            raise UserError("--workers needs the scene saved in a .blend file (the workers open it)")
        out += ["--blend", bpy.data.filepath]
    return out


def build_validate_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cli.py validate", description="Check a dataset against every consumer's rules.")
    p.add_argument("dir", metavar="DIR", help="dataset folder (ours or anyone's)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--blend", metavar="PATH", help="the scene, to reproject the object with the cameras")
    src.add_argument("--demo", action="store_true", help="the built-in demo scene")
    p.add_argument("--object", metavar="NAME", help="object to reproject (default: the dataset's target)")
    p.add_argument("--sample", type=int, metavar="N", help="reproject N views per format, spread evenly (default all)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    ours = script_args(argv)
    if ours[:1] == ["validate"]:
        return _validate_command(ours[1:])
    try:
        args = build_parser().parse_args(ours)
        if args.collect:
            return _collect(args.out)
        settings = settings_from_args(args)
        from .exporters import FORMATS

        settings.validate(tuple(FORMATS))
        if args.overwrite and args.resume:
            raise UserError("--overwrite and --resume contradict each other; give one")
        shard = parse_shard(args.shard) if args.shard else None
        workers = args.workers if args.workers is not None else default_workers()
        if workers < 1 or args.retries < 0 or args.threads < 0:
            raise UserError("--workers must be at least 1, --retries and --threads at least 0")
        from .blender_io.compat import inside_blender_executable
        from .pipeline import Source

        if not (args.blend or args.import_path or args.demo or inside_blender_executable()):
            raise UserError("give the scene: --blend PATH, --import PATH or --demo")
        source = Source(blend=args.blend, import_path=args.import_path, demo=args.demo, object=args.object)
        quiet = not args.verbose
        if workers > 1 and shard is None:
            planned = _run_parallel(settings, source, args, worker_args(ours, args), workers)
        else:
            from .pipeline import make_dataset

            job = make_dataset(
                settings, source, args.out, args.overwrite, args.resume, Progress(), quiet, shard, args.threads
            )
            planned = job.planned
        plan, out_dir = planned.plan, planned.out_dir
    except UserError as exc:
        print(f"cli.py: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except IncompleteError as exc:
        print(f"cli.py: failed: {exc}; --resume finishes the dataset", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # the disk said no: full, read-only, a folder in the way
        print(f"cli.py: failed: {exc}; --resume finishes the dataset", file=sys.stderr)
        return EXIT_FAILED
    for note in plan.notes:
        print(f"cli.py: warning: {note}", file=sys.stderr)
    i = plan.intrinsics
    if shard:
        print(f"wrote shard {args.shard} of {out_dir}")
        return EXIT_OK
    print(f"wrote {len(plan.views)} views ({i.w}x{i.h}, {', '.join(settings.formats)}) to {out_dir}")
    from .pipeline import check_written

    return _print_report(check_written(planned))


def _print_report(report) -> int:
    for line in report.lines():
        print(f"cli.py: validate: {line}", file=sys.stderr)
    print(f"validate: {report.summary()}")
    return EXIT_FAILED if report.problems else EXIT_OK


def _validate_command(args: list[str]) -> int:
    try:
        a = build_validate_parser().parse_args(args)
        root = Path(a.dir).expanduser().absolute()
        if not root.is_dir():
            raise UserError(f"{a.dir} is not a folder")
        from .pipeline import Source, load_scene, validate_dataset

        objs = None
        if a.blend or a.demo:
            objs = load_scene(Source(blend=a.blend, demo=a.demo, object=a.object or _planned_target(root)))[2]
        if a.sample is not None and a.sample < 1:
            raise UserError("--sample must be at least 1")
        report = validate_dataset(root, objs, a.sample)
    except UserError as exc:
        print(f"cli.py validate: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return _print_report(report)


def _planned_target(root: Path) -> str | None:
    """The object a dataset of ours was made of, from its saved plan."""
    from .core.plan import PLAN_FILE, load_plan

    if (root / PLAN_FILE).is_file():
        target = load_plan(root).scene.target
        return None if target.startswith("<") else target
    return None


def _run_parallel(settings, source, args, worker_argv, workers):
    from .parallel import run_workers
    from .pipeline import plan_dataset

    planned = plan_dataset(settings, source, args.out, args.overwrite, args.resume)
    run_workers(planned, worker_argv, workers, args.retries, Progress())
    return planned


def _collect(out: str) -> int:
    from .pipeline import collect, validate_dataset

    root = Path(out).expanduser().absolute()
    written = collect(root)
    print(f"wrote {len(written)} dataset files to {out}")
    return _print_report(validate_dataset(root))  # no scene here: the structural checks only
