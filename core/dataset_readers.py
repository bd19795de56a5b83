"""Read any dataset folder the way its consumers do, collecting cameras and the traps they would hit.

Each reader follows its consumer's rules (prior-art (c)): NeRF-synthetic loaders append ``.png`` to
``file_path``; nerfstudio opens ``file_path`` as written and needs ``fl_x``; instant-ngp loads every
``*.json`` with frames in a folder; 3D Gaussian Splatting picks COLMAP whenever ``sparse/`` exists and
accepts only (SIMPLE_)PINHOLE cameras. ``core.validate`` runs the checks common to all of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .colmap_model import read_model
from .images import image_size

# Camera axes: OpenCV (+Y down, +Z forward) to OpenGL (+Y up, looking down -Z), either way round.
OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])
NERF_SPLITS = ("train", "val", "test")
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".exr", ".bmp", ".tif", ".tiff"}
NERFSTUDIO_ONLY_KEYS = {"camera_model", "train_filenames", "val_filenames", "test_filenames", "applied_transform"}


@dataclass
class Camera:
    """One view as a consumer reads it: OpenGL camera-to-world, pinhole K, where its pixels are."""

    label: str
    split: str
    image: Path
    c2w: np.ndarray
    K: np.ndarray | None
    size: tuple[int, int] | None
    """(w, h) the metadata promises, when it says."""
    mask: Path | None = None


@dataclass
class Finding:
    where: str
    message: str
    problem: bool = True
    """False: a note (the data is right, but some consumer will read it wrongly)."""


@dataclass
class Dataset:
    folder: Path
    formats: list[str] = field(default_factory=list)
    cameras: list[Camera] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def problem(self, where, message: str) -> None:
        self._add(Finding(self._rel(where), message))

    def note(self, where, message: str) -> None:
        self._add(Finding(self._rel(where), message, problem=False))

    def _add(self, finding: Finding) -> None:
        if finding not in self.findings:  # e.g. per-frame keys repeating one mistake
            self.findings.append(finding)

    def _rel(self, where) -> str:
        try:
            return str(Path(where).relative_to(self.folder.parent))
        except ValueError:
            return str(where)


def _load_json(ds: Dataset, path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        ds.problem(path, f"is not readable JSON ({exc})")
        return None
    if not isinstance(data, dict):
        ds.problem(path, "is not a JSON object")
        return None
    return data


def _intrinsics(
    ds: Dataset, path: Path, meta: dict, need_fl: bool, image_size=None
) -> tuple[np.ndarray | None, tuple | None]:
    """K and the (w, h) the keys promise, as instant-ngp and nerfstudio read them; without w and h, K comes
    from ``image_size`` (the images' own size, as NeRF-synthetic loaders do)."""
    w, h = meta.get("w"), meta.get("h")
    for key, value in (("w", w), ("h", h)):
        if value is not None and not isinstance(value, int):
            ds.problem(path, f"'{key}' is {value!r}, not an integer: strict parsers reject it")
    promised = (int(w), int(h)) if isinstance(w, (int, float)) and isinstance(h, (int, float)) else None
    size = promised or (tuple(image_size) if image_size else None)
    if "fl_x" in meta:
        fx = float(meta["fl_x"])
        fy = float(meta.get("fl_y", fx))
    elif "camera_angle_x" in meta and size:
        if need_fl:
            ds.problem(path, "gives camera_angle_x but no fl_x/fl_y: nerfstudio's dataparser rejects it")
        fx = 0.5 * size[0] / np.tan(0.5 * float(meta["camera_angle_x"]))
        fy = 0.5 * size[1] / np.tan(0.5 * float(meta["camera_angle_y"])) if "camera_angle_y" in meta else fx
    else:
        if need_fl:
            ds.problem(path, "has no fl_x/fl_y: nerfstudio's dataparser rejects it")
        return None, size
    if size is None:
        return None, None
    cx, cy = float(meta.get("cx", size[0] / 2)), float(meta.get("cy", size[1] / 2))
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), promised


