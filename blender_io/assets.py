"""One asset of a collection as a scene: imported into an empty scene with the axes asked for, normalised, lit.

The model file's own coordinates map to the dataset's world by ``model_to_world`` = normalisation @ the
importer's axis conversion, recorded per asset so poses can be taken back to the model's frame.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.io_utils import axis_conversion

from ..core.collection import AssetOptions
from ..core.errors import UserError
from .quiet import quiet_stdout
from .scene import _geometry_objects, new_empty_scene, world_triangles

# Each importer's own default axes (forward, up): what a file of that kind is taken to use when not told.
DEFAULT_AXES = {".obj": ("-Z", "Y"), ".ply": ("Y", "Z"), ".stl": ("Y", "Z"), ".fbx": ("-Z", "Y")}
# glTF is +Y up, +Z forward by its specification; Blender's importer turns (x, y, z) into (x, -z, y).
GLTF_TO_BLENDER = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])


def _enum(axis: str) -> str:
    return ("NEGATIVE_" + axis[1:]) if axis.startswith("-") else axis


def _axes(suffix: str, opts: AssetOptions) -> tuple[str, str] | None:
    default = DEFAULT_AXES.get(suffix)
    if default is None:
        return None
    forward, up = opts.forward_axis or default[0], opts.up_axis or default[1]
    if forward.lstrip("-") == up.lstrip("-") and not (opts.forward_axis and opts.up_axis):
        # one of them given: the other is the importer's default unless it lies on the same axis
        if opts.up_axis:
            forward = {"X": "Y", "Y": "-Z", "Z": "Y"}[up.lstrip("-")]
        else:
            up = "Y" if forward.lstrip("-") == "Z" else "Z"
    if forward.lstrip("-") == up.lstrip("-"):
        raise UserError(f"--forward-axis {forward} and --up-axis {up} lie on one axis")
    return forward, up


HANG_FOR_TESTS = "NERF_DATASET_TEST_HANG_ON"
"""Tests only: a model file of this name "hangs" in its importer (as a pathological mesh does), so the asset
watchdog's stop can be tested with a real worker."""


def _test_hang(path: Path) -> None:
    if os.environ.get(HANG_FOR_TESTS) == path.name:
        time.sleep(3600)


def import_asset(path: str, opts: AssetOptions, quiet: bool = True) -> tuple[list, dict]:
    """A new empty scene holding the model, normalised and lit: (its geometry objects, the normalisation record)."""
    p = Path(path)
    suffix = p.suffix.lower()
    axes = _axes(suffix, opts)
    if not p.is_file():  # a FIFO would hold the importer (and the batch) forever
        raise UserError(f"{p.name} is not a regular file" if p.exists() else f"{p} is missing")
    scene = new_empty_scene()
    for obj in list(scene.objects):  # the collection's own lighting replaces the empty scene's sun
        bpy.data.objects.remove(obj)
    before = set(bpy.data.objects)
    _test_hang(p)
    try:
        with quiet_stdout(quiet):
            _import(str(p.resolve()), suffix, axes)
    except RuntimeError as exc:
        raise UserError(f"cannot import {p.name}: {' '.join(str(exc).split())[-200:]}") from None
    created = [o for o in bpy.data.objects if o not in before]
    objs = _geometry_objects([o for o in created if o.parent is None])
    if not objs:
        raise UserError(f"{p.name} contains no mesh")
    note = _check_images(p)
    conversion = _conversion(suffix, axes)
    record = _normalize(scene, created, objs, opts.normalize)
    record.update(
        up_axis=axes[1] if axes else None,
        forward_axis=axes[0] if axes else None,
        model_to_world=None if conversion is None else (np.array(record.pop("move")) @ conversion).tolist(),
    )
    record.pop("move", None)
    if note:
        record["note"] = note
    light(scene, opts.lighting)
    return objs, record


def _home(model: Path) -> Path:
    """The folder an asset's files may come from: the model's, or ShapeNet's model folder (``models/..``)."""
    folder = model.resolve().parent
    return folder.parent if folder.name == "models" else folder


def _check_images(model: Path) -> str:
    """Refuse files a model reads from outside the asset's folder (a hostile .mtl or .blend could render any image
    of this machine into the dataset): images of every kind (single files, sequences, UDIM tiles), linked
    libraries and volumes. A texture that is missing is noted."""
    home, missing = _home(model), []
    external = [(i.filepath, i.library) for i in bpy.data.images if i.packed_file is None and i.filepath]
    external += [(lib.filepath, None) for lib in bpy.data.libraries]
    external += [(v.filepath, v.library) for v in bpy.data.volumes if v.packed_file is None and v.filepath]
    for filepath, library in external:
        path = Path(bpy.path.abspath(filepath, library=library))
        folder = path.parent.resolve()
        if not folder.is_relative_to(home) or (path.exists() and not path.resolve().is_relative_to(home)):
            raise UserError(f"the model reads {path.name} from outside the asset's folder: not rendered")
        if "<" not in path.name and "#" not in path.name and not path.is_file():
            missing.append(path.name)
    return f"missing textures: {', '.join(missing[:3])}" if missing else ""


