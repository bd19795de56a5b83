"""The cameras of an existing dataset, any of the four layouts, from any tool: what ``--cameras-from`` renders.

Each layout is read as its own consumers read it (``exporters/common.py``), but for rendering again, not for
training: every camera key a file has is honoured (a NeRF-synthetic file's ``fl_x, cx, cy`` as well as its
``camera_angle_x``), image files are needed only where nothing else gives the image size, and a ``.png``
suffix or none is a name either way. What Blender's pinhole camera cannot render (lens distortion, fisheye
models) is refused in one sentence, never approximated.

Poses come out as camera-to-world with OpenGL (Blender) camera axes, in the file's own world frame: the
``transform_matrix`` of the JSON layouts, COLMAP's world for COLMAP. ``instant-ngp``'s ``scale``/``offset``
and nerfstudio's dataparser transform are training-time maps *out of* that frame, so they are not applied;
``core.world_transform`` maps the cameras into the scene when the user asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from .camera import Intrinsics
from .colmap_model import ModelError, read_model
from .conventions import OPENGL_FROM_OPENCV
from .errors import UserError
from .images import read_image_size
from .reader_kit import (
    IMAGE_EXTS,
    MAX_SIDE,
    Dataset,
    c2w_of,
    frames_of,
    intrinsics,
    load_json,
    names_list,
    shown,
    transforms_json_kind,
)
from .rigs import SPLITS
from .untrusted import Unreadable, is_dir, present

# Lens distortion keys of the JSON layouts (instant-ngp's and nerfstudio's names); any non-zero one is refused.
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "k5", "k6", "p1", "p2", "distortion_params")
# Any of these in a frame makes its camera its own (instant-ngp and nerfstudio read each of them per frame).
CAMERA_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y", "camera_model")
CAMERA_KEYS += DISTORTION_KEYS
PINHOLE_MODELS = ("PINHOLE", "SIMPLE_PINHOLE", "OPENCV")
"""nerfstudio camera models that are a pinhole when their distortion is zero."""
# COLMAP models: where the focal lengths and principal point sit in the parameters; the rest is distortion.
COLMAP_PINHOLE = {
    "SIMPLE_PINHOLE": (0, 0, 1, 2),
    "PINHOLE": (0, 1, 2, 3),
    "SIMPLE_RADIAL": (0, 0, 1, 2),
    "RADIAL": (0, 0, 1, 2),
    "OPENCV": (0, 1, 2, 3),
    "FULL_OPENCV": (0, 1, 2, 3),
}
MAX_SOURCE_VIEWS = 100_000
BACKSLASH = chr(92)
# How far from orthonormal a written rotation may be: float32 noise (1e-7) passes, a scaled camera does not.
ROTATION_TOLERANCE = 1e-5
# Blender keeps object positions in single precision: beyond this, a camera is no longer where it says.
MAX_COORDINATE = 1e9
OUR_COLMAP_NAME = re.compile(r"(train|val|test)_\d+\.png")


@dataclass(frozen=True)
class SourceView:
    split: str
    name: str
    """The image's name in the source, as written there (``./train/r_0``, ``IMG_0001.JPG``)."""
    c2w: np.ndarray
    """Camera-to-world, OpenGL camera axes, in the source's world frame."""
    intrinsics: Intrinsics


@dataclass(frozen=True)
class SourceCameras:
    layout: str
    """Which layout was read: "nerf", "ngp", "nerfstudio" or "colmap"."""
    folder: Path
    views: tuple[SourceView, ...]
    applied: np.ndarray | None = None
    """nerfstudio's ``applied_transform`` (4x4, the file's frame from the capture's): what its
    ``dataparser_transforms.json`` assumes was undone first."""
    applied_scale: float = 1.0

    @property
    def size(self) -> tuple[int, int]:
        first = self.views[0].intrinsics
        return first.w, first.h


