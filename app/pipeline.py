"""The Blender half of the one pipeline the CLI and the operators call: scene -> plan -> rig -> render -> formats.

``start_run`` does everything up to rendering and returns a ``DatasetRun``; its ``render`` is stepped (all at
once by the CLI, a chunk per timer tick by the modal operator) and ``DatasetRun.finish`` writes the formats
(``app.dataset``, the bpy-free half). ``make_dataset`` is the three in a row.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..core.dataset_rig import check_apart, load_rig_cameras
from ..core.errors import UserError
from ..core.files import write_text_atomic
from ..core.layout import PLAN_FILE, TRACKS_FILE
from ..core.plan import Plan, build_plan, cameras_digest, check_formats_hold
from ..core.points import load_points
from ..core.settings import SETTING_FIELDS, SettingError, Settings
from ..core.shards import append_done, shard_views, start_done_list
from ..exporters import FORMATS
from .dataset import (
    RunOptions,
    Source,
    absent_views,
    check_out_dir,
    finalise,
    pass_files,
    pending_views,
    prepare_out_dir,
    wants_points,
)
from .lock import OutputLock, finalising
from .ownership import image_namer, remove_temporaries, saved_plan


def source_identity(source: Source) -> str:
    """What a run opens, as the plan records it: the same .blend opened by the UI, by ``--blend`` or by a
    worker is one identity."""
    from ..blender_io.scene import open_file

    if source.demo:
        return "the demo scene"
    if source.import_path:
        return f"--import {Path(source.import_path).resolve()}"
    path = source.blend or open_file()
    return f"--blend {Path(path).resolve()}" if path else "an unsaved scene"


def load_scene(source: Source, quiet: bool = True, prepare=None):
    """Open, import or build the scene; returns (scene, target name, target objects). ``quiet`` keeps
    Blender's and the importers' own output off stdout (``--verbose`` shows it)."""
    from ..blender_io import demo
    from ..blender_io import scene as scene_io

    imported = None
    if source.demo:
        demo.build_demo_scene()
    elif source.import_path:
        imported = scene_io.import_model(source.import_path, quiet)
    elif source.blend:
        scene_io.open_blend(source.blend, quiet)
    scene = scene_io.current_scene()
    if prepare is not None:
        prepare(scene)
    if source.objects:
        return scene, source.object or source.objects[0], scene_io.objects_named(scene, source.objects)
    target, objs = scene_io.pick_target(scene, source.object, imported)
    return scene, target, objs


def plan_scene(settings: Settings, source: Source, quiet: bool = True, prepare=None) -> tuple[object, list, Plan]:
    """Check the settings, open the scene and plan its views, writing nothing: (scene, target objects, plan).
    The Build Camera Rig operator's whole job, and the start of every new dataset. ``prepare(scene)`` runs on
    the opened scene before it is read (a stream instance's own copy)."""
    from ..blender_io import scene as scene_io

    settings.validate(FORMATS)
    cameras = load_rig_cameras(settings) if settings.rig == "dataset" else None  # refused before Blender loads
    scene, target, objs = load_scene(source, quiet, prepare)
    s = settings
    facts = scene_io.scene_facts(scene, target, objs, s.rig, s.camera_path_from, s.resolution, source_identity(source))
    plan = build_plan(settings, facts, image_namer(settings.formats), cameras)
    check_formats_hold(plan, FORMATS)  # refused here, before the output folder is touched
    return scene, objs, plan


def _resumed_plan(out_dir: Path, settings: Settings | None, source: Source, objs, worker: bool = False) -> Plan:
    """The saved plan, if this run asks for the same dataset from the same scene and object."""
    from ..blender_io.scene import current_scene, surroundings_fingerprint, target_fingerprint

    plan = saved_plan(out_dir)
    if settings is not None and settings != plan.settings:
        saved, asked = plan.settings.to_dict(), settings.to_dict()
        diff = next(k for k in SETTING_FIELDS if saved[k] != asked[k])
        raise SettingError(
            diff, f"{{resume}} continues the dataset in {{out}}, planned with {{}} {saved[diff]!r}, not {asked[diff]!r}"
        )
    if plan.scene.cameras and not worker and settings is not None:  # the dataset rig's source must be unchanged
        if cameras_digest(load_rig_cameras(settings)) != plan.scene.cameras:
            raise SettingError(
                "cameras_from", "the cameras in {} have changed since the dataset in {out} was planned: its new "
                "views would not match the others; start again in another folder"
            )  # fmt: skip
    opened = source_identity(source)
    if plan.scene.source and plan.scene.source != opened and not worker:  # a job's worker opens the job's copy
        raise SettingError("out", f"the dataset in {{}} was made from {plan.scene.source}, not from {opened}")
    if plan.scene.geometry and plan.scene.geometry != target_fingerprint(objs):
        raise SettingError(
            "out", f"the dataset in {{}} was made of another '{plan.scene.target}': the object's geometry differs"
        )
    if plan.scene.surroundings and plan.scene.surroundings != surroundings_fingerprint(current_scene(), objs):
        raise SettingError(
            "out", "the scene of the dataset in {} has changed since it was planned (other objects, lights or the "
            "world): its new views would not match the others"
        )  # fmt: skip
    return plan


@dataclass
class Planned:
    """A scene opened and its dataset planned: what rendering and the points need."""

    scene: object
    objs: list
    plan: Plan
    out_dir: Path
    lock: OutputLock | None = None
    """Held until the run ends (``release``); the kernel drops it if the process dies."""

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def ensure_tracks(self) -> None:
        """Sample the surface points and track them through the views (the scene must be open), once."""
        from ..blender_io.points import point_tracks

        settings = self.plan.settings
        wanted = wants_points(self.plan)
        views = len(self.plan.views)
        done = load_points(self.out_dir, views) is not None
        if wanted and not done and load_points(self.out_dir, views, TRACKS_FILE) is None:
            point_tracks(self.scene, self.objs, self.plan, settings.points).save(self.out_dir, TRACKS_FILE)


def plan_dataset(settings: Settings | None, source: Source, run: RunOptions) -> Planned:
    """Take the output folder's lock, load the scene and make (or reload) the plan.

    Resuming, or running one shard of a dataset already planned, reloads the saved plan; the settings
    (None: take the saved ones), the scene and the object must be those it was made with. A shard of an
    unplanned dataset plans it. A worker of ``--workers`` runs under its parent's lock.
    """
    out_dir = run.out_dir
    reuse = run.resume or (run.shard is not None and (out_dir / PLAN_FILE).is_file())
    if settings is not None and settings.cameras_from:
        check_apart(settings, out_dir)
    check_out_dir(out_dir, run.overwrite, reuse)
    created = not out_dir.exists()
    lock = None if run.under_parent else OutputLock(out_dir, shared=run.shard is not None and reuse).acquire()
    try:
        if reuse:
            scene, _, objs = load_scene(source, run.quiet)
            plan = _resumed_plan(out_dir, settings, source, objs, run.worker)
            if run.resume:
                remove_temporaries(out_dir, plan)
            return Planned(scene, objs, plan, out_dir, lock)
        if settings is None:
            raise UserError("a new dataset needs its settings")
        scene, objs, plan = plan_scene(settings, source, run.quiet)
        text = plan.to_json()  # before anything is deleted: a value JSON cannot hold fails here, not half-way
        prepare_out_dir(out_dir, run.overwrite)
        write_text_atomic(out_dir / PLAN_FILE, text)
        if lock is not None and run.shard is not None:
            lock.share()
        return Planned(scene, objs, plan, out_dir, lock)
    except BaseException:
        if lock is not None:
            lock.release()
        if created:  # nothing of a dataset: leave no folder behind either
            shutil.rmtree(out_dir, ignore_errors=True)
        raise


@dataclass
class DatasetRun:
    """A dataset being made: the planned scene and the render still to do."""

    planned: Planned
    render: object
    """A ``blender_io.render.ViewRenderer`` over the views still to render."""

    @property
    def plan(self) -> Plan:
        return self.planned.plan

    @property
    def out_dir(self) -> Path:
        return self.planned.out_dir

    def finish(self) -> list[Path]:
        """Once every image is in place: sample the points, write every format (atomically, last), drop staging.

        Images this run published itself are only checked to exist; any others are decoded in full.
        """
        fresh = getattr(self.render, "done", 0) == len(self.plan.views)
        return finalise(self.out_dir, self.plan, verify=not fresh, sample_points=self.planned.ensure_tracks)

    def close(self) -> None:
        """The user's scene settings back, the output folder's lock released; safe to call more than once."""
        self.render.end()
        self.planned.release()


def start_run(settings: Settings | None, source: Source, run: RunOptions) -> DatasetRun:
    """Everything up to rendering: the plan, the rig, and a renderer of the views still missing."""

    planned = plan_dataset(settings, source, run)
    try:
        return _run(planned, run)
    except BaseException:
        planned.release()
        raise


def _run(planned: Planned, run: RunOptions) -> DatasetRun:
    from ..blender_io.render import ViewRenderer
    from ..blender_io.rig import build_rig_camera, find_rig

    scene, plan, out_dir = planned.scene, planned.plan, planned.out_dir
    camera = build_rig_camera(scene, plan, *find_rig(scene))
    views = list(plan.views) if run.shard is None else shard_views(plan.views, *run.shard)
    views = [v for v in views if v.frame not in run.done_elsewhere]
    todo = pending_views(plan, out_dir, views) if run.resume or run.shard is not None else views
    render = ViewRenderer(
        scene,
        camera,
        plan,
        out_dir,
        todo,
        quiet=run.quiet,
        threads=run.threads,
        objs=planned.objs,
        pass_files=lambda view: pass_files(plan, view),
    )
    made = DatasetRun(planned, render)
    if run.shard is not None:
        pending = {v.frame for v in todo}
        start_done_list(out_dir, *run.shard, [v.frame for v in views if v.frame not in pending])
        made.render.on_view = lambda view: append_done(out_dir, *run.shard, view.frame)
    return made


def make_dataset(settings: Settings | None, source: Source, run: RunOptions, progress=None) -> DatasetRun:
    """Render the dataset ``settings`` describe from ``source`` into ``run.out``; the CLI's whole work.

    A shard run finalises the dataset when it finds every view complete at its end, unless it is a worker
    of a parent that finalises (``run.worker``).
    """
    made = start_run(settings, source, run)
    try:
        made.render.run(progress)
        if run.shard is None:
            made.finish()
        elif not run.worker and not absent_views(made.plan, made.out_dir):
            with finalising(made.out_dir):
                made.finish()
    except BaseException:
        made.planned.release()
        raise
    return made


# Views whose silhouettes a render checks at its end, per format (``cli.py validate`` checks all): about
# 40 ms each at 200x200, so a sample keeps the check within a few per cent of a 100-view render.
RENDER_CHECKED_VIEWS = 3


def validate_dataset(root: Path, objs=None, limit: int | None = None):
    """``app.validate`` on a dataset folder (ours or anyone's); with ``objs`` (the target's objects in the
    open scene) the silhouettes too, of every view or of ``limit`` per format. Returns the ``Report``."""
    from .validate import validate

    mesh = None
    if objs:
        from ..blender_io.scene import target_triangles

        mesh = target_triangles(objs)
    return validate(Path(root), mesh, limit)


def check_written(planned: Planned):
    """The check every render ends with: silhouettes of a sample of views when the images have alpha or
    masks to compare with, the structural checks always."""
    s = planned.plan.settings
    objs = planned.objs if s.transparent or "mask" in s.passes else None
    return validate_dataset(planned.out_dir, objs, RENDER_CHECKED_VIEWS)
