"""The 3D viewport sidebar panel (N-panel, tab "NeRF Dataset")."""

import bpy

from .main import NERF_DATASET_PT_main

classes = (NERF_DATASET_PT_main,)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