def read_source_cameras(path, holdout: int = 0) -> SourceCameras:
    """The views of the dataset at ``path`` (a folder, or a file in it); ``holdout`` N > 0 puts every Nth view
    of a source without splits into test, in its own order (COLMAP's: by image name, as 3DGS's ``--eval``).
    Raises ``UserError`` (one sentence) for anything that cannot be rendered as it says."""
    folder, layout, model_dir = _locate(Path(path).expanduser())
    ds = Dataset(folder)
    try:
        if layout == "colmap":
            read = _read_colmap(ds, model_dir)
        elif layout == "nerf":
            read = _read_nerf(ds)
        else:
            read = _read_transforms(ds, layout)
    except Unreadable as exc:
        raise UserError(f"{path}: {exc}") from None
    problems = [f for f in ds.findings if f.problem]
    if problems:
        raise UserError(f"{problems[0].where} {problems[0].message}; the cameras cannot be rendered as it says")
    views, applied, scale = read
    if holdout and any(v.split != "train" for v in views):
        raise UserError(f"{folder} has its own splits; --holdout is for a source without them")
    if not views:
        raise UserError(f"{folder} has no cameras in its {layout} files")
    if len(views) > MAX_SOURCE_VIEWS:
        raise UserError(f"{folder} has {len(views)} cameras, more than the {MAX_SOURCE_VIEWS} one dataset may have")
    sizes = {(v.intrinsics.w, v.intrinsics.h) for v in views}
    if len(sizes) > 1:
        a, b = sorted(sizes)[:2]
        raise UserError(
            f"{folder} has images of {a[0]}x{a[1]} and {b[0]}x{b[1]} pixels; one dataset renders one size: "
            "split the source by image size"
        )
    if holdout and all(v.split == "train" for v in views):
        views = [_replace_split(v, "test" if i % holdout == 0 else "train") for i, v in enumerate(views)]
    return SourceCameras(layout, folder, tuple(views), applied, scale)


def _replace_split(v: SourceView, split: str) -> SourceView:
    return SourceView(split, v.name, v.c2w, v.intrinsics)


def _locate(path: Path) -> tuple[Path, str, Path | None]:
    """(dataset folder, layout, COLMAP model folder) for a folder or a file the user named."""
    if present(path) and not is_dir(path):
        name = path.name
        if name in ("cameras.bin", "images.bin", "cameras.txt", "images.txt"):
            return path.parent, "colmap", path.parent
        if re.fullmatch(r"transforms(_(train|val|test))?\.json", name):
            path = path.parent if name != "transforms.json" or path.parent.name != "eval" else path.parent.parent
        else:
            raise UserError(
                f"{path} is no dataset file this tool reads (transforms*.json, or COLMAP's cameras and images)"
            )
    if not is_dir(path):
        raise UserError(f"{path} is missing" if not present(path) else f"{path} cannot be read")
    if any(present(path / f"transforms_{s}.json") for s in SPLITS):
        return path, "nerf", None
    if present(path / "transforms.json"):
        return path, transforms_json_kind(path), None
    for model in (path, path / "sparse" / "0", path / "sparse"):
        if any(present(model / f) for f in ("cameras.bin", "cameras.txt")):
            return path, "colmap", model
    inner = sorted(p.name for p in _subfolders(path) if _holds_layout(p))
    hint = f": give one of its format folders ({', '.join(inner)})" if inner else ""
    raise UserError(f"{path} holds no transforms_*.json, transforms.json or COLMAP model (sparse/0/cameras.bin){hint}")


def _subfolders(path: Path) -> list[Path]:
    try:
        return [p for _, p in zip(range(256), path.iterdir()) if is_dir(p)]
    except OSError:
        return []


def _holds_layout(folder: Path) -> bool:
    """Whether a folder itself holds one of the layouts (never its own subfolders: links may loop)."""
    names = [f"transforms_{s}.json" for s in SPLITS] + ["transforms.json"]
    models = (folder, folder / "sparse" / "0", folder / "sparse")
    return any(present(folder / n) for n in names) or any(present(m / "cameras.bin") for m in models)


def _pinhole(ds: Dataset, where, meta: dict, size_hint=None) -> Intrinsics | None:
    """The pinhole camera the keys describe; a problem when they describe distortion or no camera."""
    model = meta.get("camera_model", "OPENCV")
    if model not in PINHOLE_MODELS:
        ds.problem(where, f"has camera_model {shown(model)}: Blender's perspective camera renders pinholes only")
        return None
    bent = [k for k in DISTORTION_KEYS if not _zero(meta.get(k))]
    if bent:
        ds.problem(
            where,
            f"has lens distortion ({bent[0]} = {shown(meta[bent[0]])}): Blender renders undistorted pinhole images; "
            "undistort the source first (e.g. COLMAP's image_undistorter)",
        )
        return None
    before = len(ds.findings)
    K, size = intrinsics(ds, where, meta, need_fl=False, image_size=size_hint)
    size = size or size_hint
    if K is None or size is None:
        if len(ds.findings) == before:  # nothing was wrong, something was missing
            ds.problem(
                where,
                "has no focal length (fl_x or camera_angle_x)"
                if size is not None
                else "has no w and h, and its first image cannot be read for its size",
            )
        return None
    return Intrinsics(int(size[0]), int(size[1]), float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))


def _zero(value) -> bool:
    """No distortion: absent, 0, or a flat list of zeros (nerfstudio's ``distortion_params``)."""
    if isinstance(value, list):
        return len(value) <= 16 and all(_zero_number(v) for v in value)
    return value is None or _zero_number(value)


