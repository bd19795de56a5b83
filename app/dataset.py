"""The bpy-free half of the pipeline: where every file of a dataset goes, the output-folder policy, and
finalising (check the images, link them into every format's layout, write the formats). ``cli.py --collect``
runs it without Blender; ``app.pipeline`` is the half that opens the scene and renders.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.camera_path import write_camera_paths
from ..core.downscale import downscaled_relpath, write_downscaled
from ..core.files import link_or_copy
from ..core.images import exr_complete, png_complete
from ..core.layout import LOCK_FILE, PLAN_DIR, STAGING_DIR, TRACKS_FILE, WRITE_PROBE
from ..core.options import Meta, Options, family, option, required
from ..core.passes import PASS_EXTS
from ..core.plan import Plan, save_plan
from ..core.points import colour_points, load_points
from ..core.preview import write_preview
from ..core.settings import SettingError
from ..core.shards import parse_shard
from ..exporters import FORMATS
from .lock import OutputLock
from .ownership import (
    DOWNSCALED_PASSES,
    clear_dataset,
    describe,
    foreign_files,
    remove_temporaries,
    saved_plan,
)


@family
@dataclass(frozen=True)
class Source(Options):
    """Where the scene comes from: a .blend, an imported model, the demo scene, or (none) the open scene."""

    blend: str | None = option(
        None,
        Meta("--blend", "Scene", ".blend to open (inside Blender: the loaded file when omitted)", "PATH", panel="none"),
    )
    import_path: str | None = option(
        None, Meta("--import", "Model", "model to import (.obj, .glb, .gltf, .ply, .stl)", "PATH", panel="none")
    )
    demo: bool = option(False, Meta("--demo", "Demo Scene", "the built-in demo scene", panel="none"))
    object: str | None = option(
        None,
        Meta(
            "--object",
            "Target",
            "object to orbit (default: the active object, else all visible meshes)",
            "NAME",
            panel="none",
        ),
    )
    """Target object; None = the active object, else every visible mesh (the imported model with --import)."""
    objects: tuple[str, ...] = ()
    """The target's objects by name, exactly (a job's worker: those the submitter picked); ``object`` names it."""

    @property
    def given(self) -> bool:
        """A scene is named (else: the open one, inside Blender)."""
        return bool(self.blend or self.import_path or self.demo)


SCENES = ("blend", "import_path", "demo")
"""The ways of naming a scene: one at most."""


@family
@dataclass(frozen=True)
class RunOptions(Options):
    """How one run treats its output folder and machine; nothing here changes the dataset's bytes."""

    out: Path = required(Meta("--out", "Output Folder", "output folder", "DIR", panel="none"))
    overwrite: bool = option(
        False, Meta("--overwrite", "Overwrite", "replace a dataset of this tool already there (never anything else)")
    )
    resume: bool = option(
        False,
        Meta("--resume", "Resume", "finish the dataset in --out: keep complete images, render the rest", panel="none"),
    )
    shard: tuple[int, int] | None = option(
        None,
        Meta(
            "--shard",
            "Shard",
            "render only shard I of N (what each worker runs)",
            "I/N",
            parse=parse_shard,
            panel="none",
        ),
    )
    """(I, N): render only shard I of N (``core.shards``)."""
    threads: int = option(0, Meta("--threads", "Threads", "render threads (0: all cores)", "N", 0, 1024, panel="none"))
    """Blender's render threads; 0 = all cores (parallel workers share them)."""
    workers: int = option(1, Meta("--workers", "Workers", "parallel Blender processes", "N", 1, 256, panel="none"))
    retries: int = option(2, Meta("--retries", "Retries", "restarts of a failed worker", "N", 0, 100, panel="none"))
    verbose: bool = option(
        False,
        Meta("--verbose", "Verbose", "show Blender's own output (rendering, opening and importing)", panel="none"),
    )
    worker: bool = False
    """A job's worker: it renders its shard and leaves finalising to the job's ``collect``."""
    under_parent: bool = False
    """A worker of ``--workers`` (or ``submit --backend local``): its parent holds the folder's lock for it."""
    done_elsewhere: frozenset[int] = frozenset()
    """Frames a worker leaves out because the job's store already has them (a job in a bucket)."""

    @property
    def out_dir(self) -> Path:
        return Path(self.out).expanduser().absolute()

    @property
    def quiet(self) -> bool:
        """Keep Blender's own output (rendering, opening, importing) off stdout."""
        return not self.verbose


