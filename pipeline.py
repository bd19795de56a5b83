"""The one pipeline the CLI and the operators call: scene -> plan -> rig -> render -> writers.

``start_job`` does everything up to rendering and returns a ``Job``; ``Job.render`` is stepped (all at
once by the CLI, a chunk per timer tick by the modal operator) and ``Job.finish`` writes the formats.
``make_dataset`` is the three in a row.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from .core.camera_path import write_camera_paths
from .core.downscale import downscaled_relpath, write_downscaled
from .core.errors import UserError
from .core.files import link_or_copy
from .core.images import png_complete
from .core.passes import PASS_EXTS
from .core.plan import PLAN_DIR, PLAN_FILE, Plan, build_plan, load_plan, save_plan
from .core.points import load_points
from .core.preview import write_preview
from .core.settings import DOWNSCALED_FORMATS, Settings
from .core.shards import append_record, shard_views, start_record
from .exporters import FORMATS


@dataclass(frozen=True)
class Source:
    """Where the scene comes from: a .blend, an imported model, the demo scene, or (none) the open scene."""

    blend: str | None = None
    import_path: str | None = None
    demo: bool = False
    object: str | None = None
    """Target object; None = the active object, else every visible mesh (the imported model with --import)."""


def format_dir(out_dir: Path, formats: tuple[str, ...], fmt: str) -> Path:
    """A single format writes at OUT; several write one self-contained folder each, OUT/<format>."""
    return Path(out_dir) if len(formats) == 1 else Path(out_dir) / fmt


def image_namer(formats: tuple[str, ...]):
    primary = formats[0]

    def image_for(split: str, index: int) -> PurePosixPath:
        rel = FORMATS[primary].image_relpath(split, index)
        return rel if len(formats) == 1 else PurePosixPath(primary) / rel

    return image_for


def pass_files(plan: Plan, view) -> dict[tuple[str, str], PurePosixPath]:
    """The view's pass files, {(pass, extension): path relative to the output folder}, in the primary layout."""
    formats = plan.settings.formats
    primary = FORMATS[formats[0]]
    files = {}
    for name in plan.settings.passes:
        for ext in PASS_EXTS[name]:
            rel = primary.pass_relpath(view.split, view.index, name, ext)
            files[(name, ext)] = rel if len(formats) == 1 else PurePosixPath(formats[0]) / rel
    return files


