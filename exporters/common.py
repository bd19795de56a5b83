"""Pieces the writers share (intrinsics keys, matrix rows) and the reader of ``transforms.json``, which
instant-ngp and nerfstudio both name their file."""

from __future__ import annotations

from pathlib import Path

from ..core.camera import Intrinsics
from ..core.passes import DEPTH_KIND, DEPTH_PNG_UNIT
from ..core.plan import Plan
from ..core.reader_kit import (
    IMAGE_EXTS,
    Camera,
    Dataset,
    c2w_of,
    frame_files,
    frames_of,
    intrinsics,
    load_json,
    names_list,
    shown,
)
from ..core.rigs import SPLITS
from ..core.untrusted import is_dir, present


def intrinsics_keys(intr: Intrinsics) -> dict:
    """The keys instant-ngp, nerfstudio and torch-ngp read; ``w``/``h`` are integers as strict parsers want."""
    return {
        "camera_angle_x": intr.camera_angle_x,
        "camera_angle_y": intr.camera_angle_y,
        "fl_x": intr.fl_x,
        "fl_y": intr.fl_y,
        "cx": intr.cx,
        "cy": intr.cy,
        "w": int(intr.w),
        "h": int(intr.h),
    }


# What a frame holds of its own intrinsics, where the plan's views differ; the header keeps only w and h, so
# a reader that knows no per-frame intrinsics fails loudly instead of training every view with one lens.
# nerfstudio reads fl_x, fl_y, cx, cy per frame when the header lacks them; instant-ngp reads them per frame
# too, but divides a frame's cx, cy by that frame's w, h (src/nerf_loader.cu, read_lens).
FRAME_INTRINSICS = ("fl_x", "fl_y", "cx", "cy")


def header_intrinsics(plan: Plan, keys=None) -> dict:
    """The intrinsics keys for a file's header: all of them, or only w and h when every view has its own."""
    intr = intrinsics_keys(plan.intrinsics)
    keys = keys or intr.keys()
    return {k: intr[k] for k in keys if k in ("w", "h") or not plan.per_view_intrinsics}


def frame_intrinsics(plan: Plan, view, keys=FRAME_INTRINSICS) -> dict:
    """``keys`` of ``view``'s own intrinsics, where the plan's views differ; nothing otherwise."""
    if not plan.per_view_intrinsics:
        return {}
    intr = intrinsics_keys(plan.intrinsics_of(view))
    return {k: intr[k] for k in keys}


# Per-frame keys of the pass files: nerfstudio's names, used by the NeRF-synthetic output too.
PASS_KEYS = {"depth": "depth_file_path", "normal": "normal_file_path", "mask": "mask_path"}


def depth_keys(plan: Plan) -> dict:
    """What the depth files hold, for readers and people: kind, unit and the PNG's unit per count."""
    if "depth" not in plan.settings.passes:
        return {}
    return {"depth_kind": DEPTH_KIND, "depth_unit": plan.scene.unit, "depth_png_unit": DEPTH_PNG_UNIT}


def source_keys(view) -> dict:
    """The name a re-rendered view's image has in the dataset its camera came from (``--cameras-from``); no
    consumer reads the key, so nothing changes for them."""
    return {"source_image": view.source_name} if view.source_name is not None else {}


def matrix_rows(c2w) -> list[list[float]]:
    return [list(row) for row in c2w]