def _c2w(ds: Dataset, path: Path, frame: dict) -> np.ndarray | None:
    try:
        m = np.array(frame["transform_matrix"], dtype=float)
    except (KeyError, TypeError, ValueError):
        ds.problem(path, f"frame '{frame.get('file_path')}' has no 4x4 transform_matrix")
        return None
    if m.shape == (3, 4):
        m = np.vstack([m, [0, 0, 0, 1]])
    if m.shape != (4, 4) or not np.isfinite(m).all():
        ds.problem(path, f"frame '{frame.get('file_path')}' has no 4x4 transform_matrix")
        return None
    return m


def read_nerf(ds: Dataset) -> None:
    folder = ds.folder
    ds.formats.append("nerf")
    for split in NERF_SPLITS:
        path = folder / f"transforms_{split}.json"
        if not path.is_file():
            who = {"train": "every loader", "val": "nerfstudio's blender-data (it reads val while training)"}
            ds.problem(path, f"is missing: {who.get(split, '3D Gaussian Splatting')} needs it")
            continue
        meta = _load_json(ds, path)
        if meta is None:
            continue
        if "camera_angle_x" not in meta:
            ds.problem(path, "has no camera_angle_x: 3D Gaussian Splatting and blender-data read only that")
        frames = meta.get("frames") or []
        first = folder / (str(frames[0].get("file_path", "")).replace("\\", "/") + ".png") if frames else None
        found = image_size(first) if first else None
        K, size = _intrinsics(ds, path, meta, need_fl=False, image_size=found)
        if K is not None and _off_centre(K, size or found):
            ds.note(
                path,
                "off-centre principal point or non-square pixels: 3DGS's Blender loader and nerfstudio's "
                "blender-data ignore cx, cy, fl_y (use the nerfstudio or colmap output for them)",
            )
        for frame in frames:
            fp = str(frame.get("file_path", ""))
            if "\\" in fp:
                ds.problem(path, f"file_path '{fp}' has backslashes: only instant-ngp rewrites them")
            if Path(fp).suffix.lower() in IMAGE_EXTS:
                ds.problem(path, f"file_path '{fp}' has an extension: 3DGS and blender-data open '{fp}.png'")
            image = folder / (fp.replace("\\", "/") + ".png")
            c2w = _c2w(ds, path, frame)
            mask = frame.get("mask_path")
            if c2w is not None:
                label = f"{folder.name}/{fp.lstrip('./')}"
                ds.cameras.append(Camera(label, split, image, c2w, K, size, folder / mask if mask else None))


def _off_centre(K: np.ndarray, size: tuple[int, int]) -> bool:
    return abs(K[0, 2] - size[0] / 2) > 1e-3 or abs(K[1, 2] - size[1] / 2) > 1e-3 or abs(K[0, 0] - K[1, 1]) > 1e-3


