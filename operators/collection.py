"""The panel's other kind of target: a folder or list of assets (one dataset per asset), rendered in the background.

A collection replaces the scene with each asset in turn, so it never renders in the open Blender: Render NeRF
Dataset plans the batch with the panel's settings here (``app.collection_run``, as ``cli.py --import-list`` does)
and hands its batch file to a background Blender (``cli.py collection-worker``); a timer counts the assets'
records for the panel's progress line. Resume finishes a batch; Cancel stops the process, which leaves the batch
resumable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from ..app.collection_run import held, plan_batch, start_in_background
from ..app.collection_run import start as start_batch
from ..app.dataset import RunOptions
from ..core.collection import AssetOptions, CollectionOptions
from ..core.errors import UserError
from ..core.layout import INDEX_CSV, PANEL_LOG, RECORDS_DIR
from .reports import reports_errors
from .scene_values import output_dir, settings_from_props, values_from_props

POLL_S = 0.5


@dataclass
class CollectionProcess:
    """The background Blender rendering one scene's collection, and what the panel has counted of it."""

    process: subprocess.Popen
    out: Path
    total: int
    failed: set = field(default_factory=set)
    seen: set = field(default_factory=set)
    returncode: int | None = None
    scanned_at: float = -1e9


RUNNING: dict[str, CollectionProcess] = {}
"""The collection each scene (by name) is rendering, or rendered last."""


def start(context, resume: bool) -> CollectionProcess:
    """Plan the panel's collection and check the output folder here (one sentence on refusal), then render it in
    a background Blender."""
    props = context.scene.nerf_dataset
    running = RUNNING.get(context.scene.name)
    if running is not None and running.returncode is None:
        raise UserError("This scene's collection is still rendering; cancel it first")
    options, collection = collection_options(context)
    out = Path(output_dir(props, context)).absolute()
    run = RunOptions(out=out, overwrite=props.overwrite and not resume, resume=resume)
    batch = plan_batch(settings_from_props(props, context), options, collection, out)
    with held(out):  # the background Blender takes the folder's lock in its turn
        start_batch(batch, run)
    process = start_in_background(out, resume, out / PANEL_LOG)
    RUNNING[context.scene.name] = running = CollectionProcess(process, out, len(batch.assets))
    if not bpy.app.timers.is_registered(_poll):
        bpy.app.timers.register(_poll, first_interval=POLL_S, persistent=True)
    return running


def collection_options(context) -> tuple[AssetOptions, CollectionOptions]:
    """The panel's assets and how each is imported, as ``cli.py --import-dir|--import-list`` takes them."""
    props = context.scene.nerf_dataset
    if not props.assets_path:
        raise UserError("Choose the folder or list of assets (Assets)")
    assets = bpy.path.abspath(props.assets_path)
    listed = {"import_dir" if Path(assets).is_dir() else "import_list": assets}
    collection = CollectionOptions(**listed, **values_from_props(props, CollectionOptions))
    return AssetOptions(**values_from_props(props, AssetOptions)), collection


def count(running: CollectionProcess) -> tuple[int, int]:
    """(assets finished, of them failed), from the records written so far (each read once)."""
    records = running.out / RECORDS_DIR
    now = time.monotonic()
    if now - running.scanned_at < POLL_S:  # the panel redraws often; thousands of records are listed twice a second
        return len(running.seen), len(running.failed)
    running.scanned_at = now
    if records.is_dir():
        for path in records.rglob("record.json"):
            key = str(path)
            if key not in running.seen:
                try:
                    status = json.loads(path.read_text()).get("status")
                except (OSError, ValueError):
                    continue
                if status not in ("done", "failed"):  # "started": still rendering, counted once it ends
                    continue
                if status == "failed":
                    running.failed.add(key)
                running.seen.add(key)
    return len(running.seen), len(running.failed)


def line(running: CollectionProcess) -> str:
    done, failed = count(running)
    state = "rendering" if running.returncode is None else "finished" if running.returncode in (0, 1) else "stopped"
    failures = f", {failed} failed" if failed else ""
    return f"Assets {state}: {done} / {running.total}{failures}"


def cancel(scene_name: str) -> str:
    running = RUNNING.get(scene_name)
    if running is None or running.returncode is not None:
        return "No collection is rendering"
    running.process.terminate()
    try:
        running.process.wait(10)
    except subprocess.TimeoutExpired:
        running.process.kill()
    running.returncode = running.process.returncode
    return f"Cancelled: {line(running)}; Resume finishes the batch"


def wait(running: CollectionProcess) -> str:
    """Headless: the batch to its end, then its summary."""
    running.returncode = running.process.wait()
    return line(running)


def _poll():
    rendering = False
    for running in RUNNING.values():
        if running.returncode is None:
            code = running.process.poll()
            if code is None:
                rendering = True
            else:
                running.returncode = code
                print(f"nerf_dataset: {line(running)} (index: {running.out / INDEX_CSV})", file=sys.stderr)
    for window in getattr(bpy.context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
    return POLL_S if rendering else None


class NERF_DATASET_OT_cancel_collection(bpy.types.Operator):
    """Stop rendering the assets; Resume finishes the batch"""

    bl_idname = "nerf_dataset.cancel_collection"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @reports_errors
    def execute(self, context):
        self.report({"WARNING"}, cancel(context.scene.name))
        return {"FINISHED"}
