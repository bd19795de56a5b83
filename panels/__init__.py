"""Every panel of the add-on, with its properties beside it: the 3D viewport's sidebar panel (N-panel, tab
"NeRF Dataset"), the scene's settings it shows (``properties``: ``scene.nerf_dataset``, saved with the .blend)
and the add-on's preferences."""

import bpy

from . import preferences, properties
from .main import NERF_DATASET_PT_main

classes = (NERF_DATASET_PT_main,)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    properties.register()
    preferences.register()
    _register_classes()


def unregister():
    _unregister_classes()
    preferences.unregister()
    properties.unregister()
