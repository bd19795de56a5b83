"""The panel's other kind of target: a folder or list of assets (issue 13), rendered by a background ``cli.py``.

A collection replaces the scene with each asset in turn, so it never renders in the open Blender: Render NeRF
Dataset starts the CLI with the panel's settings (``core.settings.settings_argv``) in a background Blender,
and a timer counts the assets' records for the panel's progress line. Resume passes ``--resume``; Cancel
stops the process, which leaves the batch resumable.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from ..core.errors import UserError
from ..core.layout import COLLECTION_DIR, RECORDS_DIR
from .collection_props import IMPORTERS_AXIS

POLL_S = 0.5


def cli_args(props, context, resume: bool) -> list[str]:
    """The ``cli.py`` options of the panel's collection: the same run the CLI makes."""
    from ..core.settings import settings_argv
    from .properties import output_dir, settings_from_props

    if not props.assets_path:
        raise UserError("Choose the folder or list of assets (Assets)")
    path = bpy.path.abspath(props.assets_path)
    argv = ["--import-dir" if Path(path).is_dir() else "--import-list", path, "--out", output_dir(props, context)]
    argv += settings_argv(settings_from_props(props, context))
    argv += ["--normalize", props.normalize, "--lighting", props.lighting]
    if props.assets_pattern:
        argv += ["--pattern", props.assets_pattern]
    for flag, value in (("--up-axis", props.up_axis), ("--forward-axis", props.forward_axis)):
        if value != IMPORTERS_AXIS:
            argv.append(f"{flag}={value}")
    argv += ["--resume"] if resume else ["--overwrite"] if props.overwrite else []
    return argv


@dataclass
class Task:
    process: subprocess.Popen
    out: Path
    total: int
    failed: set = field(default_factory=set)
    seen: set = field(default_factory=set)
    returncode: int | None = None
    scanned_at: float = -1e9


TASKS: dict[str, Task] = {}
"""The collection each scene (by name) is rendering."""


def start(context, resume: bool) -> Task:
    """Check the collection and the output folder here (one sentence on refusal), then start the CLI."""
    from argparse import Namespace

    from ..app.collection_run import _check_out, load_assets
    from ..app.dataset import RunOptions
    from ..cloud.local import cli_command

    props = context.scene.nerf_dataset
    running = TASKS.get(context.scene.name)
    if running is not None and running.returncode is None:
        raise UserError("This scene's collection is still rendering; cancel it first")
    argv = cli_args(props, context, resume)
    is_dir = argv[0] == "--import-dir"
    out = Path(argv[3])
    listed = Namespace(import_list=None if is_dir else argv[1], import_dir=argv[1] if is_dir else None,
                       pattern=props.assets_pattern or None, out=str(out))  # fmt: skip
    assets = load_assets(listed)
    _check_out(out, assets, RunOptions(out=out, overwrite=props.overwrite, resume=resume), None)
    (out / COLLECTION_DIR).mkdir(parents=True, exist_ok=True)
    with open(out / COLLECTION_DIR / "panel.log", "ab") as log:
        process = subprocess.Popen(cli_command(argv), stdout=log, stderr=subprocess.STDOUT)
    task = Task(process, out, len(assets))
    TASKS[context.scene.name] = task
    if not bpy.app.timers.is_registered(_poll):
        bpy.app.timers.register(_poll, first_interval=POLL_S, persistent=True)
    return task


def count(task: Task) -> tuple[int, int]:
    """(assets finished, of them failed), from the records written so far (each read once)."""
    import json

    records = task.out / RECORDS_DIR
    now = time.monotonic()
    if now - task.scanned_at < POLL_S:  # the panel redraws often; thousands of records are listed twice a second
        return len(task.seen), len(task.failed)
    task.scanned_at = now
    if records.is_dir():
        for path in records.rglob("record.json"):
            key = str(path)
            if key not in task.seen:
                try:
                    status = json.loads(path.read_text()).get("status")
                except (OSError, ValueError):
                    continue
                if status not in ("done", "failed"):  # "started": still rendering, counted once it ends
                    continue
                if status == "failed":
                    task.failed.add(key)
                task.seen.add(key)
    return len(task.seen), len(task.failed)


def line(task: Task) -> str:
    done, failed = count(task)
    state = "rendering" if task.returncode is None else "finished" if task.returncode in (0, 1) else "stopped"
    failures = f", {failed} failed" if failed else ""
    return f"Assets {state}: {done} / {task.total}{failures}"


def cancel(scene_name: str) -> str:
    task = TASKS.get(scene_name)
    if task is None or task.returncode is not None:
        return "No collection is rendering"
    task.process.terminate()
    try:
        task.process.wait(10)
    except subprocess.TimeoutExpired:
        task.process.kill()
    task.returncode = task.process.returncode
    return f"Cancelled: {line(task)}; Resume finishes the batch"


def wait(task: Task) -> str:
    """Headless: the batch to its end, then its summary."""
    task.returncode = task.process.wait()
    return line(task)


def _poll():
    running = False
    for task in TASKS.values():
        if task.returncode is None:
            code = task.process.poll()
            if code is None:
                running = True
            else:
                task.returncode = code
                print(f"nerf_dataset: {line(task)} (index: {task.out / 'index.csv'})", file=sys.stderr)
    for window in getattr(bpy.context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
    return POLL_S if running else None