def check_out_dir(out_dir: Path, overwrite: bool, resume: bool = False) -> None:
    """Refuse an output folder we cannot write or must not clobber, before any work is done."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UserError(f"--out {out_dir} exists and is not a folder")
        if resume:
            if not (out_dir / PLAN_FILE).is_file():
                raise UserError(f"--out {out_dir} holds no started dataset to resume")
        elif any(out_dir.iterdir()):
            if not overwrite:
                raise UserError(f"--out {out_dir} is not empty; pass --overwrite to replace the dataset in it")
            if not (out_dir / PLAN_DIR).is_dir():
                raise UserError(f"--out {out_dir} is not empty and holds no dataset of ours; refusing to overwrite it")
        return
    if resume:
        raise UserError(f"--out {out_dir} does not exist, so there is nothing to resume")
    parent = out_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"--out {out_dir} cannot be created: {parent} is not a folder")


def prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    check_out_dir(out_dir, overwrite)
    try:
        if out_dir.exists() and overwrite:
            for child in out_dir.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f"{PLAN_DIR}.probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"--out {out_dir} is not writable: {exc.strerror}") from None


def load_scene(source: Source):
    """Open, import or build the scene; returns (scene, target name, target objects)."""
    import bpy

    from .blender_io import demo
    from .blender_io import scene as scene_io

    imported = None
    if source.demo:
        demo.build_demo_scene()
    elif source.import_path:
        imported = scene_io.import_model(source.import_path)
    elif source.blend:
        scene_io.open_blend(source.blend)
    scene = bpy.context.scene
    target, objs = scene_io.pick_target(scene, source.object, imported)
    return scene, target, objs


def pending_views(plan: Plan, out_dir: Path, views=None) -> list:
    """Views (default: all of the plan's) whose image is missing, truncated, damaged or of the wrong size."""
    w, h = plan.intrinsics.w, plan.intrinsics.h
    return [v for v in (plan.views if views is None else views) if not png_complete(Path(out_dir) / v.image, w, h)]


def absent_views(plan: Plan, out_dir: Path) -> list:
    """Views without an image file at all: a cheap first look, no decoding."""
    return [v for v in plan.views if not (Path(out_dir) / v.image).is_file()]


def _resumed_plan(out_dir: Path, settings: Settings | None) -> Plan:
    plan = load_plan(out_dir)
    if settings is not None and settings != plan.settings:
        saved, asked = asdict(plan.settings), asdict(settings)
        diff = next(k for k in saved if saved[k] != asked[k])
        raise UserError(
            f"--resume continues the dataset in --out, planned with {diff}={saved[diff]!r}, not {asked[diff]!r}"
        )
    return plan


@dataclass
class Job:
    """A dataset being made: the planned scene and the render still to do."""

    planned: Planned
    render: object
    """A ``blender_io.render.RenderJob`` over the views still to render."""
    written: list[Path] = field(default_factory=list)

    @property
    def plan(self) -> Plan:
        return self.planned.plan

    @property
    def out_dir(self) -> Path:
        return self.planned.out_dir

    def finish(self) -> list[Path]:
        """Once every image is in place: sample the points, write every format (atomically, last), drop staging.

        Images this job published itself are only checked to exist; any others are decoded in full.
        """
        fresh = getattr(self.render, "done", 0) == len(self.plan.views)
        check_complete(self.out_dir, self.plan, verify=not fresh)
        self.planned.ensure_points()
        self.written = _export_and_clean(self.plan, self.out_dir)
        return self.written


def check_complete(out_dir: Path, plan: Plan, verify: bool = True) -> None:
    """Raise IncompleteError unless every view has its image (decoded in full when ``verify``)."""
    missing = pending_views(plan, out_dir) if verify else absent_views(plan, out_dir)
    if missing:
        raise IncompleteError(missing)


def collect(out_dir: Path, plan: Plan | None = None) -> list[Path]:
    """Finalise: check every view's image, then write every format. Needs no Blender (``cli.py --collect``)."""
    out_dir = Path(out_dir)
    if plan is None:
        if not (out_dir / PLAN_FILE).is_file():
            raise UserError(f"--out {out_dir} holds no planned dataset to collect")
        plan = load_plan(out_dir)
    check_complete(out_dir, plan)
    return _export_and_clean(plan, out_dir)


def _export_and_clean(plan: Plan, out_dir: Path) -> list[Path]:
    written = export(plan, out_dir)
    shutil.rmtree(Path(out_dir) / PLAN_DIR / "staging", ignore_errors=True)
    return written


class IncompleteError(Exception):
    """Views without a complete image; the output stays resumable."""

    def __init__(self, views):
        self.views = list(views)
        names = ", ".join(f"{v.split}/r_{v.index}" for v in self.views[:10])
        more = f" and {len(self.views) - 10} more" if len(self.views) > 10 else ""
        super().__init__(f"{len(self.views)} views have no complete image: {names}{more}")


def plan_dataset(settings: Settings | None, source: Source, out_dir, overwrite=False, resume=False, shard=None):
    """Load the scene and make (or reload) the plan.

    Resuming, or running one shard of a dataset already planned, reloads the saved plan; the settings
    (None: take the saved ones) must equal those it was made with. A shard of an unplanned dataset plans it.
    """
    from .blender_io import scene as scene_io

    if settings is not None:
        settings.validate(tuple(FORMATS))
    out_dir = Path(out_dir).expanduser().absolute()
    reuse = resume or (shard is not None and (out_dir / PLAN_FILE).is_file())
    check_out_dir(out_dir, overwrite, reuse)
    scene, target, objs = load_scene(source)
    if reuse:
        return Planned(scene, objs, _resumed_plan(out_dir, settings), out_dir)
    facts = scene_io.scene_facts(scene, target, objs, settings.rig, settings.camera_path_from, settings.resolution)
    plan = build_plan(settings, facts, image_namer(settings.formats))
    prepare_out_dir(out_dir, overwrite)
    save_plan(plan, out_dir)
    return Planned(scene, objs, plan, out_dir)


@dataclass
class Planned:
    """A scene opened and its dataset planned: what rendering and the points need."""

    scene: object
    objs: list
    plan: Plan
    out_dir: Path

    def ensure_points(self) -> None:
        """Sample the surface points once every image exists (their colours come from the renders)."""
        from .blender_io.points import scene_points

        settings = self.plan.settings
        wanted = settings.points and any(FORMATS[f].USES_POINTS for f in settings.formats)
        if wanted and load_points(self.out_dir) is None:
            scene_points(self.scene, self.objs, self.plan, self.out_dir, self.plan.settings.points).save(self.out_dir)


def start_job(
    settings: Settings | None, source: Source, out_dir, overwrite=False, resume=False, quiet=True, shard=None, threads=0
) -> Job:
    """Everything up to rendering: the plan, the rig, and a render job over the views still missing.

    ``shard`` = (I, N) limits the job to shard I of N (``core.shards``); ``threads`` > 0 fixes Blender's
    render threads (parallel workers share the cores).
    """
    from .blender_io.render import RenderJob
    from .blender_io.rig import build_rig_camera, find_rig

    planned = plan_dataset(settings, source, out_dir, overwrite, resume, shard)
    scene, plan, out_dir = planned.scene, planned.plan, planned.out_dir
    camera = build_rig_camera(scene, plan, *find_rig(scene))
    views = list(plan.views) if shard is None else shard_views(plan.views, *shard)
    todo = pending_views(plan, out_dir, views) if resume or shard is not None else views
    render = RenderJob(
        scene,
        camera,
        plan,
        out_dir,
        todo,
        quiet=quiet,
        threads=threads,
        objs=planned.objs,
        pass_files=lambda view: pass_files(plan, view),
    )
    job = Job(planned, render)
    if shard is not None:
        pending = {v.frame for v in todo}
        start_record(out_dir, *shard, [v.frame for v in views if v.frame not in pending])
        job.render.on_view = lambda view: append_record(out_dir, *shard, view.frame)
    return job


def make_dataset(
    settings, source: Source, out_dir, overwrite=False, resume=False, progress=None, quiet=True, shard=None, threads=0
) -> Job:
    """Render the dataset ``settings`` describe from ``source`` into ``out_dir``; the CLI's whole job.

    A shard run finalises the dataset when it finds every view complete at its end.
    """
    job = start_job(settings, source, out_dir, overwrite, resume, quiet, shard, threads)
    job.render.run(progress)
    if shard is None or not absent_views(job.plan, job.out_dir):
        job.finish()
    return job


# Views whose silhouettes a render checks at its end, per format (``cli.py validate`` checks all): about
# 40 ms each at 200x200, so a sample keeps the check within a few per cent of a 100-view render.
RENDER_CHECKED_VIEWS = 3


def validate_dataset(root: Path, objs=None, limit: int | None = None):
    """``core.validate`` on a dataset folder (ours or anyone's); with ``objs`` (the target's objects in the
    open scene) the silhouettes too, of every view or of ``limit`` per format. Returns the ``Report``."""
    from .core.validate import validate

    mesh = None
    if objs:
        import bpy

        from .blender_io.scene import world_triangles

        mesh = world_triangles(objs, bpy.context.evaluated_depsgraph_get())
    return validate(Path(root), mesh, limit)


def check_written(planned: Planned):
    """The check every render ends with: silhouettes of a sample of views when the images have alpha or
    masks to compare with, the structural checks always."""
    s = planned.plan.settings
    objs = planned.objs if s.transparent or "mask" in s.passes else None
    return validate_dataset(planned.out_dir, objs, RENDER_CHECKED_VIEWS)


def export(plan: Plan, out_dir: Path) -> list[Path]:
    """Link the rendered images into every other format's layout, then write each format's files."""
    formats = plan.settings.formats
    points = load_points(out_dir)
    written, downscaled = [], {}
    for fmt in formats:
        fdir = format_dir(out_dir, formats, fmt)
        if fmt != formats[0]:
            for view in plan.views:
                link_or_copy(out_dir / view.image, fdir / FORMATS[fmt].image_relpath(view.split, view.index))
                for (name, ext), rel in pass_files(plan, view).items():
                    link_or_copy(out_dir / rel, fdir / FORMATS[fmt].pass_relpath(view.split, view.index, name, ext))
        if fmt in DOWNSCALED_FORMATS:
            written += _downscale(plan, fdir, FORMATS[fmt], downscaled)
        written += FORMATS[fmt].write(plan, fdir, points)
    written.append(write_preview(plan, out_dir))
    written += write_camera_paths(plan, out_dir)
    return written


# The passes whose downscaled copies nerfstudio reads (masks_<k>/, depths_<k>/).
DOWNSCALED_PASSES = ("mask", "depth")


def _downscale(plan: Plan, fdir: Path, layout, made: dict) -> list[Path]:
    """The format's ``images_<k>/`` (and masks, depths) copies; ``made`` maps a source image's identity to a
    copy already made for another format, which is linked instead of computed again."""
    written = []
    for view in plan.views:
        sources = [(layout.image_relpath(view.split, view.index), "color")]
        sources += [
            (layout.pass_relpath(view.split, view.index, name, ".png"), name)
            for name in DOWNSCALED_PASSES
            if name in plan.settings.passes
        ]
        for rel, kind in sources:
            for k in plan.settings.downscales:
                dst = fdir / downscaled_relpath(rel, k)
                st = (fdir / rel).stat()
                key = (st.st_dev, st.st_ino, kind, k)  # the formats' images are links to one file
                if key in made:
                    link_or_copy(made[key], dst)
                else:
                    made[key] = write_downscaled(fdir / rel, dst, k, kind)
                written.append(dst)
    return written
