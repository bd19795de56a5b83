"""Open or build the scene, find the target, and describe both as ``core.plan.SceneFacts``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import bpy
import numpy as np

from ..core.camera import Optics, Raster, intrinsics_from_optics
from ..core.camera_path import fov_y_deg
from ..core.errors import UserError
from ..core.geometry import check_surface
from ..core.plan import SceneFacts, geometry_fingerprint
from .compat import engine_name
from .quiet import quiet_stdout
from .state import restoring

GEOMETRY_TYPES = {"MESH", "CURVE", "SURFACE", "FONT", "META"}
IMPORTERS = {
    ".obj": lambda p: bpy.ops.wm.obj_import(filepath=p),
    ".ply": lambda p: bpy.ops.wm.ply_import(filepath=p),
    ".stl": lambda p: bpy.ops.wm.stl_import(filepath=p),
    ".glb": lambda p: _gltf_import(p),
    ".gltf": lambda p: _gltf_import(p),
}


def _gltf_import(path: str) -> None:
    import addon_utils

    addon_utils.enable("io_scene_gltf2", default_set=False)
    bpy.ops.import_scene.gltf(filepath=path)


def open_blend(path: str, quiet: bool = True) -> None:
    """Open ``path``; ``quiet`` keeps Blender's "Read blend: ..." off stdout."""
    if not Path(path).is_file():
        raise UserError(f"file not found: {path}")
    try:
        with quiet_stdout(quiet):
            bpy.ops.wm.open_mainfile(filepath=str(Path(path).resolve()), load_ui=False)
    except RuntimeError as exc:
        raise UserError(f"cannot open {path}: {str(exc).splitlines()[-1]}") from None


def open_file() -> str:
    """The open .blend's path ("" for a scene never saved)."""
    return bpy.data.filepath


def current_scene() -> bpy.types.Scene:
    return bpy.context.scene


def target_triangles(objs) -> tuple[np.ndarray, np.ndarray]:
    """The target's evaluated triangles in world space, as the scene is now."""
    return world_triangles(objs, bpy.context.evaluated_depsgraph_get())


def new_empty_scene() -> bpy.types.Scene:
    """A factory-empty scene with a sun, a grey world and render settings suited to datasets."""
    # The factory startup file, not factory settings: those would also reset preferences and add-ons.
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 32
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False
    scene.view_settings.view_transform = "Standard"
    scene.render.resolution_x = scene.render.resolution_y = 800
    world = bpy.data.worlds.new("World")
    world.color = (0.05, 0.05, 0.05)
    scene.world = world
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", type="SUN"))
    sun.data.energy = 4.0
    sun.rotation_euler = (0.6, 0.2, 0.8)
    scene.collection.objects.link(sun)
    fill = bpy.data.objects.new("Fill", bpy.data.lights.new("Fill", type="SUN"))
    fill.data.energy = 1.0
    fill.rotation_euler = (2.4, -0.3, 3.6)
    scene.collection.objects.link(fill)
    return scene


def import_model(path: str, quiet: bool = True) -> list[bpy.types.Object]:
    """Import one model into a new empty scene; returns the objects it created. ``quiet`` keeps the importers'
    chatter ("OBJ import of ... took 1.68 ms", glTF's progress) off stdout, where only our results go."""
    p = Path(path)
    importer = IMPORTERS.get(p.suffix.lower())
    if importer is None:
        raise UserError(f"cannot import '{p.suffix}' files (supported: {', '.join(sorted(IMPORTERS))})")
    if not p.is_file():
        raise UserError(f"file not found: {path}")
    new_empty_scene()
    before = set(bpy.data.objects)
    try:
        with quiet_stdout(quiet):
            importer(str(p.resolve()))
    except RuntimeError as exc:
        raise UserError(f"cannot import {path}: {str(exc).splitlines()[-1]}") from None
    created = [o for o in bpy.data.objects if o not in before]
    if not any(_has_geometry(o) for o in created):
        raise UserError(f"{path} contains no mesh")
    return created


def _has_geometry(obj) -> bool:
    """Geometry of its own, or an instanced collection (how linked and appended assets usually arrive)."""
    return obj.type in GEOMETRY_TYPES or (obj.instance_type == "COLLECTION" and obj.instance_collection is not None)


def _geometry_objects(roots) -> list[bpy.types.Object]:
    found, stack = [], list(roots)
    while stack:
        obj = stack.pop()
        if _has_geometry(obj) and obj not in found:
            found.append(obj)
        stack.extend(obj.children)
    return found


def visible_geometry(scene: bpy.types.Scene) -> list[bpy.types.Object]:
    return [o for o in scene.objects if _has_geometry(o) and o.visible_get() and not o.hide_render]


