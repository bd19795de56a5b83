"""``cli.py collection-worker --out OUT [--asset-shard I/N]``: render a started collection (or block I of N of its
assets) from its batch file alone: what ``--workers N`` and the panel start. Without a block it writes the index
too, as the collection's own run would."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from ..app.asset_watch import Beat
from ..app.collection_run import held, load_batch, render_assets
from ..app.dataset import IncompleteError, RunOptions
from ..blender_io.presence import require_blender
from ..core.collection import CollectionOptions
from ..core.errors import UserError
from .parsing import Parser, add_family, failed, given, refused
from .render import block_done, finish_batch

PROG = "cli.py collection-worker"


def main(ours: list[str]) -> int:
    p = Parser(prog=PROG, description=argparse.SUPPRESS)
    add_family(p, RunOptions, only=("out", "resume", "threads", "verbose"))
    add_family(p, CollectionOptions, only=("asset_shard",))
    p.add_argument("--under-parent", action="store_true", help=argparse.SUPPRESS)  # its parent holds the lock
    p.add_argument("--beat", help=argparse.SUPPRESS)  # its watchdog's (app.asset_watch)
    p.add_argument("--after", type=int, default=0, help=argparse.SUPPRESS)  # the watchdog stopped the one before
    try:
        a = p.parse_args(ours)
        run = RunOptions(**given(RunOptions, a))
        shard = given(CollectionOptions, a).get("asset_shard")
        with contextlib.nullcontext() if a.under_parent else held(run.out_dir):
            batch = load_batch(run.out_dir)
            require_blender()
            hooks = Beat(Path(a.beat)) if a.beat else None
            failures = render_assets(run.out_dir, batch, run, shard, hooks, after=a.after)
            return (
                block_done(shard, failures, len(batch.assets))
                if shard is not None
                else finish_batch(run.out_dir, batch)
            )
    except UserError as exc:
        return refused(PROG, exc)
    except (IncompleteError, OSError) as exc:
        return failed(PROG, str(exc))