def read_transforms(ds: Dataset, nerfstudio: bool) -> None:
    """``transforms.json`` as nerfstudio's dataparser reads it, or (``nerfstudio`` False) as instant-ngp does."""
    path = ds.folder / "transforms.json"
    ds.formats.append("nerfstudio" if nerfstudio else "ngp")
    meta = load_json(ds, path)
    if meta is None:
        return
    frames = frames_of(ds, path, meta)
    per_frame = bool(frames) and all("fl_x" in f for f in frames)  # both readers take intrinsics per frame too
    K, size = intrinsics(ds, path, meta, need_fl=nerfstudio and not per_frame)
    model = meta.get("camera_model", "OPENCV")
    if nerfstudio and model not in ("PINHOLE", "OPENCV", "SIMPLE_PINHOLE"):
        ds.note(path, f"camera_model {shown(model)}: the silhouette check assumes no distortion")
    names = {f.get("file_path") for f in frames if isinstance(f.get("file_path"), str)}
    splits = {}
    for split in SPLITS:
        listed = names_list(ds, path, meta, f"{split}_filenames")
        if listed is None:
            continue
        unknown = [n for n in listed if n not in names]
        if unknown:
            ds.problem(path, f"{split}_filenames names {len(unknown)} files no frame has, e.g. {shown(unknown[0])}")
        splits.update(dict.fromkeys(listed, split))
    if nerfstudio and any("fl_x" in f for f in frames):  # its dataparser takes what the header lacks per frame
        for key in (k for k in (*FRAME_INTRINSICS, "w", "h") if k not in meta):
            lacking = sum(key not in f for f in frames)
            if lacking:
                ds.problem(path, f"{key} is in neither the header nor {lacking} frames: nerfstudio needs it")
    if nerfstudio:  # a frame's own value under a header key is never read: that view trains with the header's
        for key in (k for k in FRAME_INTRINSICS if k in meta):
            differing = sum(key in f and f[key] != meta[key] for f in frames)
            if differing:
                ds.problem(
                    path, f"{differing} frames have their own {key}, which nerfstudio ignores: the header has one"
                )
    elif frames and not any(k in meta for k in ("fl_x", "camera_angle_x")):
        lacking = sum(not any(k in f for k in ("fl_x", "camera_angle_x")) for f in frames)
        if lacking:  # instant-ngp throws "Couldn't read fov." (nerf_loader.cu): the header nor the frame has one
            ds.problem(path, f"{lacking} frames have no fl_x (nor camera_angle_x), and neither has the header")
    for key in ("mask_path", "depth_file_path"):
        have = sum(key in f for f in frames)
        if 0 < have < len(frames):
            ds.problem(path, f"{have} of {len(frames)} frames have {key}: nerfstudio needs all or none")
    for frame in frames:
        c2w = c2w_of(ds, path, frame)
        files = frame_files(ds, path, frame)
        if files is None:
            continue
        fp, image = files.file_path, files.image
        if "\\" in fp:
            ds.problem(path, f"file_path {shown(fp)} has backslashes: only instant-ngp rewrites them")
        if not nerfstudio and not present(image) and not Path(fp).suffix:
            image = next((image.with_suffix(e) for e in IMAGE_EXTS if present(image.with_suffix(e))), image)
        elif nerfstudio and not Path(fp).suffix:
            ds.problem(path, f"file_path {shown(fp)} has no extension: nerfstudio opens it as written")
        own = _frame_camera(ds, path, meta, frame, nerfstudio) if "fl_x" in frame else (K, size)
        if c2w is not None:
            split = splits.get(fp, "train")
            label = f"{ds.folder.name}/{fp}"
            ds.cameras.append(Camera(label, split, image, c2w, *own, files.mask))
    eval_dir = ds.folder / "eval"
    if not nerfstudio and is_dir(eval_dir):  # instant-ngp's held-out views (``exporters.instant_ngp``)
        for split in ("val", "test"):
            if present(eval_dir / f"transforms_{split}.json"):
                _read_ngp_eval(ds, eval_dir / f"transforms_{split}.json", split)


def _frame_camera(ds: Dataset, path: Path, meta: dict, frame: dict, nerfstudio: bool):
    """A frame's own K and size: nerfstudio takes a key from the header when the header has it, instant-ngp
    lets the frame's override the header's."""
    return intrinsics(ds, path, {**frame, **meta} if nerfstudio else {**meta, **frame}, need_fl=False)


def _read_ngp_eval(ds: Dataset, path: Path, split: str) -> None:
    meta = load_json(ds, path)
    if meta is None:
        return
    K, size = intrinsics(ds, path, meta, need_fl=False)
    for frame in frames_of(ds, path, meta):
        c2w = c2w_of(ds, path, frame)
        files = frame_files(ds, path, frame)
        if c2w is not None and files is not None:
            own = _frame_camera(ds, path, meta, frame, nerfstudio=False) if "fl_x" in frame else (K, size)
            label = f"{ds.folder.name}/eval/{files.file_path}"
            ds.cameras.append(Camera(label, split, files.image, c2w, *own))
