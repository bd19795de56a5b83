"""``cli.py validate DIR``: check a dataset (ours or anyone's) against every consumer trap (prior-art c7).

Structural checks need no Blender: mixed formats in one folder, extensions in paths, missing or
pose-only splits, integer w/h, COLMAP camera models, missing or wrongly sized images, rotations that
are not rotations, and views repeated across splits. Given the scene's mesh, ``reproject`` also
projects it with every exported camera and compares the silhouette with the image's alpha (or mask).
The files may come from anyone: they are read through ``core.untrusted`` and ``core.reader_kit``, which
turn whatever is wrong with them into findings.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..core.errors import UserError
from ..core.images import exr_complete, png_complete, read_channel, read_image_size
from ..core.layout import PLAN_FILE
from ..core.preview import PREVIEW_FILE
from ..core.reader_kit import SHOWN, Camera, Dataset
from ..core.rigs import SPLITS
from ..core.silhouette import compare, dilate, project
from ..core.text import one_line
from ..core.untrusted import Unreadable, inside, is_dir, present, read_bounded
from ..exporters import FORMATS

KNOWN_JSON = {f"transforms_{s}.json" for s in SPLITS} | {"transforms.json"}
# A view fails when more than this share of its silhouette is wrong farther than one pixel from the
# alpha's edge (anti-aliasing and sampling noise stay inside that band at any image size), or when
# the silhouettes' centroids are this far apart.
MAX_WRONG_SHARE = 0.02
MAX_CENTROID_PX = 0.5
ORTHONORMAL_TOL = 1e-4


def _markers(folder: Path) -> bool:
    return any(f.claims(folder) for f in FORMATS.values())


def dataset_folders(root: Path) -> list[Path]:
    """``root`` if it is a dataset, else its subfolders that are (one per format, as we write several); not
    those that are links to elsewhere, which would take validate outside the folder it was given."""
    root = Path(root)
    if _markers(root):
        return [root]
    try:
        entries = sorted(root.iterdir()) if is_dir(root) else []
    except OSError:  # a folder we may not list holds no dataset we can check
        return []
    return [p for p in entries if is_dir(p) and inside(root, p) and _markers(p)]


def check_folder(folder: Path) -> Dataset:
    ds = Dataset(Path(folder))
    found = [f for f in FORMATS.values() if f.claims(ds.folder)]
    names = {f.name for f in found}
    has_nerf, has_transforms, has_sparse = "nerf" in names, bool({"ngp", "nerfstudio"} & names), "colmap" in names
    if has_sparse and has_nerf:
        ds.problem(ds.folder, "holds sparse/ and transforms_*.json: 3D Gaussian Splatting silently picks COLMAP")
    if has_transforms and has_nerf:
        ds.problem(
            ds.folder,
            "holds transforms.json and transforms_*.json: torch-ngp picks its colmap mode, instant-ngp merges both",
        )
    for extra in sorted(ds.folder.glob("*.json")):
        if extra.name in KNOWN_JSON:
            continue
        try:
            text = read_bounded(extra, ds.folder)
        except Unreadable as exc:  # instant-ngp given the folder would open it too
            ds.problem(extra, str(exc))
            continue
        if b'"frames"' in text:
            ds.problem(extra, "has frames beside the dataset's own JSON: instant-ngp given the folder merges them")
    for fmt in found:
        fmt.read(ds)
    _check_images(ds)
    _check_rotations(ds)
    _check_repeats(ds)
    return ds


def _check_images(ds: Dataset) -> None:
    by_split: dict[str, list[Camera]] = defaultdict(list)
    for cam in ds.cameras:
        by_split[(cam.label.split("/")[0], cam.split)].append(cam)
    for (_, split), cams in sorted(by_split.items()):
        missing = [c for c in cams if not present(c.image)]
        if missing and len(missing) == len(cams):
            ds.problem(
                missing[0].image.parent,
                f"the {split} split has poses but none of its {len(cams)} images (pose-only): "
                "instant-ngp throws, 3DGS --eval and blender-data fail",
            )
            continue
        if missing:
            more = f", and {len(missing) - 1} more images of the {split} split" if len(missing) > 1 else ""
            ds.problem(missing[0].image, f"is missing{more}")
        for cam in cams:
            if cam in missing:
                continue
            try:
                size = read_image_size(cam.image, ds.folder)
            except Unreadable as exc:
                ds.problem(cam.image, str(exc))
                continue
            if cam.size and tuple(size) != tuple(cam.size):
                ds.problem(cam.image, f"is {size[0]}x{size[1]}, but its metadata says {cam.size[0]}x{cam.size[1]}")


def check_masks(ds: Dataset, limit: int | None = None) -> None:
    """Masks that exist, match their image's size and, where the image has alpha, agree with it (a mask of
    the wrong object, or of nothing, passes every other check)."""
    cams = [c for c in ds.cameras if c.mask is not None and present(c.image)]
    if limit is not None and len(cams) > limit:
        cams = [cams[int(i)] for i in np.linspace(0, len(cams) - 1, limit)]
    for cam in cams:
        if not present(cam.mask):
            ds.problem(cam.mask, "is missing: nerfstudio needs a mask for every frame or none")
            continue
        mask, image = _channel(ds, cam.mask), _channel(ds, cam.image, alpha=True)
        if mask is None or image is None:
            continue
        (mask_size, grey), (size, alpha) = mask, image
        if mask_size != size:
            ds.problem(cam.mask, f"is {mask_size[0]}x{mask_size[1]}, but its image is {size[0]}x{size[1]}")
            continue
        if alpha is None:
            continue
        mask, seen = grey >= 128, alpha >= 128
        wrong = (mask != seen) & ~(dilate(seen) & dilate(~seen))
        share = wrong.sum() / max(seen.sum(), 1)
        if share > MAX_WRONG_SHARE:
            ds.problem(cam.mask, f"disagrees with its image's alpha on {share:.0%} of the object, beyond its edge")


def _check_rotations(ds: Dataset) -> None:
    for cam in ds.cameras:
        r = cam.c2w[:3, :3]
        err = float(np.abs(r.T @ r - np.eye(3)).max())
        if err > ORTHONORMAL_TOL or np.linalg.det(r) < 0:
            what = "a reflection" if err <= ORTHONORMAL_TOL else f"not orthonormal (off by {err:.2g})"
            ds.problem(cam.image, f"has a camera rotation that is {what}")
        elif not np.allclose(cam.c2w[3], [0, 0, 0, 1]):
            ds.problem(cam.image, "has a transform_matrix whose last row is not 0 0 0 1")


def _check_repeats(ds: Dataset) -> None:
    seen: dict[tuple, Camera] = {}
    for cam in ds.cameras:
        key = (cam.label.split("/")[0], tuple(np.round(cam.c2w[:3], 6).ravel()))
        first = seen.setdefault(key, cam)
        if first is not cam and first.split != cam.split:
            ds.problem(
                cam.image, f"repeats the pose of {first.label} ({first.split}): held-out views leak into training"
            )
        same_file = first is not cam and first.image == cam.image
        if same_file and first.split != cam.split:
            ds.problem(cam.image, f"is used by both the {first.split} and {cam.split} splits")


@dataclass
class ViewScore:
    label: str
    iou: float
    centroid_px: float
    wrong_share: float


def _channel(ds: Dataset, path: Path, alpha: bool = False):
    """``core.images.read_channel`` of a dataset's file; None, and a problem, when it can't be read."""
    try:
        return read_channel(path, ds.folder, alpha)
    except Unreadable as exc:
        ds.problem(path, str(exc))
        return None


def reproject(ds: Dataset, vertices: np.ndarray, triangles: np.ndarray, limit: int | None = None) -> list[ViewScore]:
    """Silhouette of the mesh through each camera vs the image's alpha (or mask); problems for bad views.

    ``limit`` checks only that many views, spread evenly (``render`` checks a sample, ``validate`` all).
    """
    cams = [c for c in ds.cameras if c.K is not None and present(c.image)]
    if limit is not None and len(cams) > limit:
        cams = [cams[int(i)] for i in np.linspace(0, len(cams) - 1, limit)]
    scores = []
    for cam in cams:
        image = _channel(ds, cam.image, alpha=True)
        if image is not None and image[1] is None and cam.mask is not None and present(cam.mask):
            image = _channel(ds, cam.mask)  # no alpha: the mask's grey levels
        if image is None:  # unreadable, a problem already
            continue
        if image[1] is None:
            ds.note(cam.image, "has no alpha channel and no mask, so its silhouette can't be checked")
            break
        alpha = image[1] / 255.0
        uv, z = project(vertices, cam.c2w, cam.K)
        if (z <= 0).any() or not np.isfinite(uv).all():
            score = ViewScore(cam.label, 0.0, float("inf"), 1.0)
        else:
            result = compare(alpha, uv, triangles)
            score = ViewScore(cam.label, result["iou"], result["centroid_px"], result["wrong_beyond_edge"])
        scores.append(score)
        if score.wrong_share > MAX_WRONG_SHARE or score.centroid_px > MAX_CENTROID_PX:
            ds.problem(
                cam.image,
                f"the object projected with its camera misses the image: {score.wrong_share:.0%} of the "
                f"silhouette is off by more than a pixel, centroid off by {score.centroid_px:.2f} px",
            )
    return sorted(scores, key=_badness)


def _badness(s: ViewScore) -> tuple:
    return (-s.wrong_share, -s.centroid_px, s.iou)


@dataclass
class Report:
    datasets: list[Dataset]
    scores: list[ViewScore]
    unchecked: list[str] = field(default_factory=list)
    """Dataset folders whose silhouettes were asked for but could not be checked (no alpha, no masks)."""

    @property
    def problems(self) -> list:
        return [f for ds in self.datasets for f in ds.findings if f.problem]

    @property
    def notes(self) -> list:
        return [f for ds in self.datasets for f in ds.findings if not f.problem]

    def lines(self) -> list[str]:
        """One line per problem, then per distinct note (each one line: ``Dataset`` escapes what it records)."""
        out = [f"{f.where}: {f.message}" for f in self.problems]
        out += [
            f"{one_line(ds.folder.name, SHOWN)}: {ds.omitted} more problems not listed"
            for ds in self.datasets
            if ds.omitted
        ]
        notes = dict.fromkeys(f"note: {f.where}: {f.message}" for f in self.notes)
        return out + list(notes)

    def summary(self) -> str:
        if not self.datasets:
            return "no dataset found"
        problems = len(self.problems) + sum(ds.omitted for ds in self.datasets)
        if not any(ds.formats for ds in self.datasets):
            return one_line(f"{problems} problems: no dataset in {self.datasets[0].folder.name}", 1000)
        text = f"{problems} problems in {self._views()}"
        if self.scores:
            worst = self.scores[0]
            text += (
                f"; silhouettes checked on {len(self.scores)} cameras, worst {worst.label}: "
                f"IoU {worst.iou:.3f}, centroid {worst.centroid_px:.2f} px, "
                f"{worst.wrong_share:.1%} off by more than a pixel"
            )
        if self.unchecked:
            text += f"; silhouettes not checked in {', '.join(self.unchecked)}: no image with alpha or a mask"
        return one_line(text, 1000)

    def _views(self) -> str:
        """Views, not views x formats: we write the same views once per format folder."""
        counts = [len(ds.cameras) for ds in self.datasets]
        names = [
            ds.folder.name if [ds.folder.name] == ds.formats else f"{ds.folder.name} ({'+'.join(ds.formats)})"
            for ds in self.datasets
        ]
        if len(self.datasets) == 1:
            return f"{counts[0]} views of {names[0]}"
        if len(set(counts)) == 1:
            return f"{counts[0]} views × {len(counts)} formats ({', '.join(names)})"
        each = ", ".join(f"{n} {c}" for n, c in zip(names, counts))
        return f"up to {max(counts)} views × {len(counts)} formats ({each})"


def check_planned_files(root: Path, ds: Dataset) -> None:
    """A dataset of ours names every file of every view in its plan: each image and pass file (the depth EXRs
    no JSON mentions, too) must be whole, as ``--resume`` would check it."""
    from .dataset import damaged_files
    from .ownership import owned_files, saved_plan

    try:
        plan = saved_plan(root)
    except UserError as exc:
        ds.problem(root / PLAN_FILE, str(exc))
        return
    if plan is not None:
        damaged = damaged_files(plan, root)
        damaged += [rel for rel in sorted(owned_files(plan)) if rel not in damaged and not _whole(plan, root, rel)]
        for rel in damaged:
            ds.problem(root / rel, "is missing, cut short or of the wrong size: --resume renders it again")


def _whole(plan, root: Path, rel: str) -> bool:
    """Another format's link, a downscaled copy (``images_<k>/``: floor(w / k) wide) or the preview: whole,
    when it is there (what is written only when finalising may not be yet)."""
    path = root / rel
    if path.suffix not in (".png", ".exr") or not path.exists():
        return True
    k = re.search(r"_(\d+)$", PurePosixPath(rel).parent.name)
    w, h = plan.intrinsics.w, plan.intrinsics.h
    size = (None, None) if rel == PREVIEW_FILE else (w // int(k[1]), h // int(k[1])) if k else (w, h)
    return (exr_complete if path.suffix == ".exr" else png_complete)(path, *size)


def validate(root: Path, mesh: tuple[np.ndarray, np.ndarray] | None = None, limit: int | None = None) -> Report:
    """Check every dataset folder under ``root``; with ``mesh`` (vertices, triangles) also reproject.

    Hostile numbers (1e308 focal lengths, poses far away) overflow numpy on the way; the checks test for
    inf and nan themselves, so numpy's warnings would only put noise on the user's terminal.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        datasets = [check_folder(f) for f in dataset_folders(root)]
        for ds in datasets:
            check_masks(ds, limit)
        if datasets:
            check_planned_files(Path(root), datasets[0])
        if not datasets:
            ds = Dataset(Path(root))
            ds.problem(
                root, "holds no dataset: no transforms_*.json, transforms.json or sparse/ (here or one level down)"
            )
            datasets = [ds]
        scores, unchecked = [], []
        if mesh is not None:
            for ds in datasets:
                checked = reproject(ds, *mesh, limit=limit)
                if ds.cameras and not checked:
                    unchecked.append(one_line(ds.folder.name, SHOWN))
                scores += checked
    return Report(datasets, sorted(scores, key=_badness), unchecked)
