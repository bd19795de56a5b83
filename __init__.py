"""NeRF Dataset: turn a Blender scene into training data for NeRF, instant-ngp, nerfstudio and 3DGS.

Importing this package never imports Blender, so the core and exporters run under plain Python;
Blender calls ``register()``.
"""


def register():
    from . import operators, panels

    operators.register()
    panels.register()


def unregister():
    from . import operators, panels

    panels.unregister()
    operators.unregister()