def pick_target(scene: bpy.types.Scene, name: str | None, imported=None) -> tuple[str, list[bpy.types.Object]]:
    """The target's name and its geometry objects (the object and its geometry descendants)."""
    if name is not None:
        obj = scene.objects.get(name)
        if obj is None:
            raise UserError(f"no object named '{name}' in scene '{scene.name}'")
        objs = _geometry_objects([obj])
        if not objs:
            raise UserError(f"object '{name}' has no mesh geometry to orbit")
        return name, objs
    if imported:
        return Path(imported[0].name).name, _geometry_objects([o for o in imported if o.parent is None])
    active = bpy.context.view_layer.objects.active if bpy.context.view_layer else None
    if active is not None and _geometry_objects([active]):
        return active.name, _geometry_objects([active])
    objs = visible_geometry(scene)
    if not objs:
        raise UserError(f"scene '{scene.name}' has no visible mesh to orbit")
    return "<all visible meshes>", objs


def objects_named(scene: bpy.types.Scene, names) -> list[bpy.types.Object]:
    """Exactly these objects of ``scene`` (a job's target as the submitter picked it)."""
    missing = [n for n in names if scene.objects.get(n) is None]
    if missing:
        raise UserError(f"the scene has no object named '{missing[0]}'")
    return [scene.objects[n] for n in names]


def world_triangles(objs, depsgraph) -> tuple[np.ndarray, np.ndarray]:
    """The objects' evaluated geometry in world space as one triangle mesh: (vertices, triangles).

    Modifiers, shape keys, parenting and collection instances are applied, as the renderer sees them.
    """
    wanted = {o.original for o in objs}
    verts, tris, offset = [], [], 0
    for inst in depsgraph.object_instances:
        owner = inst.parent.original if inst.is_instance else inst.object.original
        if owner not in wanted or inst.object.type not in GEOMETRY_TYPES:
            continue
        ev, mw = inst.object, np.array(inst.matrix_world, dtype=np.float64)
        mesh = ev.to_mesh()
        try:
            mesh.calc_loop_triangles()
            co = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
            mesh.vertices.foreach_get("co", co)
            t = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
            mesh.loop_triangles.foreach_get("vertices", t)
        finally:
            ev.to_mesh_clear()
        verts.append(co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3])
        tris.append(t.reshape(-1, 3) + offset)
        offset += len(co) // 3
    if not verts:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    return np.concatenate(verts), np.concatenate(tris)


def _bounds(verts: np.ndarray):
    return tuple(float(v) for v in verts.min(axis=0)), tuple(float(v) for v in verts.max(axis=0))


def read_optics(scene: bpy.types.Scene, cam=None) -> Optics:
    """Optics of ``cam`` (default: the active camera), or Blender's defaults when the scene has none."""
    cam = cam or scene.camera
    if cam is None:
        return Optics()
    data = cam.data
    if data.type != "PERSP":
        kind = {"ORTHO": "orthographic", "PANO": "panoramic"}.get(data.type, data.type.lower())
        raise UserError(f"camera '{cam.name}' is {kind}; NeRF datasets need a perspective camera")
    return Optics(
        lens_mm=data.lens,
        sensor_width_mm=data.sensor_width,
        sensor_height_mm=data.sensor_height,
        sensor_fit=data.sensor_fit,
        shift_x=data.shift_x,
        shift_y=data.shift_y,
        clip_start=data.clip_start,
        clip_end=data.clip_end,
    )


def read_raster(scene: bpy.types.Scene) -> Raster:
    r = scene.render
    pct = r.resolution_percentage / 100.0
    return Raster(
        width=int(r.resolution_x * pct),
        height=int(r.resolution_y * pct),
        pixel_aspect_x=r.pixel_aspect_x,
        pixel_aspect_y=r.pixel_aspect_y,
    )


def read_camera_path(scene: bpy.types.Scene) -> tuple[tuple, tuple]:
    """(frame, camera-to-world rows) of the scene camera at every frame of the scene's range, and its optics
    on each of those frames (empty when every frame's are the current frame's: nothing animated)."""
    cam = scene.camera
    if cam is None:
        raise UserError("--rig camera needs a scene camera, and the scene has none")
    path, optics, aspects = [], [], set()
    with restoring() as state:
        state.on_restore(lambda frame=scene.frame_current: scene.frame_set(frame))
        now = read_optics(scene)
        for frame in range(scene.frame_start, scene.frame_end + 1, scene.frame_step):
            scene.frame_set(frame)
            cam = scene.camera  # as Blender renders it: timeline markers may bind another camera to a frame
            _check_drivers(cam)
            path.append((frame, tuple(float(x) for x in _pose(cam).reshape(-1))))
            optics.append(read_optics(scene, cam))
            aspects.add((scene.render.pixel_aspect_x, scene.render.pixel_aspect_y))
    if len(aspects) > 1:  # the rig renders its own frames, so a keyed pixel aspect would land on the wrong views
        raise UserError("the render's pixel aspect is animated; a dataset has one pixel aspect: remove its keys")
    return tuple(path), (tuple(optics) if any(o != now for o in optics) else ())


def _check_drivers(cam) -> None:
    """A driver Blender could not run (a Python expression with auto-run off) evaluates to 0: refuse it rather
    than plan a dataset from that 0."""
    for owner in (cam, cam.data):
        anim = owner.animation_data
        for fc in anim.drivers if anim is not None else ():
            if not fc.driver.is_valid:
                raise UserError(f"camera '{cam.name}': the driver of {fc.data_path} could not run (a Python "
                                "expression needs auto-run scripts allowed); fix or bake it")  # fmt: skip


