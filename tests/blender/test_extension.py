"""The installable extension: built with Blender's builder, installed and enabled through the extensions
API in a fresh Blender process, then used as a user would from the viewport; then Blender is started again
on the same user folder to see which boto3 (bundled as wheels, for the cloud back-ends) the extension gets."""

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


def package_tool():
    spec = importlib.util.spec_from_file_location("package_tool", ROOT / "tools" / "package.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    tool = package_tool()
    tmp = tmp_path_factory.mktemp("extension")
    zip_path = tool.for_this_machine(tool.build(tmp / "dist"))
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp / "user")}
    for name, *args in (("extension_session.py", zip_path), ("extension_restart.py",)):
        script = Path(__file__).with_name(name)
        r = subprocess.run(
            [sys.executable, str(script), *map(str, args), str(tmp)], capture_output=True, text=True, env=env
        )
        assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((tmp / "report.json").read_text())
    report["restart"] = json.loads((tmp / "restart.json").read_text())
    return report, tmp, zip_path


def test_package_is_named_after_the_manifest(session):
    _, _, zip_path = session
    assert zip_path.name == "nerf_dataset-0.1.0-linux_x64.zip"
    others = sorted(p.name for p in zip_path.parent.glob("*.zip") if p != zip_path)
    assert others == ["nerf_dataset-0.1.0-macos_arm64.zip", "nerf_dataset-0.1.0-windows_x64.zip"]


# The pure-Python wheels (boto3 for the S3 / AWS Batch back-ends) that every platform's zip carries.
PURE_WHEELS = [
    "boto3-1.44.5-py3-none-any.whl",
    "botocore-1.44.8-py3-none-any.whl",
    "jmespath-1.1.0-py3-none-any.whl",
    "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
    "s3transfer-0.19.3-py3-none-any.whl",
    "six-1.17.0-py2.py3-none-any.whl",
]


def test_each_platform_zip_carries_its_own_pillow_wheel_and_the_pure_python_ones(session):
    import zipfile

    _, _, zip_path = session
    for z in zip_path.parent.glob("*.zip"):
        wheels = sorted(n.removeprefix("wheels/") for n in zipfile.ZipFile(z).namelist() if n.endswith(".whl"))
        platform = z.stem.rsplit("-", 1)[-1]
        tag = {"linux_x64": "manylinux", "macos_arm64": "macosx", "windows_x64": "win_amd64"}[platform]
        pillow = [w for w in wheels if w.startswith("pillow-")]
        assert len(pillow) == 1 and tag in pillow[0], wheels
        assert sorted(set(wheels) - set(pillow)) == PURE_WHEELS  # and no urllib3: Blender ships it
        assert z.stat().st_size < 30 * 2**20  # botocore's wheel alone is ~17 MB, Pillow's 5-7 MB


def test_package_tool_knows_each_wheels_platform():
    tool = package_tool()
    assert tool._platform_of("six-1.17.0-py2.py3-none-any.whl") == tool.ANY
    assert tool._platform_of("boto3-1.44.5-py3-none-any.whl") == tool.ANY
    pillow = "pillow-13.0.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    assert tool._platform_of(pillow) == "linux-x64"
    assert tool._platform_of("pillow-13.0.0-cp311-cp311-macosx_11_0_arm64.whl") == "macos-arm64"
    assert tool._platform_of("pillow-13.0.0-cp311-cp311-win_amd64.whl") == "windows-x64"
    assert tool._platform_of("pillow-13.0.0-cp311-cp311-musllinux_1_2_aarch64.whl") is None
    for wheel in tool.manifest()["wheels"]:
        assert tool._platform_of(wheel.rsplit("/", 1)[-1]) in {*tool.PIP_PLATFORMS, tool.ANY}, wheel


def test_installs_enables_and_registers(session):
    report, _, _ = session
    assert report["install"] == ["FINISHED"] and report["enabled"]
    assert report["wheel_installed"]  # the bundled Pillow wheel, where Blender's real Python would import it
    assert all(report["types"].values()), report["types"]


def test_boto3_and_its_dependencies_are_installed_from_the_extensions_wheels(session):
    report, _, _ = session
    assert all(report["boto3_installed"].values()), report["boto3_installed"]
    assert report["urllib3_bundled"] is False  # Blender ships it


def test_the_next_session_imports_the_bundled_boto3_and_blenders_urllib3(session):
    restart = session[0]["restart"]
    assert restart["enabled"]
    ours = restart["extension_site_packages"]
    assert len(ours) == 1 and restart["ahead_of_site_packages"] and all(restart["ahead_of_site_packages"])
    imported = restart["imported"]
    versions = {name: i["version"] for name, i in imported.items() if name != "urllib3"}
    assert versions == {"boto3": "1.44.5", "botocore": "1.44.8", "s3transfer": "0.19.3", "jmespath": "1.1.0",
                        "dateutil": "2.9.0.post0", "six": "1.17.0"}  # fmt: skip
    assert all(i["from"] == ours[0] for name, i in imported.items() if name != "urllib3"), imported  # not the venv's
    assert imported["urllib3"]["from"] != ours[0]  # Blender's own (here the bpy venv's: requests' dependency)
    assert restart["clients"] == ["s3", "batch"]
    assert restart["presigned"] == "https://bucket.s3.amazonaws.com/key"


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
