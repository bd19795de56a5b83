"""The Blender UI: the scene's settings (``properties``), the add-on preferences, the operators and the panel.
Each is a thin layer over ``app.pipeline``: no logic lives only here."""

ADDON = __package__.rpartition(".")[0]
"""The add-on's own package name (``nerf_dataset``, or ``bl_ext.<repo>.nerf_dataset`` as an extension)."""
