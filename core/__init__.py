"""The bpy-free core: camera model, conventions, rigs, settings, the view plan, images. Python, numpy and Pillow;
no Blender, and no import from the floors above it (``tests/core/test_layers.py``)."""
