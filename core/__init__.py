"""The bpy-free core: camera model, conventions, rigs, the view plan. Pure Python + numpy."""
