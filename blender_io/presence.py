"""Whether Blender is here, asked without needing it: the one module of the shell that imports without bpy."""

from __future__ import annotations

from ..core.errors import UserError

NO_BPY = (
    "this needs Blender, and this Python cannot import bpy: run it inside Blender, "
    "blender -b scene.blend -P cli.py -- [OPTIONS], or with the project's Python 3.11 venv, "
    ".venv/bin/python cli.py [OPTIONS] (make demo creates it)"
)


def require_blender() -> None:
    """A plain Python without bpy (``python3 cli.py``, the usual first try) gets how to run us, not a traceback.
    Only the commands that open a scene ask: ``validate`` of a folder and ``--collect`` need no Blender."""
    try:
        import bpy  # noqa: F401
    except ImportError:
        raise UserError(NO_BPY) from None


def blender_binary() -> str:
    """The Blender executable running this process, or "" (the bpy module under plain Python, or no Blender).
    A Blender executable has bpy loaded before any script runs: where it is not loaded yet, this is Python, and
    bpy (200 MB, a second) is not imported just to say so."""
    import sys

    bpy = sys.modules.get("bpy")
    return (bpy.app.binary_path or "") if bpy is not None else ""


def leave_no_failed_driver() -> None:
    """bpy 4.5 hangs at exit once a Python driver failed to run (auto-run off: "restricted access"), whatever
    the run did; an empty file before exit lets it end. Nothing to do where Blender was never loaded."""
    import sys

    bpy = sys.modules.get("bpy")
    if bpy is None:
        return
    owners = (bpy.data.objects, bpy.data.cameras, bpy.data.lights, bpy.data.materials, bpy.data.meshes)
    if any(not fc.driver.is_valid for kind in owners for owner in kind if owner.animation_data
           for fc in owner.animation_data.drivers):  # fmt: skip
        from .quiet import quiet_stdout

        with quiet_stdout():
            bpy.ops.wm.read_factory_settings(use_empty=True)