def _zero_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _image_size(ds: Dataset, json_path: Path, name) -> tuple[int, int] | None:
    """The size of a frame's image, as written or with a NeRF-synthetic loader's ``.png`` (or another) added."""
    if not isinstance(name, str) or "\0" in name:
        return None
    base = json_path.parent / name.replace("\\", "/")
    for candidate in [base, *(base.with_name(base.name + e) for e in sorted(IMAGE_EXTS))]:
        if present(candidate):
            try:
                w, h = read_image_size(candidate, ds.folder)
            except Unreadable:
                return None
            if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
                ds.problem(candidate, f"says it is {w}x{h} pixels")
                return None
            return w, h
    return None


def _frames(ds: Dataset, path: Path, meta: dict, split_of, frame_first: bool) -> list[SourceView]:
    """The views of one transforms file; a frame's own camera keys override the header's (instant-ngp) or
    fill in what it lacks (``frame_first`` False: nerfstudio). Without ``w`` and ``h`` each frame's size is its
    image's, as NeRF-synthetic loaders take it."""
    frames = frames_of(ds, path, meta)
    if len(frames) > MAX_SOURCE_VIEWS:
        ds.problem(path, f"has {len(frames)} frames, more than the {MAX_SOURCE_VIEWS} one dataset may have")
        return []
    sized = all(k in meta for k in ("w", "h"))
    header = None
    if frames and not all(any(k in f for k in CAMERA_KEYS) for f in frames):
        header = _pinhole(ds, path, meta, None if sized else _image_size(ds, path, frames[0].get("file_path")))
    views = []
    for frame in frames:
        name = frame.get("file_path")
        if not isinstance(name, str):
            ds.problem(path, f"has a frame whose file_path is {shown(name)}, not a name")
            continue
        c2w = c2w_of(ds, path, frame)
        own = {**meta, **frame} if frame_first else {**frame, **meta}
        hint = None if sized or ("w" in frame and "h" in frame) else _image_size(ds, path, name)
        mine = any(k in frame for k in CAMERA_KEYS) or (hint is not None and header and hint != (header.w, header.h))
        intr = _pinhole(ds, path, own, hint) if mine or header is None else header
        if c2w is not None and intr is not None and _rotation_ok(ds, path, name, c2w) and _name_ok(ds, path, name):
            views.append(SourceView(split_of(name), name, c2w, intr))
        if len(ds.findings) >= 3:  # the first problem is the sentence; a million more are not read
            break
    return views


def _name_ok(ds: Dataset, where, name: str) -> bool:
    """An image name that is text (it is written into the new dataset's JSON and names Blender's cameras)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        ds.problem(where, f"has an image name that is not valid UTF-8 text ({shown(name)})")
        return False
    return True


def _rotation_ok(ds: Dataset, path, name: str, c2w: np.ndarray) -> bool:
    """A camera pose: a rotation (to float32 noise, kept as written so a dataset read back keeps its bytes), a
    position Blender's single-precision scene can hold, and ``0 0 0 1`` below; a problem otherwise."""
    rot = c2w[:3, :3]
    with np.errstate(all="ignore"):
        err = float(np.max(np.abs(rot.T @ rot - np.eye(3))))
        det = float(np.linalg.det(rot))
    why = (
        "a last row other than 0 0 0 1"
        if np.max(np.abs(c2w[3] - [0, 0, 0, 1])) > 1e-9
        else "a rotation that is scaled, sheared or mirrored"
        if not (err <= ROTATION_TOLERANCE and det > 0)
        else "a position beyond what Blender can place"
        if np.max(np.abs(c2w[:3, 3])) > MAX_COORDINATE
        else None
    )
    if why:
        ds.problem(path, f"frame {shown(name)} has a transform_matrix with {why}")
    return why is None


def _read_nerf(ds: Dataset):
    views = []
    for split in SPLITS:
        path = ds.folder / f"transforms_{split}.json"
        if present(path) and not ds.findings:  # the first problem is the answer: read no further
            meta = load_json(ds, path)
            if meta is not None:
                views += _frames(ds, path, meta, lambda _name, s=split: s, frame_first=True)
    return views, None, 1.0


def _read_transforms(ds: Dataset, layout: str):
    path = ds.folder / "transforms.json"
    meta = load_json(ds, path)
    if meta is None:
        return [], None, 1.0
    nerfstudio = layout == "nerfstudio"
    splits = _listed_splits(ds, path, meta) if nerfstudio else None
    views = _frames(ds, path, meta, lambda name: (splits or {}).get(_same_name(name), "train"), not nerfstudio)
    if splits and "train_filenames" in meta:  # nerfstudio uses a frame only in the splits that list it
        views = [v for v in views if _same_name(v.name) in splits]
    if not nerfstudio:  # instant-ngp's held-out views, as this tool writes them (``exporters.instant_ngp``)
        for split in ("val", "test"):
            held = ds.folder / "eval" / f"transforms_{split}.json"
            if present(held):
                other = load_json(ds, held)
                if other is not None:
                    views += _frames(ds, held, other, lambda _name, s=split: s, frame_first=True)
    applied, scale = _applied(ds, path, meta) if nerfstudio else (None, 1.0)
    return views, applied, scale


