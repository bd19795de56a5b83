"""The views of a dataset on disk, in any of the four layouts this add-on writes, as numpy arrays (no torch).

The cameras come from ``core.source_cameras`` (every layout, every refusal); this module finds each view's
image and pass files the way that layout names them, and reads them as anyone's files are read here
(``core.untrusted``): every name comes from a file that may be hostile, so one that is absolute, has a ``..``
or leads outside the dataset folder is refused before anything is opened, and an image is decoded only after
its header says it has the size its camera promises.

Where the files of a view are:

* NeRF-synthetic: ``file_path`` (``./train/r_0``, with ``.png`` added as its loaders do) beside
  ``transforms_<split>.json``; the passes under ``depth_file_path``, ``normal_file_path``, ``mask_path``.
* instant-ngp: ``file_path`` beside ``transforms.json`` (train) or ``eval/transforms_<split>.json``; depth under
  ``depth_path``, normals and mask beside the image as ``<name>_normal.png`` and ``<name>_mask.png``.
* nerfstudio: ``file_path`` (``images/train_0000.png``) and the same pass keys as NeRF-synthetic
  (``depths/``, ``normals/``, ``masks/``).
* COLMAP: ``images/<name>``, the passes in ``depths/``, ``normals/``, ``masks/`` with the image's name.

A downscale factor k reads the ``images_<k>/`` copies (and ``depths_<k>/``, ``masks_<k>/``; normals have none)
that nerfstudio and COLMAP outputs have; the intrinsics scale by 1/k and the size is ``floor(w / k)``, as
``core.downscale`` makes them.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..core.downscale import downscaled_relpath
from ..core.errors import UserError
from ..core.images import MAX_DECODED_PIXELS
from ..core.passes import DEPTH_PNG_UNIT, PASSES
from ..core.reader_kit import IMAGE_EXTS, Dataset, frames_of, load_json, shown
from ..core.rigs import SPLITS
from ..core.source_cameras import SourceView, _holds_layout, _subfolders, read_source_cameras
from ..core.untrusted import Unreadable, inside, is_dir, open_regular

SPLIT_CHOICES = (*SPLITS, "all")
FORMAT_FOLDERS = ("nerf", "ngp", "nerfstudio", "colmap")
"""The subfolders an output of several formats has (``app.dataset.format_dir``)."""
# Per-frame keys naming a view's pass files (nerfstudio's, and instant-ngp's depth_path), in order of preference.
PASS_FRAME_KEYS = {"depth": ("depth_file_path", "depth_path"), "normal": ("normal_file_path",), "mask": ("mask_path",)}
# Where the passes are without a key: beside an ``images/`` folder (nerfstudio, COLMAP), else beside the image.
PASS_DIRS = {"depth": "depths", "normal": "normals", "mask": "masks"}
DEPTH_UNIT_KEYS = ("depth_png_unit", "integer_depth_scale")
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")


@dataclass(frozen=True)
class ViewFiles:
    """One view of the chosen split: its camera, where its files are, and how to read its depth."""

    view: SourceView
    index: int
    """Position within its split."""
    image: Path
    name: str
    """The image's path relative to the dataset folder (posix)."""
    passes: dict
    """{pass: Path} of the passes this view has."""
    depth_unit: float


