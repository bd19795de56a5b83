"""The one pipeline the CLI and the operators call: scene -> plan -> rig -> render -> exporters."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .core.errors import UserError
from .core.files import link_or_copy
from .core.plan import PLAN_DIR, Plan, build_plan, save_plan
from .core.settings import Settings
from .exporters import FORMATS


@dataclass(frozen=True)
class Source:
    """Where the scene comes from; at most one of ``blend``, ``import_path`` and ``demo``."""

    blend: str | None = None
    import_path: str | None = None
    demo: bool = False
    object: str | None = None
    """Target object; None = the active object, else every visible mesh (the imported model with --import)."""


@dataclass(frozen=True)
class Result:
    out_dir: Path
    plan: Plan
    written: list[Path]


def format_dir(out_dir: Path, formats: tuple[str, ...], fmt: str) -> Path:
    """A single format writes at OUT; several write one self-contained folder each, OUT/<format>."""
    return Path(out_dir) if len(formats) == 1 else Path(out_dir) / fmt


def image_namer(formats: tuple[str, ...]):
    primary = formats[0]

    def image_for(split: str, index: int):
        rel = FORMATS[primary].image_relpath(split, index)
        return rel if len(formats) == 1 else type(rel)(primary) / rel

    return image_for


def check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse an output folder we cannot write or must not clobber, before any work is done."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UserError(f"--out {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()):
            if not overwrite:
                raise UserError(f"--out {out_dir} is not empty; pass --overwrite to replace the dataset in it")
            if not (out_dir / PLAN_DIR).is_dir():
                raise UserError(f"--out {out_dir} is not empty and holds no dataset of ours; refusing to overwrite it")
        return
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


def load_scene(source: Source, rig: str):
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


def make_dataset(settings: Settings, source: Source, out_dir, overwrite=False, progress=None, quiet=True) -> Result:
    """Render the dataset ``settings`` describe from ``source`` into ``out_dir``; the CLI's whole job."""
    settings.validate(tuple(FORMATS))
    out_dir = Path(out_dir).expanduser().absolute()
    check_out_dir(out_dir, overwrite)
    from .blender_io import scene as scene_io
    from .blender_io.render import render_views
    from .blender_io.rig import build_rig_camera

    scene, target, objs = load_scene(source, settings.rig)
    facts = scene_io.scene_facts(scene, target, objs, settings.rig)
    plan = build_plan(settings, facts, image_namer(settings.formats))
    prepare_out_dir(out_dir, overwrite)
    save_plan(plan, out_dir)
    camera = build_rig_camera(scene, plan)
    render_views(scene, camera, plan, out_dir, progress=progress, quiet=quiet)
    written = export(plan, out_dir)
    shutil.rmtree(out_dir / PLAN_DIR / "staging", ignore_errors=True)
    return Result(out_dir, plan, written)


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
