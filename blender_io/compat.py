"""Every name that differs between Blender 4.5 LTS and 5.0, in one place."""

from __future__ import annotations

import bpy

IS_5X = bpy.app.version >= (5, 0, 0)


def engine_id(name: str) -> str:
    """Blender's identifier for one of our engine names (EEVEE is ``BLENDER_EEVEE_NEXT`` before 5.0)."""
    if name == "BLENDER_EEVEE" and not IS_5X:
        return "BLENDER_EEVEE_NEXT"
    return name


def engine_name(identifier: str) -> str:
    """Our engine name for Blender's identifier (the inverse of ``engine_id``)."""
    return "BLENDER_EEVEE" if identifier == "BLENDER_EEVEE_NEXT" else identifier


def inside_blender_executable() -> bool:
    """True under ``blender -b -P``; False when bpy is a module imported by plain Python."""
    return bool(bpy.app.binary_path)
