"""COLMAP's sparse model, as COLMAP, 3D Gaussian Splatting and nerfstudio's ``colmap`` parser read it.

``images/<split>_<i>.png`` and ``sparse/0/{cameras,images,points3D}.{txt,bin}`` (text and binary twins).
One PINHOLE camera per distinct intrinsics (3DGS accepts only undistorted models). Each image stores the
world-to-camera rotation as ``QW QX QY QZ`` and translation ``TX TY TZ`` in OpenCV camera axes (+Y down,
+Z forward); see ``core.conventions``. Image ids follow the plan's order, 1-based. ``points3D`` holds the
surface samples (``core.points``) with their rendered colour, error 0 (the 2D positions are exact
projections) and their tracks; each image lists those 2D observations.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np

from ..core.colmap_model import ModelError, read_model
from ..core.conventions import OPENGL_FROM_OPENCV, c2w_opengl_to_w2c_opencv, rotation_to_quaternion_wxyz
from ..core.files import write_bytes_atomic, write_text_atomic
from ..core.plan import Plan
from ..core.points import ScenePoints
from ..core.reader_kit import SHOWN, Camera, Dataset, relative_path, shown
from ..core.rigs import SPLITS
from ..core.text import one_line
from ..core.untrusted import is_dir
from .format import Format
from .nerfstudio import image_relpath, pass_relpath

PINHOLE_MODEL_ID = 1
STAGED_SPARSE, OLD_SPARSE = ".sparse.tmp", ".sparse.old"
MODEL_FILES = tuple(f"{name}.{ext}" for ext in ("txt", "bin") for name in ("cameras", "images", "points3D"))


def _camera_ids(plan: Plan) -> dict:
    """{(w, h, (fx, fy, cx, cy)): camera id}: one camera per distinct intrinsics, numbered as first seen."""
    ids: dict = {}
    for view in plan.views:
        i = plan.intrinsics_of(view)
        ids.setdefault((i.w, i.h, (i.fl_x, i.fl_y, i.cx, i.cy)), len(ids) + 1)
    return ids


def _cameras(plan: Plan) -> list[tuple[int, tuple]]:
    return [(cid, key) for key, cid in _camera_ids(plan).items()]


def _images(plan: Plan) -> list[tuple]:
    rows, ids = [], _camera_ids(plan)
    for image_id, view in enumerate(plan.views, start=1):
        w2c = c2w_opengl_to_w2c_opencv(view.c2w_array())
        q = rotation_to_quaternion_wxyz(w2c[:3, :3])
        i = plan.intrinsics_of(view)
        cid = ids[(i.w, i.h, (i.fl_x, i.fl_y, i.cx, i.cy))]
        rows.append((image_id, tuple(q), tuple(w2c[:3, 3]), cid, image_relpath(view.split, view.index).name))
    return rows


def _observations(plan: Plan, points: ScenePoints | None):
    """Per image: its 2D points as (u, v, point3D_id); per point: its track as (image_id, point2D_idx)."""
    per_image: list[list[tuple[float, float, int]]] = [[] for _ in plan.views]
    tracks: list[list[tuple[int, int]]] = [] if points is None else [[] for _ in range(len(points.xyz))]
    if points is not None:
        for p, k, (u, v) in zip(points.track_point.tolist(), points.track_view.tolist(), points.track_uv.tolist()):
            tracks[p].append((k + 1, len(per_image[k])))
            per_image[k].append((u, v, p + 1))
    return per_image, tracks


def _num(x) -> str:
    return repr(float(x))


def write(plan: Plan, format_dir: Path, points: ScenePoints | None = None) -> list[Path]:
    """The model is written into ``.sparse.tmp/0`` and renamed to ``sparse`` in one step: 3D Gaussian
    Splatting takes any ``sparse/`` folder for a complete model, so it must never see a partial one."""
    format_dir = Path(format_dir)
    staged = format_dir / STAGED_SPARSE
    shutil.rmtree(staged, ignore_errors=True)
    _write_model(plan, staged, points)
    _swap_in(staged, format_dir / "sparse")
    return [format_dir / "sparse" / "0" / name for name in MODEL_FILES]


def _model_files(plan: Plan, sparse: Path, points: ScenePoints | None) -> list[Path]:
    cameras, images = _cameras(plan), _images(plan)
    per_image, tracks = _observations(plan, points)
    cam_txt = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    cam_txt += [f"{cid} PINHOLE {w} {h} {' '.join(map(_num, params))}" for cid, (w, h, params) in cameras]
    img_txt = [
        "# Image list with two lines of data per image:",
        "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
        "#   POINTS2D[] as (X, Y, POINT3D_ID)",
    ]
    for (image_id, q, t, cid, name), obs in zip(images, per_image):
        img_txt.append(f"{image_id} {' '.join(map(_num, (*q, *t)))} {cid} {name}")
        img_txt.append(" ".join(f"{_num(u)} {_num(v)} {pid}" for u, v, pid in obs))
    pts_txt = ["# 3D point list with one line of data per point:", "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[]"]
    for p, track in enumerate(tracks):
        xyz, rgb = points.xyz[p], points.rgb[p]
        head = f"{p + 1} {' '.join(map(_num, xyz))} {' '.join(str(int(c)) for c in rgb)} 0.0"
        pts_txt.append(head + "".join(f" {i} {j}" for i, j in track))
    written = [
        write_text_atomic(sparse / "cameras.txt", "\n".join(cam_txt) + "\n"),
        write_text_atomic(sparse / "images.txt", "\n".join(img_txt) + "\n"),
        write_text_atomic(sparse / "points3D.txt", "\n".join(pts_txt) + "\n"),
    ]
    cam_bin = [struct.pack("<Q", len(cameras))]
    for cid, (w, h, params) in cameras:
        cam_bin.append(struct.pack("<iiQQ4d", cid, PINHOLE_MODEL_ID, w, h, *params))
    img_bin = [struct.pack("<Q", len(images))]
    for (image_id, q, t, cid, name), obs in zip(images, per_image):
        img_bin.append(struct.pack("<i4d3di", image_id, *q, *t, cid) + name.encode() + b"\x00")
        img_bin.append(struct.pack("<Q", len(obs)) + b"".join(struct.pack("<ddq", u, v, pid) for u, v, pid in obs))
    pts_bin = [struct.pack("<Q", len(tracks))]
    for p, track in enumerate(tracks):
        pts_bin.append(struct.pack("<Q3d3Bd", p + 1, *points.xyz[p], *points.rgb[p].tolist(), 0.0))
        pts_bin.append(struct.pack("<Q", len(track)) + b"".join(struct.pack("<ii", i, j) for i, j in track))
    written += [
        write_bytes_atomic(sparse / "cameras.bin", b"".join(cam_bin)),
        write_bytes_atomic(sparse / "images.bin", b"".join(img_bin)),
        write_bytes_atomic(sparse / "points3D.bin", b"".join(pts_bin)),
    ]
    return written


def _write_model(plan, staged: Path, points) -> list[Path]:
    try:
        return _model_files(plan, staged / "0", points)
    except OSError as exc:  # a full disk: no scratch left behind, and the file named as the user will know it
        shutil.rmtree(staged, ignore_errors=True)
        final = Path(exc.filename).parent.parent.parent / "sparse" / "0" / Path(exc.filename).name
        raise OSError(exc.errno, exc.strerror, str(final) if exc.filename else None) from None


def _swap_in(staged: Path, sparse: Path) -> None:
    """Put the model at ``sparse/0`` in one rename: the whole ``sparse`` when there is none yet; else only
    ``0``, our own folder (an older model is moved aside first and its files removed by name: whatever else
    ``sparse/`` holds is the user's and stays)."""
    if not sparse.exists():
        os.replace(staged, sparse)
        return
    old = staged.with_name(OLD_SPARSE)
    _drop_model(old)
    if (sparse / "0").exists():
        os.replace(sparse / "0", old)
    os.replace(staged / "0", sparse / "0")
    staged.rmdir()
    _drop_model(old)


def _drop_model(folder: Path) -> None:
    for name in MODEL_FILES:
        (folder / name).unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def claims(folder: Path) -> bool:
    return is_dir(Path(folder) / "sparse")


def read(ds: Dataset) -> None:
    """As 3D Gaussian Splatting reads it: ``sparse/0`` (or ``sparse``), undistorted cameras only."""
    ds.formats.append("colmap")
    sparse = ds.folder / "sparse" / "0"
    if not is_dir(sparse):
        sparse = ds.folder / "sparse"
    try:
        cameras, images = read_model(sparse, ds.folder)
    except ModelError as exc:
        ds.problem(sparse, f"holds no readable COLMAP model ({exc})")
        return
    usable = {cam_id: cam for cam_id, cam in cameras.items() if _usable(ds, sparse, cam_id, cam)}
    for _, image in sorted(images.items()):
        cam = usable.get(image.camera_id)
        if cam is None:
            if image.camera_id not in cameras:
                ds.problem(sparse, f"image {shown(image.name)} uses camera {image.camera_id}, which is not in cameras")
            continue
        qlen = float(np.linalg.norm(image.qvec))
        if not (np.isfinite(image.qvec).all() and np.isfinite(image.tvec).all() and 0 < qlen < np.inf):
            ds.problem(sparse, f"image {shown(image.name)} has a pose of non-finite numbers or a zero quaternion")
            continue
        if abs(qlen - 1.0) > 1e-6:
            ds.problem(sparse, f"image {shown(image.name)} has a quaternion of length {qlen:.6f}")
        path = relative_path(ds, sparse, image.name, "image name", ds.folder / "images")
        if path is None:
            continue
        c2w = np.linalg.inv(image.w2c()) @ OPENGL_FROM_OPENCV
        label = f"{ds.folder.name}/images/{image.name}"
        split = image.name.split("_")[0] if image.name.split("_")[0] in SPLITS else "train"
        ds.cameras.append(Camera(label, split, path, c2w, cam.K(), (cam.width, cam.height)))


def _usable(ds: Dataset, sparse: Path, cam_id: int, cam) -> bool:
    """Whether the camera can place its images' pixels; a problem when it can't. Only (SIMPLE_)PINHOLE
    has a K here, so the others' focal lengths are left to the model check."""
    if cam.model not in ("PINHOLE", "SIMPLE_PINHOLE"):
        ds.problem(
            sparse, f"camera {cam_id} is {one_line(cam.model, SHOWN)}: 3D Gaussian Splatting accepts only PINHOLE"
        )
    if cam.width <= 0 or cam.height <= 0:
        ds.problem(sparse, f"camera {cam_id} is {cam.width}x{cam.height}: an image size must be positive")
        return False
    K = cam.K()
    if K is not None and not (np.isfinite(K).all() and K[0, 0] > 0 and K[1, 1] > 0):
        ds.problem(sparse, f"camera {cam_id} has focal lengths {K[0, 0]:g}, {K[1, 1]:g}: they must be positive")
        return False
    return True


FORMAT = Format(
    name="colmap",
    label="COLMAP",
    description="images/ and sparse/0 (PINHOLE), as 3D Gaussian Splatting reads it",
    image_relpath=image_relpath,
    pass_relpath=pass_relpath,
    write=write,
    read=read,
    claims=claims,
    files=tuple(f"sparse/0/{name}" for name in MODEL_FILES),
    scratch=(STAGED_SPARSE, OLD_SPARSE),
    uses_points=True,
    takes_downscales=True,
)
