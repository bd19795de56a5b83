"""``scene.nerf_dataset``: the panel's settings, saved with the .blend, derived from ``core.settings``.

Every ``Settings`` field becomes a property of the same name, with the label, help, range and choices of
its one description. A setting that may be unset (the CLI's "default: the scene's", "auto") gets a
``use_<name>`` switch beside it (one per compound flag: ``use_elevation``); off means unset, as on the CLI.
"""

# No `from __future__ import annotations`: bpy evaluates these property annotations itself.
import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    IntVectorProperty,
    PointerProperty,
    StringProperty,
)

from ..app.dataset import Source
from ..blender_io.scene import GEOMETRY_TYPES
from ..core.errors import UserError
from ..core.settings import SETTING_FIELDS, Settings, choice_ids, kind_of, meta_of, optional
from ..exporters import FORMATS
from . import ADDON
from .collection_props import annotations as collection_annotations
from .where import annotations as where_annotations

FORMAT_ITEMS = [(f.name, f.label, f.description) for f in FORMATS.values()]
# Lets "//" mean "next to the .blend" (Blender 4.5+ asks path properties to opt in).
BLEND_RELATIVE = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()
UNSET = "UNSET"
"""The enum item of a choice left unset (the scene's engine)."""


def _is_camera(_self, obj) -> bool:
    return obj.type == "CAMERA"


def _is_target(_self, obj) -> bool:
    return obj.type in GEOMETRY_TYPES or obj.type == "EMPTY"


def _items(name: str):
    return FORMAT_ITEMS if name == "formats" else list(meta_of(name).choices)


def use_switch(name: str) -> str | None:
    """The ``use_`` switch of a setting that may be unset, or None."""
    if not optional(name) or kind_of(name) == "str":
        return None  # unset strings are an enum item or an empty picker
    meta = meta_of(name)
    return "use_" + (meta.flag.lstrip("-").replace("-", "_") if meta.part is not None else name)


def _property(name: str):
    """The Blender property for one setting, from its description."""
    meta, kind, default = meta_of(name), kind_of(name), SETTING_FIELDS[name].default
    base = {"name": meta.label, "description": meta.help[:1].upper() + meta.help[1:]}
    shown = meta.shown if default is None else default
    lo = meta.low if meta.low is not None else (1e-4 if meta.positive else None)
    bounds = {k: v for k, v in (("min", lo), ("max", meta.high)) if v is not None}
    if kind == "bool":
        return BoolProperty(**base, default=default)
    if kind == "int":
        return IntProperty(**base, default=shown, **{k: int(v) for k, v in bounds.items()})
    if kind == "float":
        return FloatProperty(**base, default=shown, unit="LENGTH" if meta.panel == "length" else "NONE", **bounds)
    if kind == "size":
        return IntVectorProperty(
            **base, size=2, default=shown, subtype="NONE", **{k: int(v) for k, v in bounds.items()}
        )
    if kind == "list":
        return EnumProperty(**base, items=_items(name), options={"ENUM_FLAG"}, default={str(x) for x in default})
    if meta.panel == "camera":
        return PointerProperty(**base, type=bpy.types.Object, poll=_is_camera)
    if meta.panel == "file":
        return StringProperty(**base, subtype="FILE_PATH", options=BLEND_RELATIVE, default="")
    items = _items(name)
    if default is None:
        return EnumProperty(
            **base, items=[(UNSET, f"Scene's {meta.label}", meta.none_means.capitalize()), *items], default=UNSET
        )
    return EnumProperty(**base, items=items, default=default)


def _annotations() -> dict:
    props = {
        "target": PointerProperty(
            name="Target",
            type=bpy.types.Object,
            poll=_is_target,
            description="Object to orbit (empty: the active object)",
        ),
        "output_dir": StringProperty(
            name="Output Folder",
            subtype="DIR_PATH",
            options=BLEND_RELATIVE,
            default="",
            description="Empty: the add-on preferences' default; // is relative to the .blend",
        ),  # fmt: skip
        "overwrite": BoolProperty(
            name="Overwrite", default=False, description="Replace a dataset already in the folder"
        ),
    }
    for name in SETTING_FIELDS:
        props[name] = _property(name)
        switch = use_switch(name)
        if switch and switch not in props:
            meta = meta_of(name)
            props[switch] = BoolProperty(
                name=meta.label.split()[-1] if meta.part is not None else meta.label,
                default=False,
                description=f"Off: {meta.none_means}",
            )
    # An empty format choice means the add-on preferences' default formats.
    props["formats"] = EnumProperty(
        name="Formats", items=FORMAT_ITEMS, options={"ENUM_FLAG"}, default=set(),
        description="Empty: the add-on preferences' default",
    )  # fmt: skip
    props.update(where_annotations())  # Where the views render, and the job a submission made
    props.update(collection_annotations())  # the other kind of target: a folder or list of assets
    return props


NERF_DATASET_PG_settings = type(
    "NERF_DATASET_PG_settings", (bpy.types.PropertyGroup,), {"__annotations__": _annotations()}
)


def preferences(context):
    addon = context.preferences.addons.get(ADDON)
    return addon.preferences if addon else None


def chosen_formats(props, context) -> tuple[str, ...]:
    chosen = set(props.formats)
    if not chosen:
        prefs = preferences(context)
        chosen = set(prefs.default_formats) if prefs else set(SETTING_FIELDS["formats"].default)
    return tuple(f for f in FORMATS if f in chosen)


def settings_from_props(props, context) -> Settings:
    """The same ``Settings`` the CLI builds from its flags (unchecked: the pipeline checks them)."""
    values = {}
    for name in SETTING_FIELDS:
        switch, kind, value = use_switch(name), kind_of(name), getattr(props, name)
        if switch and not getattr(props, switch):
            values[name] = None
        elif kind == "list":
            values[name] = tuple(x for x in choice_ids(name, FORMATS) if str(x) in value)
        elif kind == "size":
            values[name] = tuple(value)
        elif meta_of(name).panel == "camera":
            values[name] = value.name if value else None
        elif meta_of(name).panel == "file":
            values[name] = bpy.path.abspath(value) if value else None
        elif value == UNSET:
            values[name] = None
        else:
            values[name] = value
    values["formats"] = chosen_formats(props, context)
    return Settings(**values)


def source_from_props(props) -> Source:
    return Source(object=props.target.name if props.target else None)


def output_dir(props, context) -> str:
    """The output folder as an absolute path; ``//`` is relative to the saved .blend."""
    prefs = preferences(context)
    raw = props.output_dir or (prefs.default_output_dir if prefs else "//nerf_dataset")
    if raw.startswith("//") and not bpy.data.filepath:
        raise UserError("Save the .blend first, or choose an absolute output folder (// means next to the .blend)")
    return bpy.path.abspath(raw)


def register():
    bpy.utils.register_class(NERF_DATASET_PG_settings)
    bpy.types.Scene.nerf_dataset = PointerProperty(type=NERF_DATASET_PG_settings)


def unregister():
    del bpy.types.Scene.nerf_dataset
    bpy.utils.unregister_class(NERF_DATASET_PG_settings)
