"""``scene.nerf_dataset``: the panel's settings, saved with the .blend, derived from the options' descriptions.

Every option the panel offers becomes a property with the label, help, range, default and choices of its one
description (``core.options``): the dataset's ``Settings`` under their own names, each engine the panel offers
under its family's prefix (``slurm_partition``, ``batch_attempts``, ``k8s_image``), how a bucket is reached
(``s3_region``...), a collection's (``normalize``, ``assets_pattern``...). An option that may be unset (the CLI's
"default: the scene's", "auto") gets a ``use_<name>`` switch beside it (one per compound flag:
``use_elevation``); off means unset, as on the CLI. What only the panel asks (the target object, the Output
folder, Where, a bucket and prefix, an Emit Folder, the job it follows) is described here.
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

from ..blender_io.scene import GEOMETRY_TYPES
from ..cloud.actions import SubmitOptions
from ..cloud.s3 import S3Options
from ..core.collection import AssetOptions, CollectionOptions
from ..core.options import REQUIRED, default_of, fields_of, kind_of, meta_of, panel_name, switch_of
from ..core.settings import Settings
from ..exporters import FORMATS
from ..operators.scene_values import ASSETS, LOCAL, OBJECT, emit_prop, panel_engines

FORMAT_ITEMS = [(f.name, f.label, f.description) for f in FORMATS.values()]
# Lets "//" mean "next to the .blend" (Blender 4.5+ asks path properties to opt in).
BLEND_RELATIVE = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()


def _is_camera(_self, obj) -> bool:
    return obj.type == "CAMERA"


def _is_target(_self, obj) -> bool:
    return obj.type in GEOMETRY_TYPES or obj.type == "EMPTY"


def _description(meta, kind: str) -> str:
    text = meta.help[:1].upper() + meta.help[1:]
    return f"{text} (empty: {meta.none_means})" if meta.none_means and kind == "str" and not meta.choices else text


def _property(cls, name: str):
    """The Blender property for one option, from its description."""
    meta, kind, default = meta_of(cls, name), kind_of(cls, name), default_of(cls, name)
    default = None if default is REQUIRED else default  # the panel starts empty; the engine says what it needs
    base = {"name": meta.label, "description": _description(meta, kind)}
    shown = meta.shown if default is None or meta.shown is not None else default
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
    items = FORMAT_ITEMS if name == "formats" and cls is Settings else list(meta.choices)
    if kind == "list":
        return EnumProperty(**base, items=items, options={"ENUM_FLAG"}, default={str(x) for x in default})
    if meta.panel == "camera":
        return PointerProperty(**base, type=bpy.types.Object, poll=_is_camera)
    if meta.panel == "file":
        return StringProperty(**base, subtype="FILE_PATH", options=BLEND_RELATIVE, default="")
    if not items:
        return StringProperty(**base, default=default or "")
    if default is None:
        unset = (
            meta.unset,
            meta.unset_label or f"Scene's {meta.label}",
            meta.none_means[:1].upper() + meta.none_means[1:],
        )
        return EnumProperty(**base, items=[unset, *items], default=meta.unset)
    return EnumProperty(**base, items=items, default=default)


def family_properties(cls) -> dict:
    """The panel's properties of a family's options (those it offers), each with its ``use_`` switch."""
    props = {}
    for name in fields_of(cls):
        meta = meta_of(cls, name)
        if meta.panel == "none":
            continue
        props[panel_name(cls, name)] = _property(cls, name)
        switch = switch_of(cls, name)
        if switch and switch not in props:
            props[switch] = BoolProperty(
                name=meta.label.split()[-1] if meta.part is not None else meta.label,
                default=False,
                description=f"Off: {meta.none_means}",
            )
    return props


def _text(name: str, description: str, **kw) -> StringProperty:
    return StringProperty(name=name, description=description, default=kw.pop("default", ""), **kw)


def where_properties() -> dict:
    """Where the Render button sends the dataset, each offered engine's settings, and the job a submission made
    (so a job outlives the Blender session). No property holds a credential: they come only from the standard
    AWS chain (environment, profile, role); a profile is stored by its name."""
    engines = panel_engines()
    items = [(LOCAL, "This Computer", "Render here, in this Blender")]
    items += [(item, e.panel, e.panel_help) for item, e in engines.items()]
    props = {
        "where": EnumProperty(
            name="Where", items=items, default=LOCAL, description="Where Render NeRF Dataset renders the views"
        ),  # fmt: skip
        "shards": _property(SubmitOptions, "shards"),
    }
    for engine in engines.values():
        props.update(family_properties(engine.options))
        if emit_prop(engine):
            props[emit_prop(engine)] = _text("Emit Folder", f"Where the {engine.label} manifest is written (empty with "
                                             "a PVC: inside the job)", subtype="DIR_PATH")  # fmt: skip
    if any("s3" in e.places for e in engines.values()):
        props["s3_bucket"] = _text("Bucket", "The S3 bucket the job lives in")
        props["s3_prefix"] = _text("Prefix", "The job's folder in the bucket (jobs/chair)")
        props.update(family_properties(S3Options))
    # The job a submission made: enough to find it again after reopening the .blend.
    props.update({
        "job_location": _text("Job", "The submitted job: its folder or s3://BUCKET/PREFIX"),
        "job_backend": _text("Job Engine", "The batch engine the job was handed to"),
        "job_endpoint_url": _text("Job Endpoint URL", "How the job's bucket is reached (empty: AWS)"),
        "job_region": _text("Job Region", "The job's bucket's region"),
        "job_profile": _text("Job AWS Profile", "The profile name the job was submitted with (never a key)"),
    })  # fmt: skip
    return props


def collection_properties() -> dict:
    """The other kind of target: a folder or list of assets, each rendered as a dataset of its own."""
    blend_relative = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()
    return {
        "target_kind": EnumProperty(
            name="Target",
            items=[
                (OBJECT, "Object", "One object of this scene"),
                (ASSETS, "Folder or List", "A dataset per model of a folder (ShapeNet's layout too) or list file"),
            ],
            default=OBJECT,
        ),
        "assets_path": StringProperty(
            name="Assets",
            subtype="FILE_PATH",
            options=blend_relative,
            description="A folder of models, or a list file with one SOURCE [ID] [SHA256] per line",
        ),
        **family_properties(CollectionOptions),
        **family_properties(AssetOptions),
    }


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
    props.update(family_properties(Settings))
    # An empty format choice means the add-on preferences' default formats.
    props["formats"] = EnumProperty(
        name="Formats", items=FORMAT_ITEMS, options={"ENUM_FLAG"}, default=set(),
        description="Empty: the add-on preferences' default",
    )  # fmt: skip
    props.update(where_properties())
    props.update(collection_properties())
    return props


NERF_DATASET_PG_settings = type(
    "NERF_DATASET_PG_settings", (bpy.types.PropertyGroup,), {"__annotations__": _annotations()}
)


def register():
    bpy.utils.register_class(NERF_DATASET_PG_settings)
    bpy.types.Scene.nerf_dataset = PointerProperty(type=NERF_DATASET_PG_settings)


def unregister():
    del bpy.types.Scene.nerf_dataset
    bpy.utils.unregister_class(NERF_DATASET_PG_settings)
