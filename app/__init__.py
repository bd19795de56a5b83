"""The application layer: the pipeline (its bpy-free half in ``dataset``), local scale-out, ``validate`` and the
command line. Above ``core``, ``exporters`` and ``blender_io``; below the Blender UI (``ui``)."""
