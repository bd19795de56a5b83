"""A saved plan read back as hostile input: it must be one ``build_plan`` could have made.

A job's plan is guarded by its digest, but anyone who can write the plan can write the digest too, and every
value in it ends up somewhere far from the read: in Blender's RNA (a lens that is text), in a format's JSON
(a pose of strings), in a path (an image named ``.nerf_dataset/job.json``), in memory (an image of 10^9 px).
So each field is checked here for the type and range a run writes, once, where the plan is read; a failure
is a ``ValueError`` of a few words that ``load_plan`` turns into one sentence.
"""

from __future__ import annotations

import math
import numbers
from typing import get_args

from .camera import Intrinsics, Optics, SensorFit, horizontal_optics, intrinsics_from_optics
from .rigs import SPLITS
from .settings import ENGINES, MAX_SIDE_PX, MIN_SIDE_PX

FIRST_FRAME = 1
MAX_FRAME = 1_048_574
"""Blender's last frame (MAXFRAME): no scene frame, the user's camera's included, lies beyond it."""
MAX_TEXT = 4096
MAX_SHIFT = 10.0
"""Blender's limit on a camera's lens shift."""
FAR = 1e12
"""No coordinate, distance or focal length a run plans comes near it: a larger one is an edit."""


def check_plan(plan) -> None:
    """Every field of ``plan`` of the type and range ``build_plan`` gives it (``ValueError`` if not)."""
    if type(plan.version) is not int:
        raise ValueError("its version is no integer")
    _check_intrinsics(plan.intrinsics, "its")
    _check_scene(plan.scene, plan.intrinsics, plan.settings)
    _numbers("centre", plan.center, 3)
    _number("radius", plan.radius, low=0.0)
    if not all(isinstance(n, str) and len(n) <= MAX_TEXT for n in plan.notes):
        raise ValueError("its notes are not lines of text")
    _check_views(plan.views, plan.intrinsics)
    _check_renders(plan)


def frame_number(f) -> bool:
    return type(f) is int and -MAX_FRAME <= f <= MAX_FRAME


def _is_number(x) -> bool:
    """A real number (numpy's too, as planning makes them), not a truth value, finite and not absurd."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and abs(x) < FAR


def _number(what: str, x, low: float | None = None, positive: bool = False) -> None:
    if not _is_number(x) or (low is not None and x < low) or (positive and x <= 0):
        raise ValueError(f"its {what} {str(x)[:20]!r} is no number a run plans")


def _numbers(what: str, values, n: int) -> None:
    if not (isinstance(values, (list, tuple)) and len(values) == n and all(_is_number(v) for v in values)):
        raise ValueError(f"its {what} is not {n} finite numbers")


def _text(what: str, value, empty: bool = True) -> None:
    """Text as a run records it: names and paths a user gave (a tab in a file name included), no NUL."""
    if not (isinstance(value, str) and len(value) <= MAX_TEXT and "\x00" not in value and (empty or value)):
        raise ValueError(f"its {what} is not a line of text")


def _check_intrinsics(intr: Intrinsics, whose: str) -> None:
    """Sizes and numbers a render can have: a plan's size is allocated by status, collect and the preview."""
    w, h = intr.w, intr.h
    if not (type(w) is int and type(h) is int and MIN_SIDE_PX <= w <= MAX_SIDE_PX and MIN_SIDE_PX <= h <= MAX_SIDE_PX):
        raise ValueError(f"{whose} images are {str(w)[:20]}x{str(h)[:20]} px; a render's sides are {MIN_SIDE_PX} "
                         f"to {MAX_SIDE_PX} px")  # fmt: skip
    if not all(_is_number(x) for x in (intr.fl_x, intr.fl_y, intr.cx, intr.cy)):
        raise ValueError(f"{whose} intrinsics are not finite numbers")
    longest = max(w, h)
    if not (1e-6 * longest < min(intr.fl_x, intr.fl_y) and max(intr.fl_x, intr.fl_y) < 1e6 * longest):
        raise ValueError(f"{whose} intrinsics are ones no camera renders")
    if max(abs(intr.cx), abs(intr.cy)) > 1e6 * longest:
        raise ValueError(f"{whose} intrinsics are ones no camera renders")


