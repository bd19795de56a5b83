"""The ``dataset`` rig: another dataset's cameras, moved into the scene, as the views of a new one.

``core.source_cameras`` reads them in the source's world frame; ``--cameras-transform`` (``core.world_transform``)
maps that frame into the scene; ``--resolution`` rescales every view's intrinsics. The image size and the pixel
aspect (``fl_y / fl_x``) are the source's, so Blender renders each view's own projection.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .camera import Intrinsics, Raster
from .errors import UserError
from .settings import SettingError
from .source_cameras import MAX_COORDINATE, SourceCameras, SourceView, read_source_cameras
from .untrusted import is_dir, present
from .world_transform import IDENTITY, Similarity, WorldTransform, read_world_transform

# Relative spread of fl_y / fl_x over the views that still counts as one pixel aspect (float32 sources).
PIXEL_ASPECT_TOLERANCE = 1e-6
# Blender's pixel aspect lies in [1, 200] on each axis.
MAX_PIXEL_ASPECT = 200.0


@dataclass(frozen=True)
class RigCameras:
    source: SourceCameras
    views: tuple[SourceView, ...]
    """In the scene's frame, at the dataset's resolution."""
    raster: Raster
    notes: tuple[str, ...] = ()


def load_rig_cameras(settings) -> RigCameras:
    """The dataset rig's cameras for ``settings`` (``cameras_from``, ``cameras_transform``, ``holdout``,
    ``resolution``); ``UserError`` for a source or transform that cannot be rendered."""
    source = read_source_cameras(settings.cameras_from, settings.holdout)
    transform = read_world_transform(settings.cameras_transform) if settings.cameras_transform else None
    cams = rig_cameras(source, transform, settings.resolution)
    beside = source.folder / "dataparser_transforms.json"
    if transform is None and present(beside):  # a trained model's: its frame is not the file's
        note = f"{beside} is not applied: the cameras stay in the file's frame (give it to --cameras-transform "
        note += "to render in the trained model's frame)"
        cams = RigCameras(cams.source, cams.views, cams.raster, (note,))
    return cams


def check_apart(settings, out_dir) -> None:
    """The output folder is neither the source dataset's folder, nor inside it, nor around it: replacing or
    adding to a dataset must never touch the one whose cameras it renders."""
    src = Path(os.path.realpath(Path(settings.cameras_from).expanduser()))
    if not present(src):  # reading it says what is wrong
        return
    src = src if is_dir(src) else src.parent
    out = Path(os.path.realpath(Path(out_dir).expanduser()))
    if out == src or out.is_relative_to(src) or src.is_relative_to(out):
        raise SettingError(
            "out", f"{{}} {out_dir} overlaps the dataset the cameras come from ({src}); choose a folder apart from it"
        )


def rig_cameras(source: SourceCameras, transform: WorldTransform | None, resolution=None) -> RigCameras:
    move = scene_map(source, transform)
    if resolution is not None:
        _check_aspect(source.size, tuple(resolution))
    views = tuple(
        SourceView(
            v.split, v.name, _placed(move.apply(v.c2w), v.name), _checked(_resized(v.intrinsics, resolution), v.name)
        )
        for v in source.views
    )
    return RigCameras(source, views, _raster(views))


def _check_aspect(size: tuple[int, int], resolution: tuple[int, int]) -> None:
    (w, h), (rw, rh) = size, resolution
    if abs((rw / rh) / (w / h) - 1.0) > 0.01:
        raise UserError(
            f"--resolution {rw}x{rh} does not keep the cameras' {w}x{h} aspect: their views would be stretched; "
            "scale both sides alike"
        )


# A field of view of at most 179 degrees (Blender's perspective camera; wider is a fisheye), at least a
# 10 000th of the image's width in focal length units; a principal point within 10 image sides (Blender's shift).
MIN_FOCAL_PER_SIDE = 0.5 / math.tan(math.radians(89.5))
MAX_FOCAL_PER_SIDE = 1e4
MAX_SHIFT = 10.0


def _checked(intr: Intrinsics, name: str) -> Intrinsics:
    fx, fy = intr.fl_x / intr.w, intr.fl_y / intr.h
    shift = max(abs(intr.cx / intr.w - 0.5), abs(intr.cy / intr.h - 0.5))
    if not (MIN_FOCAL_PER_SIDE <= min(fx, fy) and max(fx, fy) <= MAX_FOCAL_PER_SIDE and shift <= MAX_SHIFT):
        raise UserError(
            f"view {name!r} has fl_x {intr.fl_x:g}, fl_y {intr.fl_y:g}, cx {intr.cx:g}, cy {intr.cy:g} for a "
            f"{intr.w}x{intr.h} image: beyond a 179 degree field of view, a 10 000th of one, or a principal point "
            "10 image widths away, none of which Blender's perspective camera renders"
        )
    return intr


def scene_map(source: SourceCameras, transform: WorldTransform | None) -> Similarity:
    """The map from the source's world into the scene. A nerfstudio dataparser transform starts from the frame
    before the file's ``applied_transform`` (and ``applied_scale``), as nerfstudio saves it: undo those first."""
    if transform is None:
        return IDENTITY
    if transform.dataparser and (source.applied is not None or source.applied_scale != 1.0):
        applied = Similarity(source.applied if source.applied is not None else np.eye(4))
        undo = Similarity.scaling(1.0 / source.applied_scale).then(applied.inverse())
        return undo.then(transform.map)
    return transform.map


def _placed(c2w: np.ndarray, name: str) -> np.ndarray:
    if not (np.isfinite(c2w).all() and np.max(np.abs(c2w[:3, 3])) <= MAX_COORDINATE):
        raise UserError(f"the cameras transform moves view {name!r} beyond what Blender can place")
    return c2w


def _resized(intr: Intrinsics, resolution) -> Intrinsics:
    if resolution is None or tuple(resolution) == (intr.w, intr.h):
        return intr
    w, h = resolution
    sx, sy = w / intr.w, h / intr.h
    return Intrinsics(int(w), int(h), intr.fl_x * sx, intr.fl_y * sy, intr.cx * sx, intr.cy * sy)


def _raster(views) -> Raster:
    """The render's size and pixel aspect: Blender's ``pixel_aspect_y / pixel_aspect_x`` is ``fl_x / fl_y``."""
    first = views[0].intrinsics
    ratios = np.array([v.intrinsics.fl_x / v.intrinsics.fl_y for v in views])
    ratio = float(ratios[0])
    if np.max(np.abs(ratios / ratio - 1.0)) > PIXEL_ASPECT_TOLERANCE:
        raise UserError(
            f"the cameras' fl_y / fl_x differs between views ({1 / ratios.max():.6g} to {1 / ratios.min():.6g}): "
            "Blender renders one pixel aspect per dataset"
        )
    if abs(ratio - 1.0) <= PIXEL_ASPECT_TOLERANCE:
        return Raster(first.w, first.h)
    if not 1 / MAX_PIXEL_ASPECT <= ratio <= MAX_PIXEL_ASPECT:
        raise UserError(f"the cameras' fl_x / fl_y is {ratio:.6g}: Blender's pixel aspect reaches {MAX_PIXEL_ASPECT:g}")
    return Raster(first.w, first.h, 1.0, ratio) if ratio > 1 else Raster(first.w, first.h, 1.0 / ratio, 1.0)
