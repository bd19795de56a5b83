"""Add-on preferences: where datasets go and which formats they get, unless a scene says otherwise."""

import bpy
from bpy.props import EnumProperty, StringProperty

from ..core.settings import SETTING_FIELDS
from ..operators.scene_values import ADDON
from .properties import BLEND_RELATIVE, FORMAT_ITEMS


class NERF_DATASET_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON

    default_output_dir: StringProperty(
        name="Default Output Folder", subtype="DIR_PATH", options=BLEND_RELATIVE, default="//nerf_dataset",
        description="Used when a scene's output folder is empty; // is relative to the .blend",
    )  # fmt: skip
    default_formats: EnumProperty(
        name="Default Formats", items=FORMAT_ITEMS, options={"ENUM_FLAG"},
        default=set(SETTING_FIELDS["formats"].default), description="Used when a scene picks no format",
    )  # fmt: skip

    def draw(self, _context):
        self.layout.prop(self, "default_output_dir")
        self.layout.row().prop(self, "default_formats")


def register():
    bpy.utils.register_class(NERF_DATASET_AP_preferences)


def unregister():
    bpy.utils.unregister_class(NERF_DATASET_AP_preferences)