def _check_optics(o: Optics) -> None:
    """Values within Blender's own hard limits: beyond them Blender clamps silently and renders another camera
    than the one the formats would publish."""
    for name in ("lens_mm", "sensor_width_mm", "sensor_height_mm"):
        _number(f"camera's {name}", getattr(o, name), low=1.0)
    _number("camera's clip_start", o.clip_start, positive=True)  # Blender's 1e-6 floor, as a float32, is below it
    if not (_is_number(o.clip_end) and o.clip_end > o.clip_start):
        raise ValueError("its camera's clipping ends before it starts")
    for name in ("shift_x", "shift_y"):
        _number(f"camera's {name}", getattr(o, name))
        if abs(getattr(o, name)) > MAX_SHIFT:
            raise ValueError(f"its camera's {name} is beyond Blender's")
    if o.sensor_fit not in get_args(SensorFit):
        raise ValueError(f"its camera's sensor fit {str(o.sensor_fit)[:20]!r} is not Blender's")


def _close(a: Intrinsics, b: Intrinsics) -> bool:
    tol = 1e-6 * max(a.w, a.h)
    return (a.w, a.h) == (b.w, b.h) and all(
        abs(getattr(a, k) - getattr(b, k)) <= tol for k in ("fl_x", "fl_y", "cx", "cy")
    )


def _check_renders(plan) -> None:
    """The published intrinsics are the rendered ones: the plan's are its camera's (a view's own, those of the
    camera Blender is given for that view), so no edit publishes a camera other than the one that rendered."""
    scene, views = plan.scene, plan.views
    own = [v for v in views if v.intrinsics is not None]
    if not own:
        if not _close(plan.intrinsics, intrinsics_from_optics(scene.optics, scene.raster)):
            raise ValueError("its intrinsics are not its camera's")
        return
    if len(own) != len(views) or plan.intrinsics not in {v.intrinsics for v in own}:
        raise ValueError("its views' own intrinsics are not one per view")
    for v in own:  # rendered as a lens and a shift on a sensor wide enough for every lens (``blender_io.rig``)
        optics = horizontal_optics(v.intrinsics, scene.raster, scene.optics)
        shift = max(abs(optics.shift_x), abs(optics.shift_y))
        if shift > MAX_SHIFT:
            raise ValueError(f"view {v.split}/{v.index} needs a lens shift of {shift:.3g} image widths, beyond "
                             f"Blender's {MAX_SHIFT:g}")  # fmt: skip
        if not _close(v.intrinsics, intrinsics_from_optics(optics, scene.raster)):
            raise ValueError(f"view {v.split}/{v.index} has intrinsics no camera of Blender's renders")


def _matrix(what: str, m) -> None:
    _numbers(what, m, 16)


def _check_scene(scene, intr: Intrinsics, settings) -> None:
    _text("target", scene.target, empty=False)
    for name in ("bounds_min", "bounds_max", "scene_bounds_min", "scene_bounds_max"):
        _numbers(name.replace("_", " "), getattr(scene, name), 3)
    _check_optics(scene.optics)
    r = scene.raster
    if (r.width, r.height) != (intr.w, intr.h) or type(r.width) is not int or type(r.height) is not int:
        raise ValueError("its raster is not the size of its images")
    if (
        settings.rig != "dataset"
        and settings.resolution is not None
        and tuple(settings.resolution) != (r.width, r.height)
    ):
        raise ValueError("its images are not the size its settings ask for")
    for aspect in (r.pixel_aspect_x, r.pixel_aspect_y):
        if not (_is_number(aspect) and 1.0 <= aspect <= 200.0):
            raise ValueError("its pixel aspect is beyond Blender's (1 to 200)")
    _number("target radius", scene.target_radius, low=0.0)
    if scene.engine not in ENGINES:
        raise ValueError(f"its render engine {str(scene.engine)[:20]!r} is not one of Blender's")
    if not (_is_number(scene.fps) and scene.fps > 0):
        raise ValueError("its frame rate is no frame rate")
    for name in ("unit", "flythrough_name", "source", "geometry", "surroundings", "cameras"):
        _text(name.replace("_", " "), getattr(scene, name))
    for frame, m, fov in scene.flythrough:
        _matrix("camera path's pose", m)
        if not frame_number(frame) or not (_is_number(fov) and 0 < fov < 180):
            raise ValueError("its camera path has a frame or field of view no camera has")
    for frame, m in scene.camera_path:
        _matrix("scene camera's pose", m)
        if not frame_number(frame):
            raise ValueError(f"the scene camera's path has frame {str(frame)[:20]}, beyond Blender's frames")
    for o in scene.camera_optics:
        _check_optics(o)
    if scene.camera_optics and len(scene.camera_optics) != len(scene.camera_path):
        raise ValueError("its scene camera has optics for other frames than its path's")


