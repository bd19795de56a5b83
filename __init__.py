"""NeRF Dataset: turn a Blender scene into training data for NeRF, instant-ngp, nerfstudio and 3DGS.

Importing this package never imports Blender, so the core and exporters run under plain Python;
Blender calls ``register()``.
"""


def _modules():
    from . import operators, panels

    return (panels, operators)


def register():
    for module in _modules():
        module.register()


def unregister():
    for module in reversed(_modules()):
        module.unregister()