def format_dir(out_dir: Path, formats: tuple[str, ...], fmt: str) -> Path:
    """A single format writes at OUT; several write one self-contained folder each, OUT/<format>."""
    return Path(out_dir) if len(formats) == 1 else Path(out_dir) / fmt


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
    """Refuse an output folder we cannot write or must not clobber, before any work is done: one that holds
    files this tool did not write (``app.ownership``), or a dataset of ours without ``--overwrite``."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise SettingError("out", f"{{}} {out_dir} exists and is not a folder")
        plan = saved_plan(out_dir)
        if resume and plan is None:
            raise SettingError("out", f"{{}} {out_dir} holds no started dataset to resume")
        refuse_foreign_files(out_dir, plan)
        if resume:
            return
        if plan is not None and not overwrite:
            raise SettingError("out", f"{{}} {out_dir} is not empty; use {{overwrite}} to replace the dataset in it")
        return
    if resume:
        raise SettingError("out", f"{{}} {out_dir} does not exist, so there is nothing to resume")
    parent = out_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SettingError("out", f"{{}} {out_dir} cannot be created: {parent} is not a folder")


def refuse_foreign_files(out_dir: Path, plan: Plan | None, option: str = "out") -> None:
    """A run adds to, finalises or replaces a folder only while it holds nothing but this tool's files: anything
    else is the user's, and would be deleted (a model folder replaced whole) or mixed into the dataset.
    ``option`` names the setting that gave the folder (``--out``, or ``--job`` for collect)."""
    foreign = foreign_files(out_dir, plan)
    if foreign:
        raise SettingError(
            option,
            f"{{}} {out_dir} holds files this tool did not write ({describe(foreign)}); it never deletes or mixes "
            "them: move them out, or choose another folder",
        )


def prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Make ``out_dir`` ready for a new dataset: check it again (under the lock), then delete the old dataset
    of ours in it, and only that."""
    check_out_dir(out_dir, overwrite)
    try:
        clear_dataset(out_dir, saved_plan(out_dir))
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / WRITE_PROBE
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SettingError("out", f"{{}} {out_dir} is not writable: {exc.strerror}") from None


@contextlib.contextmanager
def publishing(out_dir: Path, plan: Plan, overwrite: bool):
    """``out_dir`` made ready under its lock for a dataset collected from a job, with the plan saved in it. A
    collect that fails takes back all it put there (and the folder, when it made it): nothing half-written
    looks like a dataset, and the next collect goes into the same folder."""
    check_out_dir(out_dir, overwrite)  # before its lock is made in it: a refused folder keeps none of ours
    created = not out_dir.exists()
    lock = OutputLock(out_dir).acquire()
    failed = False
    try:
        prepare_out_dir(out_dir, overwrite)
        save_plan(plan, out_dir)
        yield
    except BaseException:
        failed = True
        clear_dataset(out_dir, plan)
        raise
    finally:
        lock.release()
        if failed and created:  # our lock and folder, then the folder itself: only while nothing else is there
            (out_dir / LOCK_FILE).unlink(missing_ok=True)
            for folder in (out_dir / PLAN_DIR, out_dir):
                with contextlib.suppress(OSError):
                    folder.rmdir()


def pending_views(plan: Plan, out_dir: Path, views=None) -> list:
    """Views (default: all of the plan's) with a file missing, truncated, damaged or of the wrong size: the
    image or any of its pass files."""
    return [v for v in (plan.views if views is None else views) if not view_complete(plan, Path(out_dir), v)]


def view_complete(plan: Plan, out_dir: Path, view) -> bool:
    return not _damaged(plan, out_dir, view)


def damaged_files(plan: Plan, out_dir: Path) -> list[str]:
    """Every planned image and pass file that is missing, cut short or of the wrong size."""
    return [rel for view in plan.views for rel in _damaged(plan, Path(out_dir), view)]


def _damaged(plan: Plan, out_dir: Path, view) -> list[str]:
    w, h = plan.intrinsics.w, plan.intrinsics.h
    files = map(str, [view.image, *pass_files(plan, view).values()])
    check = {".exr": exr_complete, ".png": png_complete}
    return [r for r in files if (out_dir / r).is_symlink() or not check[Path(r).suffix](out_dir / r, w, h)]


def absent_views(plan: Plan, out_dir: Path) -> list:
    """Views without an image file at all: a cheap first look, no decoding."""
    return [v for v in plan.views if not (Path(out_dir) / v.image).is_file()]


