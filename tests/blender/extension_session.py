"""Run in a fresh bpy process: install the extension zip, enable it, use it as a user would, report as JSON.

python extension_session.py ZIP WORKDIR

extension_restart.py then starts Blender again on the same user folder, as the user's next session.
"""

import json
import os
import sys
from importlib import import_module
from pathlib import Path

import bpy

import addon_utils

zip_path, work = sys.argv[1], Path(sys.argv[2])
report = {}
result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
report["install"] = sorted(result)
module = "bl_ext.user_default.nerf_dataset"
report["enabled"] = module in bpy.context.preferences.addons
# Blender installs the extension's bundled wheels into the user's extension site-packages.
site_packages = list(Path(os.environ["BLENDER_USER_RESOURCES"]).rglob("site-packages"))
report["wheel_installed"] = any((p / "PIL" / "__init__.py").is_file() for p in site_packages)
# boto3 and its pure-Python dependencies: installed there from the extension's own wheels ...
bundled = {"boto3": "boto3/__init__.py", "botocore": "botocore/__init__.py", "s3transfer": "s3transfer/__init__.py",
           "jmespath": "jmespath/__init__.py", "dateutil": "dateutil/__init__.py", "six": "six.py",
           "botocore_s3_model": "botocore/data/s3/2006-03-01/service-2.json.gz",
           "botocore_batch_model": "botocore/data/batch/2016-08-10/service-2.json.gz"}  # fmt: skip
report["boto3_installed"] = {name: any((p / path).is_file() for p in site_packages) for name, path in bundled.items()}
# ... but not urllib3, which Blender ships itself (see blender_manifest.toml).
report["urllib3_bundled"] = any((p / "urllib3").exists() for p in site_packages)
report["types"] = {
    name: hasattr(bpy.types, name)
    for name in (
        "NERF_DATASET_OT_render",
        "NERF_DATASET_OT_build_rig",
        "NERF_DATASET_OT_import_camera_path",
        "NERF_DATASET_OT_validate",
        "NERF_DATASET_PT_main",
    )
}
prefs = bpy.context.preferences.addons[module].preferences
report["types"]["preferences"] = prefs is not None and prefs.default_formats == {"nerf"}
ext = import_module(module)
demo = import_module(f"{module}.blender_io.demo")
rig = import_module(f"{module}.blender_io.rig")
pipeline = import_module(f"{module}.app.pipeline")
properties = import_module(f"{module}.operators.scene_values")

scene = demo.build_demo_scene()
scene.render.resolution_x, scene.render.resolution_y = 320, 240
scene.camera.data.shift_x = 0.1
user_camera = scene.camera
props = scene.nerf_dataset
props.target = bpy.data.objects[demo.DEMO_OBJECT]
props.use_train, props.use_val, props.use_test = True, True, True
props.train, props.val, props.test = 5, 2, 3
props.use_samples, props.samples = True, 8
props.transparent = True
props.seed = 4
props.output_dir = str(work / "dataset")

win = bpy.context.window_manager.windows[0]
area = next(a for a in win.screen.areas if a.type == "VIEW_3D")
region = next(r for r in area.regions if r.type == "WINDOW")


def counts():
    return {k: len(getattr(bpy.data, k)) for k in ("objects", "cameras", "actions", "meshes", "materials")}


with bpy.context.temp_override(window=win, area=area, region=region):
    report["build_rig"] = sorted(bpy.ops.nerf_dataset.build_rig())
    first_counts = counts()
    report["build_rig_again"] = sorted(bpy.ops.nerf_dataset.build_rig())
    report["counts_equal"] = first_counts == counts()
    cams = [o for o in scene.objects if o.get(rig.MARKER) == "camera"]
    report["rig_cameras"] = len(cams)
    camera = cams[0]
    report["keyframes"] = min(len(c.keyframe_points) for c in rig.fcurves(camera.animation_data.action, camera))
    report["motion_path_points"] = len(camera.motion_path.points) if camera.motion_path else 0
    plan = pipeline.plan_scene(properties.settings_from_props(props, bpy.context), properties.source_from_props(props))[
        2
    ]
    errors = []
    for view in plan.views:
        scene.frame_set(view.frame)
        errors.append(max(abs(a - b) for ra, rb in zip(camera.matrix_world, view.c2w) for a, b in zip(ra, rb)))
    report["max_pose_error"] = max(errors)
    report["user_camera_untouched"] = scene.camera == user_camera and user_camera.animation_data is None

    r = scene.render

    def snapshot():
        return [
            scene.camera.name, scene.frame_start, scene.frame_end, scene.frame_current, r.resolution_x,
            r.resolution_y, r.resolution_percentage, r.filepath, r.engine, r.film_transparent,
            r.image_settings.file_format, r.image_settings.color_mode, scene.cycles.samples,
        ]  # fmt: skip

    before = snapshot()
    report["render"] = sorted(bpy.ops.nerf_dataset.render("INVOKE_DEFAULT"))
    report["settings_restored"] = before == snapshot()
    report["snapshot"] = [before, snapshot()]

addon_utils.disable(module)
report["after_disable"] = hasattr(bpy.types, "NERF_DATASET_OT_render")
addon_utils.enable(module)
report["after_enable"] = hasattr(bpy.types, "NERF_DATASET_OT_render")
ext.unregister()
ext.register()
report["reregistered"] = hasattr(bpy.types, "NERF_DATASET_PT_main")
bpy.ops.wm.save_userpref()  # as Blender does on quit: the extension stays enabled for extension_restart.py

(work / "report.json").write_text(json.dumps(report, indent=1))