def _pose(obj) -> np.ndarray:
    """The camera's world matrix without object scale: a camera's pose is its rotation and position only."""
    m = np.array(obj.matrix_world, dtype=float)
    m[:3, :3] /= np.linalg.norm(m[:3, :3], axis=0)
    return m


def read_flythrough(scene: bpy.types.Scene, name: str | None, resolution=None) -> tuple:
    """(frame, camera-to-world rows, vertical fov in degrees) of camera ``name`` over the frame range,
    at the dataset's ``resolution`` (the aspect decides which way a sensor fits)."""
    if not name:
        return ()
    obj = scene.objects.get(name)
    if obj is None or obj.type != "CAMERA":
        raise UserError(
            f"--camera-path-from needs a camera object; '{name}' is {'missing' if obj is None else 'not one'}"
        )
    raster = read_raster(scene)
    if resolution is not None:
        raster = Raster(*resolution, raster.pixel_aspect_x, raster.pixel_aspect_y)
    path = []
    with restoring() as state:
        state.on_restore(lambda frame=scene.frame_current: scene.frame_set(frame))
        state.set(scene, "camera", obj)
        for frame in range(scene.frame_start, scene.frame_end + 1, scene.frame_step):
            scene.frame_set(frame)
            fl_y = intrinsics_from_optics(read_optics(scene), raster).fl_y
            path.append((frame, tuple(float(x) for x in _pose(obj).reshape(-1)), fov_y_deg(fl_y, raster.height)))
    return tuple(path)


def target_fingerprint(objs) -> str:
    """``core.plan.geometry_fingerprint`` of the target's evaluated geometry (resume compares it)."""
    return geometry_fingerprint(*world_triangles(objs, bpy.context.evaluated_depsgraph_get()))


def surroundings(scene: bpy.types.Scene, objs) -> tuple[np.ndarray, np.ndarray]:
    """Every visible mesh but the target's, in world space (vertices, triangles)."""
    others = [o for o in visible_geometry(scene) if o not in objs]
    return world_triangles(others, bpy.context.evaluated_depsgraph_get())


def surroundings_fingerprint(scene: bpy.types.Scene, objs, meshes=None) -> str:
    """What else the renders depend on: every other visible mesh (``meshes``, when already evaluated), every
    light and the world's colour (resume refuses a scene where they changed: its images would not match)."""
    parts = [geometry_fingerprint(*(meshes if meshes is not None else surroundings(scene, objs)))]
    lights = sorted((o for o in scene.objects if o.type == "LIGHT" and not o.hide_render), key=lambda o: o.name)
    for light in lights:
        d = light.data
        values = [d.energy, *d.color, *(x for row in light.matrix_world for x in row)]
        parts.append(f"{light.name}:{d.type}:" + ",".join(f"{v:.6g}" for v in values))
    if scene.world is not None:
        parts.append("world:" + ",".join(f"{v:.6g}" for v in scene.world.color))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def scene_facts(
    scene: bpy.types.Scene, target: str, objs, rig: str, flythrough: str | None = None, resolution=None, source=""
) -> SceneFacts:
    depsgraph = bpy.context.evaluated_depsgraph_get()
    verts, tris = world_triangles(objs, depsgraph)
    check_surface(verts, tris, f"target '{target}'")  # refused here, before the output folder is touched
    lo, hi = _bounds(verts)
    rest = surroundings(scene, objs)
    # The rest of the scene only widens the bounds (instant-ngp's aabb_scale); a stray NaN there must not.
    slo, shi = _bounds(np.vstack([verts, rest[0][np.isfinite(rest[0]).all(axis=1)]]))
    center = (np.array(lo) + np.array(hi)) / 2.0
    path, path_optics = read_camera_path(scene) if rig == "camera" else ((), ())
    return SceneFacts(
        target=target,
        bounds_min=lo,
        bounds_max=hi,
        scene_bounds_min=slo,
        scene_bounds_max=shi,
        optics=read_optics(scene),
        raster=read_raster(scene),
        target_radius=float(np.max(np.linalg.norm(verts - center, axis=1))),
        camera_path=path,
        camera_optics=path_optics,
        engine=engine_name(scene.render.engine),
        unit=scene_unit(scene),
        fps=scene.render.fps / scene.render.fps_base,
        flythrough_name=flythrough or "",
        flythrough=read_flythrough(scene, flythrough, resolution),
        source=source,
        geometry=geometry_fingerprint(verts, tris),
        surroundings=surroundings_fingerprint(scene, objs, rest),
    )


def scene_unit(scene: bpy.types.Scene) -> str:
    """What one Blender unit is: "m" in a metric scene at unit scale 1 (Blender's default)."""
    units = scene.unit_settings
    if units.system == "METRIC" and abs(units.scale_length - 1.0) < 1e-9:
        return "m"
    if units.system == "METRIC":
        return f"{units.scale_length:g} m"
    return "scene unit"
