"""Every Blender operator of the add-on: thin wrappers that read ``scene.nerf_dataset`` into typed values
(``scene_values``), call the application function the CLI calls for the same action, and report. What they start
off the main thread (``tasks``), the jobs they follow (``following``), the collections they render in the
background (``collection``) and how a refusal is said (``reports``) live beside them."""

import bpy

from . import following
from .build_rig import NERF_DATASET_OT_build_rig
from .collection import NERF_DATASET_OT_cancel_collection
from .import_camera_path import NERF_DATASET_OT_import_camera_path
from .import_camera_path import menu_entry as camera_path_entry
from .import_cameras import NERF_DATASET_OT_import_cameras
from .import_cameras import menu_entry as cameras_entry
from .jobs import classes as job_classes
from .render import NERF_DATASET_OT_render
from .validate import NERF_DATASET_OT_validate

classes = (
    NERF_DATASET_OT_build_rig,
    NERF_DATASET_OT_render,
    NERF_DATASET_OT_cancel_collection,
    NERF_DATASET_OT_import_camera_path,
    NERF_DATASET_OT_import_cameras,
    NERF_DATASET_OT_validate,
    *job_classes,
)

_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    _register_classes()
    bpy.types.TOPBAR_MT_file_import.append(cameras_entry)
    bpy.types.TOPBAR_MT_file_import.append(camera_path_entry)
    following.register()


def unregister():
    following.unregister()
    bpy.types.TOPBAR_MT_file_import.remove(camera_path_entry)
    bpy.types.TOPBAR_MT_file_import.remove(cameras_entry)
    _unregister_classes()