class DatasetFiles:
    """The views of one split of the dataset at ``path``: a format folder, one of its files, or an output
    folder holding exactly one format folder. ``split``: "train", "val", "test" or "all"; ``downscale``: 1 or a
    factor the dataset has ``images_<k>/`` copies for. Raises ``UserError`` (one sentence) for a dataset that
    cannot be read as it says."""

    def __init__(self, path, split: str = "train", downscale: int = 1):
        if split not in SPLIT_CHOICES:
            raise ValueError(f"split must be one of {', '.join(SPLIT_CHOICES)}, not {split!r}")
        if isinstance(downscale, bool) or not isinstance(downscale, int) or downscale < 1:
            raise ValueError(f"downscale must be a whole number of at least 1, not {downscale!r}")
        cams = read_source_cameras(_dataset_path(Path(path).expanduser()))
        self.folder: Path = cams.folder
        self.layout: str = cams.layout
        self.split = split
        self.downscale = downscale
        w, h = cams.size
        self.size: tuple[int, int] = (w // downscale, h // downscale)
        if 0 in self.size:
            raise UserError(f"{self.folder} has {w}x{h} images: a downscale of {downscale} leaves no pixels")
        counts = {s: 0 for s in SPLITS}
        numbered = []
        for view in cams.views:
            numbered.append((view, counts[view.split]))
            counts[view.split] += 1
        chosen = [(v, i) for v, i in numbered if split in ("all", v.split)]
        if not chosen:
            has = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no"
            raise UserError(f"{self.folder} has no {split} views ({self.layout} layout with {has} views)")
        chosen.sort(key=lambda vi: SPLITS.index(vi[0].split))  # stable: "all" is train, val, test in file order
        metas = _Metas(self.folder, self.layout)
        self.views: list[ViewFiles] = [self._files(metas, v, i) for v, i in chosen]

    def __len__(self) -> int:
        return len(self.views)

    def __repr__(self) -> str:
        scaled = f", downscale={self.downscale}" if self.downscale > 1 else ""
        return (
            f"{type(self).__name__}(path='{self.folder}', layout='{self.layout}', split='{self.split}', "
            f"count={len(self)}{scaled})"
        )

    def K(self, i: int) -> np.ndarray:
        """The pinhole matrix of view ``i`` at this downscale (focal lengths and principal point over k)."""
        intr, k = self.views[self._position(i)].view.intrinsics, self.downscale
        return np.array([[intr.fl_x / k, 0.0, intr.cx / k], [0.0, intr.fl_y / k, intr.cy / k], [0.0, 0.0, 1.0]])

    def frame(self, i: int) -> dict:
        """View ``i`` as plain numpy arrays: image (H, W, 3 or 4) float32 in [0, 1], c2w (4, 4) OpenGL camera
        axes, K (3, 3), width, height, split, index, name, and the passes it has: depth (H, W) float32 z-depth
        in scene units (0: no surface), normal (H, W, 3) float32 in [-1, 1] (0: no surface), mask (H, W) bool."""
        files = self.views[self._position(i)]
        w, h = self.size
        out = {
            "image": _read(files.image, self.folder, self.size, _color),
            "c2w": np.array(files.view.c2w, dtype=np.float64),
            "K": self.K(i),
            "width": w,
            "height": h,
            "split": files.view.split,
            "index": files.index,
            "name": files.name,
        }
        for name, path in files.passes.items():
            if name == "depth":
                counts = _read(path, self.folder, self.size, _depth_counts)
                out["depth"] = (counts * files.depth_unit).astype(np.float32)
            else:
                out[name] = _read(path, self.folder, self.size, _normal if name == "normal" else _mask)
        return out

    def _position(self, i: int) -> int:
        n = len(self.views)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"a view index is an integer, not {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"view {i} of {n}")
        return int(i) % n

    def _files(self, metas: _Metas, view: SourceView, index: int) -> ViewFiles:
        json_path, frame, unit = metas.of(view)
        base = json_path.parent if json_path is not None else self.folder / "images"
        where = json_path or self.folder / "sparse"
        image = _existing_image(self.folder, where, _relative(self.folder, where, base, view.name, "image name"))
        rel = PurePosixPath(image.relative_to(self.folder).as_posix())
        passes = {}
        for name in PASSES:
            key = next((k for k in PASS_FRAME_KEYS[name] if k in frame), None)
            if key is not None:
                path = _relative(self.folder, where, base, frame[key], key)
                if not _regular(path):
                    raise UserError(f"{where}: {key} {shown(frame[key])} of {shown(view.name)} is missing")
            else:
                path = self.folder / _pass_relpath(rel, name)
                if not _regular(path):
                    continue
            passes[name] = path
        if self.downscale > 1:
            k = self.downscale
            small = self.folder / downscaled_relpath(rel, k)
            if not _regular(small):
                raise UserError(
                    f"{self.folder} has no images downscaled by {k} ({downscaled_relpath(rel, k)} is missing): "
                    f"{_factors_said(self.folder, rel)}"
                )
            image, rel = small, downscaled_relpath(rel, k)
            passes = {  # normals have no downscaled copies: a pass without one is left out
                name: self.folder / downscaled_relpath(PurePosixPath(p.relative_to(self.folder).as_posix()), k)
                for name, p in passes.items()
            }
            passes = {name: p for name, p in passes.items() if _regular(p)}
        for path in (image, *passes.values()):
            if not inside(self.folder, path):
                raise UserError(f"{path} leads outside the dataset folder {self.folder}: not read")
        return ViewFiles(view, index, image, rel.as_posix(), passes, unit)


class _Metas:
    """The transforms files of a JSON layout: each view's file, frame object and depth PNG unit."""

    def __init__(self, folder: Path, layout: str):
        self.folder, self.layout = folder, layout
        self._loaded: dict[Path, tuple[dict, float]] = {}

    def json_of(self, split: str) -> Path | None:
        if self.layout == "nerf":
            return self.folder / f"transforms_{split}.json"
        if self.layout == "ngp":
            return self.folder / ("transforms.json" if split == "train" else f"eval/transforms_{split}.json")
        if self.layout == "nerfstudio":
            return self.folder / "transforms.json"
        return None  # COLMAP: the model names the images only

    def of(self, view: SourceView) -> tuple[Path | None, dict, float]:
        path = self.json_of(view.split)
        if path is None:
            return None, {}, DEPTH_PNG_UNIT
        if path not in self._loaded:
            self._loaded[path] = self._load(path)
        frames, unit = self._loaded[path]
        return path, frames.get(view.name, {}), unit

    def _load(self, path: Path) -> tuple[dict, float]:
        ds = Dataset(self.folder)
        meta = load_json(ds, path)
        frames = frames_of(ds, path, meta) if meta is not None else []
        if ds.findings:
            raise UserError(f"{ds.findings[0].where} {ds.findings[0].message}")
        by_name: dict = {}
        for frame in frames:
            if isinstance(frame.get("file_path"), str):
                by_name.setdefault(frame["file_path"], frame)
        key = next((k for k in DEPTH_UNIT_KEYS if k in meta), None)
        unit = meta[key] if key else DEPTH_PNG_UNIT
        if isinstance(unit, bool) or not isinstance(unit, (int, float)) or not 0 < unit < float("inf"):
            raise UserError(f"{path}: {key} is {shown(unit)}, not a positive number of scene units per count")
        return by_name, float(unit)


def _dataset_path(path: Path) -> Path:
    """The format folder: ``path`` itself, or the one format folder of an output folder (``OUT/nerf``...). With
    several, ``read_source_cameras`` refuses the output folder and names them."""
    if not is_dir(path) or _holds_layout(path):
        return path
    inner = [p for p in _subfolders(path) if p.name in FORMAT_FOLDERS and _holds_layout(p)]
    return inner[0] if len(inner) == 1 else path


def _relative(folder: Path, where: Path, base: Path, name, what: str) -> Path:
    """``base / name`` for a name from a file: relative, without ``..``, inside the dataset folder."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise UserError(f"{where}: {what} {shown(name)} is not a file name")
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match("[A-Za-z]:", posix):
        raise UserError(f"{where}: {what} {shown(name)} is absolute; a dataset names its files relative to itself")
    if ".." in posix.split("/"):
        raise UserError(f"{where}: {what} {shown(name)} has '..'; a dataset names only files inside itself")
    path = base / posix
    if not inside(folder, path):
        raise UserError(f"{where}: {what} {shown(name)} leads outside the dataset folder: not read")
    return path


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _existing_image(folder: Path, where: Path, path: Path) -> Path:
    """The image as named, or with an image extension added (NeRF-synthetic names ``./train/r_0``)."""
    exts = [".png", *sorted(IMAGE_EXTS - {".png"})]
    for candidate in [path, *(path.with_name(path.name + e) for e in exts)]:
        if _regular(candidate):
            return candidate
    raise UserError(f"{where}: the image {shown(str(path.relative_to(folder)))} is missing")


def _pass_relpath(image: PurePosixPath, name: str) -> PurePosixPath:
    """Where this add-on puts a pass without a key naming it: ``depths/<name>.png`` for an image in ``images/``
    (nerfstudio, COLMAP), else ``<name>_depth.png`` beside the image (NeRF-synthetic, instant-ngp)."""
    if len(image.parts) > 1 and image.parts[0] == "images":
        return PurePosixPath(PASS_DIRS[name], *image.parts[1:]).with_suffix(".png")
    return image.with_name(f"{image.stem}_{name}.png")


def _factors_said(folder: Path, image: PurePosixPath) -> str:
    """Which downscale factors the dataset has, in words."""
    top = image.parts[0] if len(image.parts) > 1 else None
    found = []
    if top is not None:
        pattern = re.compile(re.escape(top) + r"_(\d{1,6})")
        found = sorted(int(m.group(1)) for p in _subfolders(folder) if (m := pattern.fullmatch(p.name)))
    if found:
        return f"it has them for {', '.join(map(str, found))}"
    return "it has no downscaled copies (only the nerfstudio and colmap outputs of --downscales have them)"


@contextmanager
def _image(path: Path, folder: Path, size: tuple[int, int]):
    """The open Pillow image of a regular file inside ``folder`` whose header says it is ``size``; anything
    else, or anything Pillow raises, a ``UserError`` naming the file."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # decompression bombs, palettes: not for the user's terminal
        try:
            with open_regular(path, folder) as f, Image.open(f, formats=PILLOW_FORMATS) as image:
                if image.size != tuple(size):
                    w, h = image.size
                    raise UserError(f"{path} is {w}x{h} pixels, but its camera says {size[0]}x{size[1]}")
                if image.size[0] * image.size[1] > MAX_DECODED_PIXELS:
                    raise UserError(f"{path} has more pixels than are decoded ({MAX_DECODED_PIXELS})")
                yield image
        except UserError:
            raise
        except Unreadable as exc:
            raise UserError(f"{path} {exc}") from None
        except Exception:  # noqa: BLE001 - Pillow has no one exception for a damaged or hostile file
            raise UserError(f"{path} is not a readable image") from None


def _read(path: Path, folder: Path, size: tuple[int, int], convert):
    with _image(path, folder, size) as image:
        return convert(image, path)


def _color(image, path: Path) -> np.ndarray:
    """(H, W, 3 or 4) float32 in [0, 1]: four channels when the file has alpha."""
    if image.mode in SIXTEEN_BIT_MODES:
        grey = np.clip(np.asarray(image, dtype=np.float32) / 65535.0, 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=-1)
    alpha = "A" in image.mode or "transparency" in image.info
    return np.asarray(image.convert("RGBA" if alpha else "RGB"), dtype=np.float32) / 255.0


def _depth_counts(image, path: Path) -> np.ndarray:
    if image.mode not in (*SIXTEEN_BIT_MODES, "L"):
        raise UserError(f"{path} is a {image.mode} image, not a grey depth image of 16-bit counts")
    return np.asarray(image, dtype=np.float64)


def _normal(image, path: Path) -> np.ndarray:
    """(n + 1) / 2 in 8 bits back to n in [-1, 1]; black (no surface) is 0."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    n = rgb / 127.5 - 1.0
    n[~np.any(rgb != 0, axis=-1)] = 0.0
    return n


def _mask(image, path: Path) -> np.ndarray:
    return np.asarray(image.convert("L")) > 127
