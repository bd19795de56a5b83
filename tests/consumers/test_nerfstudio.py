"""Our nerfstudio output read by nerfstudio's own ``nerfstudio-data`` dataparser (``make test-nerfstudio``).

nerfstudio pulls in torch, gsplat and open3d (about 8 GB), so it has its own venv and this module is
skipped by ``make test``. The dataset is rendered with the bpy venv (``NERF_DATASET_BPY_PYTHON``, default
``.venv/bin/python``); everything below reads it only through nerfstudio's code: its dataparser (splits,
cameras in its normalised frame, downscaled copies, masks, depth files, the 3D points), its depth loader,
its ray generator and its camera-path reader.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

nerfstudio = pytest.importorskip("nerfstudio")

ROOT = Path(__file__).resolve().parents[2]
BPY_PYTHON = os.environ.get("NERF_DATASET_BPY_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
ARGS = ["--object", "NeRF Demo Object", "--format", "nerfstudio", "--train", "6", "--val", "2", "--test", "4"]
ARGS += ["--resolution", "120x90", "--samples", "8", "--transparent", "--passes", "depth,mask", "--points", "2000"]
ARGS += ["--downscales", "2", "--seed", "4"]
SCENE_SCRIPT = """
import sys, numpy as np
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests", sys.argv[1] + "/tests/blender"]
import conftest
from blend_scenes import save_demo_blend
mesh = save_demo_blend(__import__("pathlib").Path(sys.argv[2]), resolution=(120, 90), shift_x=0.08, shift_y=-0.05)
np.savez(sys.argv[3], **mesh)
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nerfstudio")
    run = lambda *a: subprocess.run([BPY_PYTHON, *map(str, a)], capture_output=True, text=True, check=False)
    r = run("-c", SCENE_SCRIPT, ROOT, tmp / "scene.blend", tmp / "mesh.npz")
    assert r.returncode == 0, r.stderr[-2000:]
    r = run(ROOT / "cli.py", "--blend", tmp / "scene.blend", *ARGS, "--out", tmp / "out")
    assert r.returncode == 0, r.stderr[-2000:]
    mesh = dict(np.load(tmp / "mesh.npz"))
    return tmp / "out", mesh


def parse(out: Path, split: str, **config):
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    return NerfstudioDataParserConfig(data=out, **config).setup().get_dataparser_outputs(split=split)


def to_nerfstudio(points: np.ndarray, outputs) -> np.ndarray:
    t = outputs.dataparser_transform.numpy().astype(float)
    return (points @ t[:3, :3].T + t[:3, 3]) * outputs.dataparser_scale


def silhouettes(outputs, mesh) -> list[dict]:
    from PIL import Image

    from nerf_dataset.core.silhouette import compare, project

    cams = outputs.cameras
    verts = to_nerfstudio(mesh["vertices"], outputs)
    results = []
    for i, path in enumerate(outputs.image_filenames):
        K = np.array([[cams.fx[i, 0], 0, cams.cx[i, 0]], [0, cams.fy[i, 0], cams.cy[i, 0]], [0, 0, 1]], dtype=float)
        c2w = np.vstack([cams.camera_to_worlds[i].numpy().astype(float), [0, 0, 0, 1]])
        image = Image.open(path)
        assert image.size == (int(cams.width[i, 0]), int(cams.height[i, 0]))
        uv, z = project(verts, c2w, K)
        assert (z > 0).all()
        results.append(compare(np.asarray(image)[..., 3] / 255.0, uv, mesh["triangles"]))
    return results


def test_splits_are_ours(made):
    out, _ = made
    meta = json.loads((out / "transforms.json").read_text())
    for split in ("train", "val", "test"):
        names = [str(p.relative_to(out)) for p in parse(out, split).image_filenames]
        assert names == meta[f"{split}_filenames"]


@pytest.mark.parametrize("split", ["train", "test"])
def test_silhouettes_through_nerfstudios_cameras(made, split):
    out, mesh = made
    for r in silhouettes(parse(out, split), mesh):
        assert r["iou"] >= 0.97 and r["centroid_px"] <= 0.25, r


def test_downscaled_copies_through_nerfstudios_downscale_factor(made):
    out, mesh = made
    outputs = parse(out, "train", downscale_factor=2)
    assert all(p.parent.name == "images_2" for p in outputs.image_filenames)
    assert all(p.parent.name == "masks_2" for p in outputs.mask_filenames)
    for r in silhouettes(outputs, mesh):
        assert r["iou"] >= 0.95 and r["centroid_px"] <= 0.25, r


def _surface_samples(mesh, n=400_000):
    from nerf_dataset.core.points import sample_surface

    return sample_surface(mesh["vertices"], mesh["triangles"], n, seed=0)[0]


