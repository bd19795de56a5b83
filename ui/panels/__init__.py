"""The 3D viewport sidebar panel (N-panel, tab "NeRF Dataset")."""

import bpy

from .main import NERF_DATASET_PT_main

classes = (NERF_DATASET_PT_main,)


register, unregister = bpy.utils.register_classes_factory(classes)