def _same_name(name: str) -> str:
    """A file name as nerfstudio compares them (as paths: ``./images/a.png`` is ``images/a.png``)."""
    return str(PurePosixPath(name.replace(BACKSLASH, "/")))


def _listed_splits(ds: Dataset, path: Path, meta: dict) -> dict[str, str] | None:
    """{name: split} of nerfstudio's ``*_filenames``; None when the file has none. A name in two lists, or one
    no frame has, is a problem: nerfstudio would train on a test view, or stop."""
    frames = {_same_name(f["file_path"]) for f in frames_of(ds, path, meta) if isinstance(f.get("file_path"), str)}
    splits: dict[str, str] = {}
    for split in SPLITS:
        for name in map(_same_name, names_list(ds, path, meta, f"{split}_filenames") or ()):
            if splits.get(name, split) != split:
                ds.problem(path, f"lists {shown(name)} in both {splits[name]}_filenames and {split}_filenames")
            elif name not in frames:
                ds.problem(path, f"{split}_filenames names {shown(name)}, which no frame has")
            splits[name] = split
    return splits or None


def _applied(ds: Dataset, path: Path, meta: dict) -> tuple[np.ndarray | None, float]:
    from .world_transform import similarity

    raw, scale = meta.get("applied_transform"), meta.get("applied_scale", 1.0)
    m = None
    if raw is not None:
        try:
            m = similarity(raw, "its applied_transform").matrix
        except UserError as exc:
            ds.problem(path, str(exc))
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < float("inf"):
        ds.problem(path, f"has applied_scale {shown(scale)}, not a positive number")
        scale = 1.0
    return m, float(scale)


def _read_colmap(ds: Dataset, model_dir: Path):
    try:
        cameras, images = read_model(model_dir, ds.folder)
    except ModelError as exc:
        ds.problem(model_dir, f"holds no readable COLMAP model ({exc})")
        return [], None, 1.0
    ours = bool(images) and all(OUR_COLMAP_NAME.fullmatch(i.name) for i in images.values())
    # 3D Gaussian Splatting's order (by name); ours by split and number, as they were planned
    order = (lambda i: (SPLITS.index(i.name.split("_")[0]), int(i.name[:-4].split("_")[1]))) if ours else None
    views = []
    for image in sorted(images.values(), key=order or (lambda i: i.name)):
        cam = cameras.get(image.camera_id)
        if cam is None:
            ds.problem(model_dir, f"image {shown(image.name)} uses camera {image.camera_id}, which is not in cameras")
            continue
        intr = _colmap_pinhole(ds, model_dir, image.camera_id, cam)
        q, t = np.array(image.qvec, dtype=float), np.array(image.tvec, dtype=float)
        with np.errstate(all="ignore"):
            length = float(np.linalg.norm(q))
        if not (np.isfinite(t).all() and np.max(np.abs(t)) <= MAX_COORDINATE and abs(length - 1.0) <= 1e-4):
            # 3DGS turns an unnormalised quaternion into a matrix that is no rotation; COLMAP normalises it
            ds.problem(model_dir, f"image {shown(image.name)} has no unit quaternion or a translation out of range")
            continue
        if intr is not None and _name_ok(ds, model_dir, image.name):
            c2w = np.linalg.inv(image.w2c()) @ OPENGL_FROM_OPENCV
            split = image.name.split("_")[0] if ours else "train"
            views.append(SourceView(split, image.name, c2w, intr))
    return views, None, 1.0


def _colmap_pinhole(ds: Dataset, where, cam_id: int, cam) -> Intrinsics | None:
    picks = COLMAP_PINHOLE.get(cam.model)
    if picks is None:
        ds.problem(where, f"camera {cam_id} is {shown(cam.model)}: Blender's perspective camera renders pinholes only")
        return None
    fx, fy, cx, cy = (cam.params[i] for i in picks)
    bent = [p for i, p in enumerate(cam.params) if i > max(picks) and p != 0.0]
    if bent:
        ds.problem(
            where,
            f"camera {cam_id} is {cam.model} with lens distortion ({bent[0]:g}): Blender renders undistorted "
            "pinhole images; undistort the model first (COLMAP's image_undistorter)",
        )
        return None
    if not (cam.width > 0 and cam.height > 0 and np.isfinite([fx, fy, cx, cy]).all() and min(fx, fy) > 0):
        ds.problem(where, f"camera {cam_id} has size {cam.width}x{cam.height} and focal lengths {fx:g}, {fy:g}")
        return None
    return Intrinsics(int(cam.width), int(cam.height), float(fx), float(fy), float(cx), float(cy))