def read_transforms_json(ds: Dataset) -> None:
    """``transforms.json``: nerfstudio's when it has nerfstudio's keys, else instant-ngp's."""
    path = ds.folder / "transforms.json"
    meta = _load_json(ds, path)
    if meta is None:
        return
    nerfstudio = bool(NERFSTUDIO_ONLY_KEYS & meta.keys())
    ds.formats.append("nerfstudio" if nerfstudio else "ngp")
    frames = meta.get("frames") or []
    per_frame = bool(frames) and all("fl_x" in f for f in frames)  # both readers take intrinsics per frame too
    K, size = _intrinsics(ds, path, meta, need_fl=nerfstudio and not per_frame)
    if nerfstudio and meta.get("camera_model", "OPENCV") not in ("PINHOLE", "OPENCV", "SIMPLE_PINHOLE"):
        ds.note(path, f"camera_model {meta['camera_model']}: the silhouette check assumes no distortion")
    names = {str(f.get("file_path")) for f in frames}
    splits = {}
    for split in NERF_SPLITS:
        listed = meta.get(f"{split}_filenames")
        if listed is None:
            continue
        unknown = [n for n in listed if n not in names]
        if unknown:
            ds.problem(path, f"{split}_filenames names {len(unknown)} files no frame has, e.g. '{unknown[0]}'")
        splits.update(dict.fromkeys(listed, split))
    for key in ("mask_path", "depth_file_path"):
        have = sum(key in f for f in frames)
        if 0 < have < len(frames):
            ds.problem(path, f"{have} of {len(frames)} frames have {key}: nerfstudio needs all or none")
    for frame in frames:
        fp = str(frame.get("file_path", ""))
        if "\\" in fp:
            ds.problem(path, f"file_path '{fp}' has backslashes: only instant-ngp rewrites them")
        image = ds.folder / fp.replace("\\", "/")
        if not nerfstudio and not image.exists() and not Path(fp).suffix:
            image = next((image.with_suffix(e) for e in IMAGE_EXTS if image.with_suffix(e).exists()), image)
        elif nerfstudio and not Path(fp).suffix:
            ds.problem(path, f"file_path '{fp}' has no extension: nerfstudio opens it as written")
        c2w = _c2w(ds, path, frame)
        mask = frame.get("mask_path")
        own = _intrinsics(ds, path, {**meta, **frame}, need_fl=False) if "fl_x" in frame else (K, size)
        if c2w is not None:
            split = splits.get(fp, "train")
            label = f"{ds.folder.name}/{fp}"
            ds.cameras.append(Camera(label, split, image, c2w, *own, ds.folder / mask if mask else None))
    eval_dir = ds.folder / "eval"
    if not nerfstudio and eval_dir.is_dir():
        for split in ("val", "test"):
            if (eval_dir / f"transforms_{split}.json").is_file():
                _read_ngp_eval(ds, eval_dir / f"transforms_{split}.json", split)


def _read_ngp_eval(ds: Dataset, path: Path, split: str) -> None:
    meta = _load_json(ds, path)
    if meta is None:
        return
    K, size = _intrinsics(ds, path, meta, need_fl=False)
    for frame in meta.get("frames") or []:
        fp = str(frame.get("file_path", ""))
        c2w = _c2w(ds, path, frame)
        if c2w is not None:
            label = f"{ds.folder.name}/eval/{fp}"
            ds.cameras.append(Camera(label, split, path.parent / fp, c2w, K, size))


def read_colmap(ds: Dataset) -> None:
    ds.formats.append("colmap")
    sparse = ds.folder / "sparse" / "0"
    if not sparse.is_dir():
        sparse = ds.folder / "sparse"
    try:
        cameras, images = read_model(sparse)
    except (OSError, ValueError, IndexError, KeyError) as exc:
        ds.problem(sparse, f"holds no readable COLMAP model ({type(exc).__name__}: {exc})")
        return
    for cam_id, cam in cameras.items():
        if cam.model not in ("PINHOLE", "SIMPLE_PINHOLE"):
            ds.problem(sparse, f"camera {cam_id} is {cam.model}: 3D Gaussian Splatting accepts only PINHOLE")
    for _, image in sorted(images.items()):
        cam = cameras.get(image.camera_id)
        if cam is None:
            ds.problem(sparse, f"image {image.name} uses camera {image.camera_id}, which is not in cameras")
            continue
        if abs(np.linalg.norm(image.qvec) - 1.0) > 1e-6:
            ds.problem(sparse, f"image {image.name} has a quaternion of length {np.linalg.norm(image.qvec):.6f}")
        c2w = np.linalg.inv(image.w2c()) @ OPENCV_TO_OPENGL
        label = f"{ds.folder.name}/images/{image.name}"
        split = image.name.split("_")[0] if image.name.split("_")[0] in NERF_SPLITS else "train"
        ds.cameras.append(
            Camera(label, split, ds.folder / "images" / image.name, c2w, cam.K(), (cam.width, cam.height))
        )
