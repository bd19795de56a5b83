"""File > Import > nerfstudio Camera Path: a camera_path.json as a keyframed camera."""

from __future__ import annotations

import bpy
from bpy_extras.io_utils import ImportHelper

from .reports import reports_errors


class NERF_DATASET_OT_import_camera_path(bpy.types.Operator, ImportHelper):
    """Import a nerfstudio camera path (camera_paths/*.json) as a keyframed camera"""

    bl_idname = "nerf_dataset.import_camera_path"
    bl_label = "Import nerfstudio Camera Path"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})
    dataparser_transforms: bpy.props.StringProperty(
        name="Dataparser Transforms",
        description="nerfstudio's dataparser_transforms.json of the trained model (default: the one in the path)",
        subtype="FILE_PATH",
    )
    set_scene: bpy.props.BoolProperty(
        name="Set Scene", description="Take the path's resolution, frame rate and frame range", default=True
    )

    @reports_errors
    def execute(self, context):
        from ..blender_io.camera_path import import_camera_path

        obj = import_camera_path(context.scene, self.filepath, self.dataparser_transforms or None, self.set_scene)
        self.report({"INFO"}, f"Imported '{obj.name}'")
        return {"FINISHED"}


def menu_entry(self, _context):
    self.layout.operator(NERF_DATASET_OT_import_camera_path.bl_idname, text="nerfstudio Camera Path (.json)")