class IncompleteError(Exception):
    """Views without a complete image; the output stays resumable."""

    def __init__(self, views):
        self.views = list(views)
        names = ", ".join(f"{v.split}/r_{v.index}" for v in self.views[:10])
        more = f" and {len(self.views) - 10} more" if len(self.views) > 10 else ""
        super().__init__(f"{len(self.views)} views have no complete image: {names}{more}")


def finalise(out_dir: Path, plan: Plan | None = None, verify: bool = True, sample_points=None) -> list[Path]:
    """Finalise: check every view's image (decoded in full when ``verify``), write every format, drop staging.

    Needs no Blender (``cli.py --collect``); ``sample_points()``, when given, samples and tracks the surface
    points (Blender) once the images are known complete; their colours come from the images, here.
    """
    out_dir = Path(out_dir)
    if plan is None:
        plan = saved_plan(out_dir)
        if plan is None:
            raise SettingError("out", f"{{}} {out_dir} holds no planned dataset to collect")
    refuse_foreign_files(out_dir, plan)
    missing = pending_views(plan, out_dir) if verify else absent_views(plan, out_dir)
    if missing:
        raise IncompleteError(missing)
    remove_temporaries(out_dir, plan)
    if sample_points is not None:
        sample_points()
    colour_saved_points(out_dir, plan)
    written = export(plan, out_dir)
    shutil.rmtree(out_dir / STAGING_DIR, ignore_errors=True)
    return written


def wants_points(plan: Plan) -> bool:
    return bool(plan.settings.points) and any(FORMATS[f].uses_points for f in plan.settings.formats)


class TracksDamaged(OSError):
    """The surface points' tracks are missing or damaged: derived data, sampled again with the scene open."""


def tracks_ok(folder: Path, plan: Plan) -> bool:
    """Whether ``folder`` holds the tracks the plan's points need (or it needs none)."""
    return not wants_points(plan) or load_points(folder, len(plan.views), TRACKS_FILE) is not None


def colour_saved_points(out_dir: Path, plan: Plan) -> None:
    """Give the tracked points (``TRACKS_FILE``) their colours from the rendered images, once. Points the plan
    wants but nobody tracked (or whose file is damaged) are a failure, not a dataset without them."""
    views = len(plan.views)
    if not wants_points(plan) or load_points(out_dir, views) is not None:
        return
    tracks = load_points(out_dir, views, TRACKS_FILE)
    try:
        if tracks is None:
            raise ValueError("missing")
        colour_points(tracks, plan, out_dir).save(out_dir)
    except ValueError:
        raise TracksDamaged(
            errno.ENOENT,
            "the surface points' tracks are missing or damaged; any run with the scene open samples them again "
            "(--resume, or a job's worker)",
            str(Path(out_dir) / TRACKS_FILE),
        ) from None


def export(plan: Plan, out_dir: Path) -> list[Path]:
    """Link the rendered images into every other format's layout, make the downscaled copies, the preview and
    the camera paths, and only then write each format's own files (its entry file last, ``Format.files``):
    a file a consumer opens never appears before what it refers to."""
    formats = plan.settings.formats
    points = load_points(out_dir, len(plan.views))
    written, downscaled = [], {}
    for name in formats:
        fmt, fdir = FORMATS[name], format_dir(out_dir, formats, name)
        if name != formats[0]:
            for view in plan.views:
                link_or_copy(out_dir / view.image, fdir / fmt.image_relpath(view.split, view.index))
                for (pass_name, ext), rel in pass_files(plan, view).items():
                    link_or_copy(out_dir / rel, fdir / fmt.pass_relpath(view.split, view.index, pass_name, ext))
        if fmt.takes_downscales:
            written += _downscale(plan, fdir, fmt, downscaled)
    written.append(write_preview(plan, out_dir))
    written += write_camera_paths(plan, out_dir)
    for name in formats:
        written += FORMATS[name].write(plan, format_dir(out_dir, formats, name), points)
    return written


def _downscale(plan: Plan, fdir: Path, fmt, made: dict) -> list[Path]:
    """The format's ``images_<k>/`` (and masks, depths) copies; ``made`` maps a source image's identity to a
    copy already made for another format, which is linked instead of computed again."""
    written = []
    for view in plan.views:
        sources = [(fmt.image_relpath(view.split, view.index), "color")]
        sources += [
            (fmt.pass_relpath(view.split, view.index, name, ".png"), name)
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
