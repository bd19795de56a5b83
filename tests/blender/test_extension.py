"""The installable extension: built with Blender's builder, installed and enabled through the extensions
API in a fresh Blender process, then used as a user would from the viewport."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from blend_scenes import world_triangles
from conftest import ROOT
from test_geometric_truth import check_view, passes, views


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("package_tool", ROOT / "tools" / "package.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tmp = tmp_path_factory.mktemp("extension")
    zip_path = tool.for_this_machine(tool.build(tmp / "dist"))
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp / "user")}
    script = Path(__file__).with_name("extension_session.py")
    r = subprocess.run([sys.executable, str(script), str(zip_path), str(tmp)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((tmp / "report.json").read_text()), tmp, zip_path


def test_package_is_named_after_the_manifest(session):
    _, _, zip_path = session
    assert zip_path.name == "nerf_dataset-0.1.0-linux_x64.zip"
    others = sorted(p.name for p in zip_path.parent.glob("*.zip") if p != zip_path)
    assert others == ["nerf_dataset-0.1.0-macos_arm64.zip", "nerf_dataset-0.1.0-windows_x64.zip"]


def test_each_platform_zip_carries_its_own_pillow_wheel(session):
    import zipfile

    _, _, zip_path = session
    for z in zip_path.parent.glob("*.zip"):
        wheels = [n for n in zipfile.ZipFile(z).namelist() if n.endswith(".whl")]
        platform = z.stem.rsplit("-", 1)[-1]
        tag = {"linux_x64": "manylinux", "macos_arm64": "macosx", "windows_x64": "win_amd64"}[platform]
        assert len(wheels) == 1 and wheels[0].startswith("wheels/pillow-") and tag in wheels[0]


def test_installs_enables_and_registers(session):
    report, _, _ = session
    assert report["install"] == ["FINISHED"] and report["enabled"]
    assert report["wheel_installed"]  # the bundled Pillow wheel, where Blender's real Python would import it
    assert all(report["types"].values()), report["types"]


def test_build_rig_keys_one_camera_with_the_plans_poses(session):
    report, _, _ = session
    assert report["build_rig"] == report["build_rig_again"] == ["FINISHED"]
    assert report["rig_cameras"] == 1
    assert report["keyframes"] == 10
    assert report["max_pose_error"] < 1e-6
    assert report["counts_equal"]
    assert report["user_camera_untouched"]
    assert report["motion_path_points"] >= 10


def test_render_writes_a_geometrically_true_dataset_and_restores_the_scene(session, fresh_bpy):
    report, tmp, _ = session
    assert report["render"] == ["FINISHED"]
    assert report["settings_restored"], report["snapshot"]
    from nerf_dataset.blender_io.demo import DEMO_OBJECT, build_demo_scene

    build_demo_scene()
    mesh = world_triangles(fresh_bpy.data.objects[DEMO_OBJECT])
    results = [check_view(alpha, c2w, K, mesh) for _, alpha, c2w, K in views(tmp / "dataset")]
    assert len(results) == 10 and all(passes(r) for r in results), results
    assert json.loads((tmp / "dataset" / "transforms_train.json").read_text())["cx"] == pytest.approx(160 - 0.1 * 320)


def test_disable_enable_and_reregister(session):
    report, _, _ = session
    assert report["after_disable"] is False
    assert report["after_enable"] and report["reregistered"]
