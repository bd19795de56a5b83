"""Blender UI (issue 3): registered by the add-on's register()."""


def register():
    pass


def unregister():
    pass
