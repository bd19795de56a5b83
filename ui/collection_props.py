"""The panel's properties of the other kind of target: a folder or list of assets (``ui.collection`` renders it)."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from ..core.collection import AXES, LIGHTING, NORMALIZE

OBJECT, ASSETS = "OBJECT", "ASSETS"
IMPORTERS_AXIS = "DEFAULT"


def annotations() -> dict:
    axes = [(IMPORTERS_AXIS, "Importer's", "The importer's own default for the file type"), *[(a, a, "") for a in AXES]]
    blend_relative = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()
    return {
        "target_kind": EnumProperty(
            name="Target",
            items=[
                (OBJECT, "Object", "One object of this scene"),
                (ASSETS, "Folder or List", "A dataset per model of a folder (ShapeNet's layout too) or list file"),
            ],
            default=OBJECT,
        ),  # fmt: skip
        "assets_path": StringProperty(
            name="Assets",
            subtype="FILE_PATH",
            options=blend_relative,
            description="A folder of models, or a list file with one SOURCE [ID] [SHA256] per line",
        ),
        "assets_pattern": StringProperty(name="Pattern", description="Only files matching this, e.g. *.glb"),
        "normalize": EnumProperty(
            name="Normalize",
            items=[(n, n.replace("-", " ").title(), "") for n in NORMALIZE],
            default="unit-cube",
            description="Centre each asset and scale it into the unit cube or sphere",
        ),
        "up_axis": EnumProperty(name="Up Axis", items=axes, default=IMPORTERS_AXIS),
        "forward_axis": EnumProperty(name="Forward Axis", items=axes, default=IMPORTERS_AXIS),
        "lighting": EnumProperty(name="Lighting", items=[(x, x.title(), "") for x in LIGHTING], default="studio"),
    }
