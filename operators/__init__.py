"""Operators: thin wrappers that read ``scene.nerf_dataset``, call the pipeline and report."""

import bpy

from .build_rig import NERF_DATASET_OT_build_rig
from .render import NERF_DATASET_OT_render

classes = (NERF_DATASET_OT_build_rig, NERF_DATASET_OT_render)


register, unregister = bpy.utils.register_classes_factory(classes)