def _nearest(points, samples):
    out = []
    for chunk in np.array_split(points, max(1, len(points) // 200)):
        d = ((chunk[:, None, :] - samples[None, :, :]) ** 2).sum(-1)
        out.append(np.sqrt(d.min(axis=1)))
    return np.concatenate(out)


def test_depth_as_nerfstudio_loads_and_casts_it_lands_on_the_mesh(made):
    """nerfstudio reads the 16-bit PNG times depth_unit_scale_factor and the dataparser scale, as z-depth
    (depth-nerfacto's default ``is_euclidean_depth=False``): point = origin + direction * z * directions_norm."""
    from nerfstudio.data.utils.data_utils import get_depth_image_from_path
    from nerfstudio.models.depth_nerfacto import DepthNerfactoModelConfig

    assert DepthNerfactoModelConfig().is_euclidean_depth is False
    out, mesh = made
    outputs = parse(out, "train")
    samples = to_nerfstudio(_surface_samples(mesh), outputs)
    size = float(np.linalg.norm(np.ptp(samples, axis=0)))
    factor = outputs.metadata["depth_unit_scale_factor"] * outputs.dataparser_scale
    for i, path in enumerate(outputs.metadata["depth_filenames"]):
        cams = outputs.cameras
        h, w = int(cams.height[i, 0]), int(cams.width[i, 0])
        depth = get_depth_image_from_path(path, h, w, factor)[..., 0].numpy()
        rays = cams.generate_rays(camera_indices=i)
        hit = depth > 0
        origins = rays.origins.numpy()[hit]
        directions = rays.directions.numpy()[hit]
        norms = rays.metadata["directions_norm"].numpy()[hit]
        points = origins + directions * (depth[hit][:, None] * norms)
        pick = np.linspace(0, len(points) - 1, min(400, len(points))).astype(int)
        distances = _nearest(points[pick], samples)
        assert np.median(distances) < 0.005 * size, path


def test_points_for_splatfacto_lie_on_the_mesh(made):
    out, mesh = made
    outputs = parse(out, "train", load_3D_points=True)
    xyz = outputs.metadata["points3D_xyz"].numpy().astype(float)
    samples = to_nerfstudio(_surface_samples(mesh), outputs)
    size = float(np.linalg.norm(np.ptp(samples, axis=0)))
    assert len(xyz) > 1000
    assert np.median(_nearest(xyz[:500], samples)) < 0.005 * size


def test_the_camera_path_is_the_test_split_in_nerfstudios_frame(made):
    import torch
    from nerfstudio.cameras.camera_paths import get_path_from_json

    out, _ = made
    test = parse(out, "test")
    from nerfstudio.scripts.render import get_crop_from_json

    path = json.loads((out / "camera_paths" / "test_ring.json").read_text())
    assert get_crop_from_json(path) is None and path["seconds"] > 0  # what ns-render camera-path reads first
    cameras = get_path_from_json(path)
    assert torch.allclose(cameras.camera_to_worlds.float(), test.cameras.camera_to_worlds, atol=1e-5)
    assert torch.allclose(cameras.fy.float(), test.cameras.fy, rtol=1e-5)
    stored = np.array(path["dataparser_transform"]["transform"])
    assert np.allclose(stored, test.dataparser_transform.numpy(), atol=1e-5)
    assert path["dataparser_transform"]["scale"] == pytest.approx(test.dataparser_scale, rel=1e-5)


# Issue 15: the scene camera on a turning parent, aimed by Track To, lens keyed 40 -> 65 mm and shift keyed.
ZOOM_SCRIPT = """
import sys, numpy as np
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests", sys.argv[1] + "/tests/blender"]
import conftest
from blend_scenes import save_zoom_blend
np.savez(sys.argv[3], **save_zoom_blend(__import__("pathlib").Path(sys.argv[2]), 8, resolution=(96, 72)))
"""
ZOOM_ARGS = ["--rig", "camera", "--format", "nerfstudio", "--samples", "8", "--transparent", "--seed", "2"]


@pytest.fixture(scope="module")
def zoomed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zoom")
    run = lambda *a: subprocess.run([BPY_PYTHON, *map(str, a)], capture_output=True, text=True, check=False)
    r = run("-c", ZOOM_SCRIPT, ROOT, tmp / "zoom.blend", tmp / "mesh.npz")
    assert r.returncode == 0, r.stderr[-2000:]
    r = run(ROOT / "cli.py", "--blend", tmp / "zoom.blend", *ZOOM_ARGS, "--out", tmp / "out")
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp / "out", dict(np.load(tmp / "mesh.npz"))


@pytest.mark.parametrize("split", ["train", "test"])
def test_per_frame_intrinsics_through_nerfstudios_cameras(zoomed, split):
    out, mesh = zoomed
    frames = {f["file_path"]: f for f in json.loads((out / "transforms.json").read_text())["frames"]}
    outputs = parse(out, split)
    cams = outputs.cameras
    assert len(outputs.image_filenames) > 0
    for i, path in enumerate(outputs.image_filenames):
        frame = frames[str(Path(path).relative_to(out))]
        got = [float(v[i, 0]) for v in (cams.fx, cams.fy, cams.cx, cams.cy)]
        assert np.allclose(got, [frame[k] for k in ("fl_x", "fl_y", "cx", "cy")], rtol=1e-6)
    assert len({float(f) for f in cams.fx[:, 0]}) == len(outputs.image_filenames)  # every view its own lens
    assert all(r["iou"] >= 0.97 and r["centroid_px"] <= 0.25 for r in silhouettes(outputs, mesh))
