"""``cli.py validate DIR [--blend FILE | --import MODEL | --demo] [--object NAME] [--sample N]``: check any dataset
folder as its consumers read it; with the scene, its silhouettes too. Exit 0 without problems, 1 with, 2 for bad
input (no folder, no dataset, bad options)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..app.dataset import SCENES, Source
from ..blender_io.presence import require_blender
from ..core.collection import AssetOptions
from ..core.errors import UserError
from ..core.layout import PLAN_FILE
from ..core.text import one_line
from .parsing import EXIT_BAD_INPUT, Parser, add_family, given, refused, say
from .render import joined_negatives, print_report

PROG = "cli.py validate"
AS_IMPORTED = ("normalize", "up_axis", "forward_axis")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Check a dataset against every consumer's rules.")
    p.add_argument("dir", metavar="DIR", help="dataset folder (ours or anyone's)")
    add_family(p.add_mutually_exclusive_group(), Source, only=SCENES)
    add_family(p, Source, only=("object",))
    p.add_argument("--sample", type=int, metavar="N", help="reproject N views per format, spread evenly (default all)")
    group = p.add_argument_group("a collection's asset: --import its model with the options it was rendered with")
    add_family(group, AssetOptions, only=AS_IMPORTED)
    return p


def main(ours: list[str]) -> int:
    try:
        a = build_parser().parse_args(joined_negatives(ours))
        if a.sample is not None and a.sample < 1:
            raise UserError("--sample must be at least 1")
        report = _validate(a)
    except UserError as exc:
        return refused(PROG, exc, limit=1000)
    except Exception as exc:  # noqa: BLE001 - a bug must still be one line, not a traceback over the report
        say(f"{PROG}: error: validate failed ({type(exc).__name__}: {one_line(str(exc), 300)})", sys.stderr)
        return EXIT_BAD_INPUT
    return print_report(report)


def _validate(a: argparse.Namespace):
    from ..app.pipeline import load_scene, validate_dataset
    from ..app.validate import dataset_folders
    from ..core.untrusted import is_dir

    root = Path(a.dir).expanduser().absolute()
    if not is_dir(root):
        raise UserError(f"{a.dir} is not a folder")
    if not dataset_folders(root):
        raise UserError(
            f"{a.dir} holds no dataset: no transforms_*.json, transforms.json or sparse/ (here or one level down)"
        )
    source, imported = Source(**given(Source, a)), given(AssetOptions, a)
    objs = None
    if source.given:
        require_blender()
        # An imported model is the object itself; a scene's object is the one the dataset was made of.
        target = source.object or (None if source.import_path else _planned_target(root))
        if source.import_path and imported:  # as the collection imported it
            from ..blender_io.assets import import_asset

            objs = import_asset(source.import_path, AssetOptions(**imported))[0]
        else:
            objs = load_scene(Source(blend=source.blend, import_path=source.import_path, demo=source.demo,
                                     object=target))[2]  # fmt: skip
    elif imported:
        raise UserError("--normalize, --up-axis and --forward-axis describe an --import'ed asset: give --import")
    return validate_dataset(root, objs, a.sample)


def _planned_target(root: Path) -> str | None:
    """The object a dataset of ours was made of, from its saved plan (read as warily as the rest)."""
    from ..core.untrusted import Unreadable, read_bounded

    try:
        target = json.loads(read_bounded(root / PLAN_FILE, root))["scene"]["target"]
    except (Unreadable, ValueError, RecursionError, LookupError, TypeError):
        return None
    return target if isinstance(target, str) and not target.startswith("<") else None
