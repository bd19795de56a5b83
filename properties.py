"""``scene.nerf_dataset``: the panel's settings, saved with the .blend, named after the CLI options."""

# No `from __future__ import annotations`: bpy evaluates these property annotations itself.
import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from .core.errors import UserError
from .core.passes import PASSES
from .core.rigs import RIG_KINDS
from .core.settings import Settings
from .exporters import FORMATS
from .pipeline import Source

FORMAT_ITEMS = [
    ("nerf", "NeRF", "NeRF-synthetic transforms_{train,val,test}.json (3DGS, nerfstudio blender-data, torch-ngp)"),
    ("ngp", "instant-ngp", "instant-ngp's transforms.json with held-out views under eval/"),
    ("nerfstudio", "nerfstudio", "nerfstudio-data transforms.json with train/val/test file lists"),
    ("colmap", "COLMAP", "images/ and sparse/0 (PINHOLE), as 3D Gaussian Splatting reads it"),
]
RIG_DESCRIPTIONS = {
    "hemisphere": "Even coverage of the upper hemisphere; test views on a ring",
    "sphere": "Even coverage of the whole sphere; test views on a ring",
    "rings": "Orbit rings at evenly spaced elevations",
    "spiral": "A spiral rising from the lowest to the highest elevation",
    "camera": "The scene camera's own animation, one view per frame",
}
# Lets "//" mean "next to the .blend" (Blender 4.5+ asks path properties to opt in).
BLEND_RELATIVE = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()
RIG_ITEMS = [(k, k.title(), RIG_DESCRIPTIONS[k]) for k in RIG_KINDS]
PASS_ITEMS = [
    ("depth", "Depth", "Z-depth: 32-bit EXR and 16-bit PNG in millimetres"),
    ("normal", "Normal", "World-space normals: EXR and an 8-bit PNG"),
    ("mask", "Mask", "Object mask from the object index pass (Cycles), 8-bit PNG"),
]
DOWNSCALE_ITEMS = [(str(k), f"1/{k}", f"images_{k}/") for k in (2, 4, 8)]
ENGINE_ITEMS = [
    ("SCENE", "Scene's Engine", "Render with the scene's own engine and settings"),
    ("CYCLES", "Cycles", ""),
    ("BLENDER_EEVEE", "EEVEE", ""),
    ("BLENDER_WORKBENCH", "Workbench", ""),
]


def _is_camera(_self, obj) -> bool:
    return obj.type == "CAMERA"


def _is_geometry(_self, obj) -> bool:
    return obj.type in {"MESH", "CURVE", "SURFACE", "FONT", "META", "EMPTY"}


