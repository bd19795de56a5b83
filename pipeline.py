"""The one pipeline the CLI and the operators call: scene -> plan -> rig -> render -> writers.

``start_job`` does everything up to rendering and returns a ``Job``; ``Job.render`` is stepped (all at
once by the CLI, a chunk per timer tick by the modal operator) and ``Job.finish`` writes the formats.
``make_dataset`` is the three in a row.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from .core.errors import UserError
from .core.files import link_or_copy
from .core.images import png_complete
from .core.plan import PLAN_DIR, PLAN_FILE, Plan, build_plan, load_plan, save_plan
from .core.settings import Settings
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


def pending_views(plan: Plan, out_dir: Path) -> list:
    """Views whose image is missing, truncated or of the wrong size."""
    w, h = plan.intrinsics.w, plan.intrinsics.h
    return [v for v in plan.views if not png_complete(Path(out_dir) / v.image, w, h)]


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
    """A dataset being made: its plan, where it goes, and the render still to do."""

    plan: Plan
    out_dir: Path
    render: object
    """A ``blender_io.render.RenderJob`` over the views still to render."""
    written: list[Path] = field(default_factory=list)

    def finish(self) -> list[Path]:
        """Once every image is in place: write every format (atomically, last) and drop the staging folder."""
        missing = pending_views(self.plan, self.out_dir)
        if missing:
            raise RuntimeError(f"{len(missing)} views have no complete image, e.g. {missing[0].image}")
        self.written = export(self.plan, self.out_dir)
        shutil.rmtree(self.out_dir / PLAN_DIR / "staging", ignore_errors=True)
        return self.written


def start_job(settings: Settings | None, source: Source, out_dir, overwrite=False, resume=False, quiet=True) -> Job:
    """Load the scene, plan (or reload the saved plan when resuming), key the rig; nothing rendered yet.

    When resuming, ``settings`` may be None to take the saved plan's, else they must equal them.
    """
    from .blender_io import scene as scene_io
    from .blender_io.render import RenderJob
    from .blender_io.rig import build_rig_camera, find_rig

    if settings is not None:
        settings.validate(tuple(FORMATS))
    out_dir = Path(out_dir).expanduser().absolute()
    check_out_dir(out_dir, overwrite, resume)
    scene, target, objs = load_scene(source)
    if resume:
        plan = _resumed_plan(out_dir, settings)
    else:
        facts = scene_io.scene_facts(scene, target, objs, settings.rig)
        plan = build_plan(settings, facts, image_namer(settings.formats))
        prepare_out_dir(out_dir, overwrite)
        save_plan(plan, out_dir)
    camera = build_rig_camera(scene, plan, *find_rig(scene))
    views = pending_views(plan, out_dir) if resume else list(plan.views)
    return Job(plan, out_dir, RenderJob(scene, camera, plan, out_dir, views, quiet=quiet))


def make_dataset(settings, source: Source, out_dir, overwrite=False, resume=False, progress=None, quiet=True) -> Job:
    """Render the dataset ``settings`` describe from ``source`` into ``out_dir``; the CLI's whole job."""
    job = start_job(settings, source, out_dir, overwrite, resume, quiet)
    job.render.run(progress)
    job.finish()
    return job


def export(plan: Plan, out_dir: Path) -> list[Path]:
    """Link the rendered images into every other format's layout, then write each format's files."""
    formats = plan.settings.formats
    written = []
    for fmt in formats:
        fdir = format_dir(out_dir, formats, fmt)
        if fmt != formats[0]:
            for view in plan.views:
                link_or_copy(out_dir / view.image, fdir / FORMATS[fmt].image_relpath(view.split, view.index))
        written += FORMATS[fmt].write(plan, fdir)
    return written
