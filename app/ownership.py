"""Which files in an output folder this tool wrote, so that ``--overwrite`` deletes those and nothing else.

The saved plan names every file a run of it can write: each view's image and passes in every format's
layout, the downscaled copies, each format's own files (``Format.files``), the preview, the camera paths,
and everything under ``.nerf_dataset/``; plus the temporary names our atomic writes use (``.NAME.PID.tmp``)
and the formats' scratch folders. Anything else is the user's. This is the policy of tools that share a
folder with their users (git's ignored files, nerfstudio's outputs/): never delete what you cannot prove is
yours. ``--overwrite`` refuses, naming them, while foreign files are present.

Deletion keeps the plan to the very end, so a run killed half-way through it leaves a folder that is still
recognisably ours: ``--overwrite`` and ``--resume`` both accept it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path, PurePosixPath

from ..core.camera_path import camera_path_files
from ..core.downscale import downscaled_relpath
from ..core.errors import UserError
from ..core.layout import LOCK_FILE, PLAN_DIR, PLAN_FILE
from ..core.passes import PASS_EXTS
from ..core.plan import Plan, check_formats_hold, load_plan
from ..core.preview import PREVIEW_FILE
from ..exporters import FORMATS

TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")
# The passes whose downscaled copies nerfstudio reads (masks_<k>/, depths_<k>/).
DOWNSCALED_PASSES = ("mask", "depth")


def owned_files(plan: Plan) -> set[str]:
    """Every file a run of ``plan`` can write outside ``.nerf_dataset/``, relative to the output folder."""
    formats, settings = plan.settings.formats, plan.settings
    owned = {PREVIEW_FILE, *camera_path_files(plan)}
    for name in formats:
        fmt = FORMATS[name]
        prefix = PurePosixPath(name) if len(formats) > 1 else PurePosixPath()
        mine = set(fmt.files)
        for view in plan.views:
            image = fmt.image_relpath(view.split, view.index)
            mine.add(str(image))
            for p in settings.passes:
                for ext in PASS_EXTS[p]:
                    mine.add(str(fmt.pass_relpath(view.split, view.index, p, ext)))
            if fmt.takes_downscales:
                shrunk = [image] + [
                    fmt.pass_relpath(view.split, view.index, p, ".png")
                    for p in DOWNSCALED_PASSES
                    if p in settings.passes
                ]
                mine.update(str(downscaled_relpath(rel, k)) for rel in shrunk for k in settings.downscales)
        owned.update(str(prefix / rel) for rel in mine)
    return owned


def _scratch(plan: Plan | None) -> set[str]:
    if plan is None:
        return set()
    formats = plan.settings.formats
    return {
        str((PurePosixPath(n) if len(formats) > 1 else PurePosixPath()) / d)
        for n in formats
        for d in FORMATS[n].scratch
    }


def _walk(out_dir: Path):
    """Every non-folder entry under ``out_dir`` (links are not followed), as POSIX paths relative to it."""
    for top, dirs, files in os.walk(out_dir):
        rel_top = PurePosixPath(Path(top).relative_to(out_dir).as_posix())
        links = [d for d in dirs if os.path.islink(os.path.join(top, d))]
        dirs[:] = [d for d in dirs if d not in links]
        for name in files + links:
            yield str(rel_top / name) if str(rel_top) != "." else name


def is_ours(rel: str, owned: set[str], scratch: set[str]) -> bool:
    if rel == PLAN_DIR or rel.startswith(PLAN_DIR + "/") or rel in owned:
        return True
    if any(rel.startswith(d + "/") for d in scratch):
        return True
    parent, _, name = rel.rpartition("/")
    temp = TEMPORARY.match(name)
    return bool(temp) and f"{parent}/{temp['name']}".lstrip("/") in owned


def image_namer(formats: tuple[str, ...]):
    """Each view's image, ``image_for(split, index)``: the first format's layout (under its own folder when
    there are several)."""
    primary = formats[0]

    def image_for(split: str, index: int) -> PurePosixPath:
        rel = FORMATS[primary].image_relpath(split, index)
        return rel if len(formats) == 1 else PurePosixPath(primary) / rel

    return image_for


def saved_plan(out_dir: Path) -> Plan | None:
    """The plan of the dataset in ``out_dir``, None when there is none; a damaged or edited one (values no run
    could have saved) is a ``UserError`` sentence."""
    if not (Path(out_dir) / PLAN_FILE).is_file():
        return None
    plan = load_plan(out_dir)
    try:
        plan.settings.validate(FORMATS)
    except UserError as exc:
        raise UserError(f"{Path(out_dir) / PLAN_FILE} is damaged: it holds {exc}") from None
    try:  # checked at planning; read back, a view's own intrinsics must still go where a format holds them
        check_formats_hold(plan, FORMATS)
    except UserError as exc:
        raise UserError(f"{Path(out_dir) / PLAN_FILE} is damaged: it holds {exc}") from None
    image_for = image_namer(plan.settings.formats)
    for view in plan.views:  # the layout's own names: never a bookkeeping file, a folder or another view's
        if view.image != str(image_for(view.split, view.index)):
            raise UserError(f"{Path(out_dir) / PLAN_FILE} is damaged: view {view.split}/{view.index} has image "
                            f"{view.image[:80]!r}, not its format's name for it")  # fmt: skip
    return plan


def foreign_files(out_dir: Path, plan: Plan | None) -> list[str]:
    """Files in ``out_dir`` that no run of ``plan`` (None: of no plan) writes: the user's."""
    owned, scratch = (owned_files(plan), _scratch(plan)) if plan is not None else (set(), set())
    out_dir = Path(out_dir)
    return sorted(
        rel for rel in _walk(out_dir) if not is_ours(rel, owned, scratch) or (out_dir / rel).is_symlink()
    )  # this tool hard-links and never makes a symbolic link: one is the user's (or an attack), whatever its name