def _check_views(views, intr: Intrinsics) -> None:
    """The views in the order ``build_plan`` makes them: the splits in turn, each split's indices 0, 1, ...,
    the frames 1, 2, ... across the plan, one image each. So no two views share an image or a frame, and no
    frame lies beyond Blender's, whatever an edited plan (with its digest updated) says."""
    if not views:
        raise ValueError("it has no views")
    order, counts, images = {s: i for i, s in enumerate(SPLITS)}, dict.fromkeys(SPLITS, 0), set()
    last = 0
    for n, v in enumerate(views):
        _check_view(v, intr)
        if order[v.split] < last or v.index != counts[v.split] or v.frame != FIRST_FRAME + n:
            raise ValueError(f"view {v.split}/{v.index} at frame {str(v.frame)[:20]} is not where a plan puts it")
        if v.image in images:
            raise ValueError(f"two views share the image {v.image!r}")
        last, counts[v.split] = order[v.split], counts[v.split] + 1
        images.add(v.image)


def _check_view(v, intr: Intrinsics) -> None:
    """A saved view must be one this tool could have planned: an edited plan must not steer a render or a
    write anywhere else (an image path out of the folder or into its bookkeeping, a pose that is not a matrix)."""
    if not isinstance(v.image, str) or not plain_path(v.image):
        raise ValueError(f"view {v.split}/{v.index} has image path {str(v.image)[:80]!r}")
    if v.split not in SPLITS or not all(type(x) is int and x >= 0 for x in (v.index, v.frame)):
        raise ValueError(f"view {str(v.split)[:20]}/{str(v.index)[:20]} has a bad split, index or frame")
    rows = v.c2w
    if not (len(rows) == 4 and all(isinstance(r, (list, tuple)) and len(r) == 4 for r in rows)):
        raise ValueError(f"view {v.split}/{v.index} has no 4x4 pose")
    if not all(_is_number(x) for r in rows for x in r):
        raise ValueError(f"view {v.split}/{v.index} has no finite 4x4 pose")
    if v.source_frame is not None and not frame_number(v.source_frame):
        raise ValueError(f"view {v.split}/{v.index} copies frame {str(v.source_frame)[:20]}, beyond Blender's")
    if v.source_name is not None:
        _text(f"view {v.split}/{v.index}'s source name", v.source_name)
    own = v.intrinsics
    if own is not None:
        _check_intrinsics(own, f"view {v.split}/{v.index}'s")
        if (own.w, own.h) != (intr.w, intr.h):
            raise ValueError(f"view {v.split}/{v.index} has intrinsics no render of this plan could have")


def plain_path(text: str) -> bool:
    """A relative POSIX path as a run names a file: printable, no empty, ``.`` or ``..`` part, no hidden part
    (``.nerf_dataset/`` is the bookkeeping's), no trailing slash, no backslash."""
    parts = text.split("/")
    return (
        0 < len(text) <= MAX_TEXT
        and text.isprintable()
        and "\\" not in text
        and all(p and not p.startswith(".") for p in parts)
    )
