"""File > Import > NeRF / COLMAP Cameras: look through another dataset's views before rendering them again."""

from __future__ import annotations

import bpy
from bpy_extras.io_utils import ImportHelper

from .reports import reports_errors


class NERF_DATASET_OT_import_cameras(bpy.types.Operator, ImportHelper):
    """Import the cameras of a NeRF-synthetic, instant-ngp, nerfstudio or COLMAP dataset (transforms*.json,
    cameras.bin/.txt, or its folder)"""

    bl_idname = "nerf_dataset.import_cameras"
    bl_label = "Import NeRF / COLMAP Cameras"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: bpy.props.StringProperty(default="*.json;*.bin;*.txt", options={"HIDDEN"})
    per_view: bpy.props.BoolProperty(
        name="One Camera per View", description="A camera object for each view instead of one keyed camera"
    )
    cameras_transform: bpy.props.StringProperty(
        name="Cameras Transform",
        description="A 4x4 matrix or nerfstudio's dataparser_transforms.json mapping the cameras into the scene",
        subtype="FILE_PATH",
    )
    holdout: bpy.props.IntProperty(
        name="Hold Out Every",
        description="Without splits in the source: every Nth view is a test view (0: none)",
        min=0,
        max=1000,
    )

    @reports_errors
    def execute(self, context):
        from ..blender_io.import_cameras import import_cameras
        from ..core.dataset_rig import rig_cameras
        from ..core.settings import Settings
        from ..core.source_cameras import read_source_cameras
        from ..core.world_transform import read_world_transform
        from ..exporters import FORMATS

        path = bpy.path.abspath(self.filepath)
        Settings(rig="dataset", cameras_from=path, holdout=self.holdout).validate(FORMATS)  # the panel's rules
        source = read_source_cameras(path, self.holdout)
        transform = read_world_transform(bpy.path.abspath(self.cameras_transform)) if self.cameras_transform else None
        made = import_cameras(context.scene, rig_cameras(source, transform), self.per_view)
        props = context.scene.nerf_dataset
        props.rig, props.cameras_from = "dataset", path  # Render NeRF Dataset renders these views
        props.cameras_transform, props.holdout = self.cameras_transform, self.holdout
        self.report({"INFO"}, f"Imported {len(source.views)} {source.layout} views as {len(made)} camera(s)")
        return {"FINISHED"}


def menu_entry(self, _context):
    self.layout.operator(NERF_DATASET_OT_import_cameras.bl_idname, text="NeRF / COLMAP Cameras")