class NERF_DATASET_PG_settings(bpy.types.PropertyGroup):
    target: PointerProperty(
        name="Target",
        type=bpy.types.Object,
        poll=_is_geometry,
        description="Object to orbit (empty: the active object)",
    )
    rig: EnumProperty(name="Rig", items=RIG_ITEMS, default="hemisphere")
    radius_auto: BoolProperty(name="Auto Radius", default=True, description="Fit the object's bounding sphere in view")
    radius: FloatProperty(name="Radius", default=4.0, min=1e-4, soft_max=100.0, unit="LENGTH")
    elevation_auto: BoolProperty(name="Default Elevations", default=True, description="0° to 90° (sphere: -90° to 90°)")
    elevation_min: FloatProperty(name="Min Elevation", default=0.0, min=-90.0, max=90.0, description="Degrees")
    elevation_max: FloatProperty(name="Max Elevation", default=90.0, min=-90.0, max=90.0, description="Degrees")
    rings: IntProperty(name="Rings", default=3, min=1, max=64)
    turns: FloatProperty(name="Turns", default=4.0, min=0.1, max=100.0)
    test_elevation: FloatProperty(name="Test Elevation", default=30.0, min=-90.0, max=90.0, description="Degrees")
    train_views: IntProperty(name="Train", default=100, min=0, max=100000)
    val_views: IntProperty(name="Val", default=100, min=0, max=100000)
    test_views: IntProperty(name="Test", default=200, min=0, max=100000)
    seed: IntProperty(name="Seed", default=0, min=0)
    resolution_override: BoolProperty(name="Resolution", default=False, description="Override the scene's resolution")
    resolution_x: IntProperty(name="Width", default=800, min=1, max=16384, subtype="PIXEL")
    resolution_y: IntProperty(name="Height", default=800, min=1, max=16384, subtype="PIXEL")
    samples_override: BoolProperty(name="Samples", default=False, description="Override the scene's render samples")
    samples: IntProperty(name="Samples", default=64, min=1, max=1 << 20)
    engine: EnumProperty(name="Engine", items=ENGINE_ITEMS, default="SCENE")
    lens_override: BoolProperty(name="Lens", default=False, description="Override the camera's focal length")
    lens: FloatProperty(name="Focal Length", default=50.0, min=1.0, max=5000.0, description="Millimetres")
    points: IntProperty(
        name="Surface Points", default=10000, min=0, max=10_000_000,
        description="Points sampled on the surface for COLMAP's points3D and points3d.ply (0: none)",
    )  # fmt: skip
    transparent: BoolProperty(name="Transparent Background", default=False, description="RGBA images, transparent film")
    formats: EnumProperty(
        name="Formats", items=FORMAT_ITEMS, options={"ENUM_FLAG"}, default=set(),
        description="Empty: the add-on preferences' default",
    )  # fmt: skip
    output_dir: StringProperty(
        name="Output Folder", subtype="DIR_PATH", options=BLEND_RELATIVE, default="",
        description="Empty: the add-on preferences' default; // is relative to the .blend",
    )  # fmt: skip
    passes: EnumProperty(
        name="Passes", items=PASS_ITEMS, options={"ENUM_FLAG"}, default=set(),
        description="Extra per-view files beside each image",
    )  # fmt: skip
    downscales: EnumProperty(
        name="Downscales", items=DOWNSCALE_ITEMS, options={"ENUM_FLAG"}, default=set(),
        description="images_<k>/ copies for the nerfstudio and COLMAP formats",
    )  # fmt: skip
    camera_path_from: PointerProperty(
        name="Fly-through Camera", type=bpy.types.Object, poll=_is_camera,
        description="An animated camera to export as a nerfstudio camera path (the test views always are)",
    )  # fmt: skip
    overwrite: BoolProperty(name="Overwrite", default=False, description="Replace a dataset already in the folder")


def preferences(context):
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def chosen_formats(props, context) -> tuple[str, ...]:
    chosen = set(props.formats)
    if not chosen:
        prefs = preferences(context)
        chosen = set(prefs.default_formats) if prefs else {"nerf"}
    return tuple(f for f in FORMATS if f in chosen)


def settings_from_props(props, context) -> Settings:
    """The same ``Settings`` the CLI builds from its flags."""
    return Settings(
        formats=chosen_formats(props, context),
        train=props.train_views,
        val=props.val_views,
        test=props.test_views,
        rig=props.rig,
        radius=None if props.radius_auto else props.radius,
        elevation_min=None if props.elevation_auto else props.elevation_min,
        elevation_max=None if props.elevation_auto else props.elevation_max,
        rings=props.rings,
        turns=props.turns,
        test_elevation=props.test_elevation,
        resolution=(props.resolution_x, props.resolution_y) if props.resolution_override else None,
        samples=props.samples if props.samples_override else None,
        engine=None if props.engine == "SCENE" else props.engine,
        transparent=props.transparent,
        seed=props.seed,
        lens=props.lens if props.lens_override else None,
        points=props.points,
        passes=tuple(p for p in PASSES if p in props.passes),
        downscales=tuple(sorted(int(k) for k in props.downscales)),
        camera_path_from=props.camera_path_from.name if props.camera_path_from else None,
    )


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