def _import(path: str, suffix: str, axes) -> None:
    kw = {} if axes is None else {"forward_axis": _enum(axes[0]), "up_axis": _enum(axes[1])}
    if suffix == ".obj":
        bpy.ops.wm.obj_import(filepath=path, **kw)
    elif suffix == ".ply":
        bpy.ops.wm.ply_import(filepath=path, **kw)
    elif suffix == ".stl":
        bpy.ops.wm.stl_import(filepath=path, **kw)
    elif suffix in (".glb", ".gltf"):
        import addon_utils

        addon_utils.enable("io_scene_gltf2", default_set=False)
        bpy.ops.import_scene.gltf(filepath=path)
    elif suffix == ".fbx":
        import addon_utils

        addon_utils.enable("io_scene_fbx", default_set=False)
        bpy.ops.import_scene.fbx(filepath=path, axis_forward=axes[0], axis_up=axes[1])
    elif suffix == ".blend":
        _append_objects(path)
    else:
        raise UserError(f"cannot import '{suffix}' files")


def _append_objects(path: str) -> None:
    with bpy.data.libraries.load(path, link=False) as (src, dst):
        dst.objects = list(src.objects)
    scene = bpy.context.scene
    for obj in dst.objects:
        if obj is not None and obj.type not in ("CAMERA", "LIGHT"):
            scene.collection.objects.link(obj)


def _conversion(suffix: str, axes) -> np.ndarray | None:
    """The importer's map from the file's coordinates to Blender's (None where its unit scaling is unknown)."""
    if suffix in (".glb", ".gltf"):
        return GLTF_TO_BLENDER
    if suffix == ".blend":
        return np.eye(4)
    if suffix == ".fbx" or axes is None:
        return None
    return np.array(axis_conversion(from_forward=axes[0], from_up=axes[1]).to_4x4())


def _normalize(scene, created, objs, mode: str) -> dict:
    """Move (and scale) the imported roots so the geometry's bounding box is centred at the origin and fits the
    unit cube [-0.5, 0.5]^3, or its vertices the unit sphere; returns mode, scale and the 4x4 ``move``."""
    bpy.context.view_layer.update()
    verts, _ = world_triangles(objs, bpy.context.evaluated_depsgraph_get())
    if len(verts) == 0 or not np.isfinite(verts).all():
        raise UserError("the model has no finite vertices")
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    centre = (lo + hi) / 2.0
    if mode == "unit-cube":
        extent = float(np.max(hi - lo))
        scale = 1.0 / extent if extent > 0 else 1.0
    elif mode == "unit-sphere":
        reach = float(np.max(np.linalg.norm(verts - centre, axis=1)))
        scale = 1.0 / reach if reach > 0 else 1.0
    else:
        centre, scale = np.zeros(3), 1.0
    move = np.diag([scale, scale, scale, 1.0])
    move[:3, 3] = -scale * centre
    from mathutils import Matrix

    m = Matrix(move.tolist())
    for obj in created:
        if obj.parent is None:
            obj.matrix_world = m @ obj.matrix_world
    bpy.context.view_layer.update()
    return {"mode": mode, "scale": scale, "move": move.tolist()}


def light(scene, lighting: str) -> None:
    """``studio``: a key, a fill and a rim area light around the origin and a dim grey world; ``uniform``: a
    white world only (every side lit alike, textures as they are); ``sun``: a sun and a fill, as ``--import``."""
    world = bpy.data.worlds.new("Collection World")
    scene.world = world
    if bpy.app.version < (5, 0, 0):  # Blender 5 makes every world a node tree
        world.use_nodes = True
    background = world.node_tree.nodes["Background"]
    if lighting == "uniform":
        background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
        background.inputs["Strength"].default_value = 1.0
        return
    background.inputs["Color"].default_value = (0.05, 0.05, 0.05, 1.0)
    if lighting == "sun":
        for name, energy, rot in (("Sun", 4.0, (0.6, 0.2, 0.8)), ("Fill", 1.0, (2.4, -0.3, 3.6))):
            sun = bpy.data.objects.new(name, bpy.data.lights.new(name, type="SUN"))
            sun.data.energy = energy
            sun.rotation_euler = rot
            scene.collection.objects.link(sun)
        return
    for name, energy, where in (("Key", 300.0, (2.5, -2.5, 3.0)), ("Fill", 120.0, (-3.0, -1.5, 1.5)),
                                ("Rim", 150.0, (0.5, 3.0, 2.5))):  # fmt: skip
        lamp = bpy.data.lights.new(name, type="AREA")
        lamp.energy, lamp.size = energy, 2.0
        obj = bpy.data.objects.new(name, lamp)
        obj.location = where
        direction = -np.array(where) / np.linalg.norm(where)
        from mathutils import Vector

        obj.rotation_euler = Vector(direction.tolist()).to_track_quat("-Z", "Y").to_euler()
        scene.collection.objects.link(obj)