def clear_dataset(out_dir: Path, plan: Plan | None) -> None:
    """Delete every file of ours in ``out_dir``, the plan last and the lock never (its holder is this run), then
    the folders of ours this left empty. Anything else stays (the caller refused when there was any)."""
    out_dir = Path(out_dir)
    owned, scratch = (owned_files(plan), _scratch(plan)) if plan is not None else (set(), set())
    ours = [rel for rel in _walk(out_dir) if is_ours(rel, owned, scratch)]
    for rel in ours:
        if rel not in (PLAN_FILE, LOCK_FILE):
            (out_dir / rel).unlink(missing_ok=True)
    for d in scratch:
        shutil.rmtree(out_dir / d, ignore_errors=True)
    if PLAN_FILE in ours:
        (out_dir / PLAN_FILE).unlink(missing_ok=True)
    folders = {str(PurePosixPath(rel).parent) for rel in ours} | {PLAN_DIR}
    for rel in sorted({p for f in folders for p in [f, *map(str, PurePosixPath(f).parents)]}, key=len, reverse=True):
        folder = out_dir / rel
        if rel != "." and folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()


def remove_temporaries(out_dir: Path, plan: Plan) -> None:
    """Drop the leftovers of a killed run (temporary names, scratch folders, staging) before resuming, so the
    resumed dataset holds exactly the files of an uninterrupted one."""
    out_dir = Path(out_dir)
    owned = owned_files(plan)
    for rel in list(_walk(out_dir)):
        parent, _, name = rel.rpartition("/")
        temp = TEMPORARY.match(name)
        ours = temp and (f"{parent}/{temp['name']}".lstrip("/") in owned or rel.startswith(PLAN_DIR + "/"))
        if ours and not _writing(int(temp["pid"])):
            (out_dir / rel).unlink(missing_ok=True)
    for d in _scratch(plan):
        shutil.rmtree(out_dir / d, ignore_errors=True)


def _writing(pid: int) -> bool:
    """Whether another live process may still be writing its temporary file (a shard finalising beside us)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 1 << 22  # alive under another user, or no pid at all
    return True


def describe(files: list[str], shown: int = 3) -> str:
    more = f" and {len(files) - shown} more" if len(files) > shown else ""
    return ", ".join(json.dumps(f) for f in files[:shown]) + more
