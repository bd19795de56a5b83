"""One streamed frame in Blender: pose the rig camera, run the user's randomisation, render, annotate.

The rig is the same one the datasets use (``rig.build_rig_camera``), so a streamed rig view is the dataset's
view to the pixel; random views place that camera at the rig's distance instead. Frames are rendered as a
still into the instance's own folder and read back (a background Blender has no pixels in its Render Result).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from ..core import annotations as ann
from ..core.camera import intrinsics_from_optics
from ..core.conventions import look_at_c2w_opengl
from ..core.errors import UserError
from ..core.plan import Plan, View
from .quiet import quiet_stdout
from .render import apply_render_settings
from .rig import build_rig_camera
from .scene import read_optics, read_raster, world_triangles
from .state import SceneState


@dataclass
class Context:
    """What the randomisation function gets, once per frame."""

    rng: np.random.Generator
    scene: object
    object: object
    """The target object (None when the target is every visible mesh)."""
    objects: list
    camera: object
    params: dict
    """The latest parameters the trainer sent with ``Launch.send`` ({} until then)."""
    instance: int
    seq: int
    view: View | None
    extra: dict = field(default_factory=dict)


def load_randomize(spec: str | None):
    """``path.py:function`` → the function (the user's own code, imported under its own module name)."""
    if not spec:
        return None
    path, _, name = spec.rpartition(":")
    folder = str(Path(path).parent)
    if folder not in sys.path:  # the script's own modules beside it import as they would when run
        sys.path.insert(0, folder)
    module_name = f"nerf_stream_randomize_{abs(hash(path))}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None:
        raise UserError(f"randomize script {path} cannot be imported")
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    loader.loader.exec_module(module)
    func = getattr(module, name, None)
    if not callable(func):
        raise UserError(f"randomize script {path} has no function {name}()")
    return func


def keypoint_reader(scene, specs: list[str]):
    """``specs`` ("Object" or "Object:vertex") → a function of the evaluated depsgraph giving their world
    positions (n, 3): an object's origin, or a vertex of its evaluated mesh (shape keys, armatures and
    modifiers applied, as rendered). A whole spec that names an object is that object, colons and all."""
    found = []
    for spec in specs:
        name, _, index = (spec, "", "") if scene.objects.get(spec) is not None else spec.rpartition(":")
        obj = scene.objects.get(name)
        if obj is None:
            raise UserError(f"keypoint {spec!r}: the scene has no object named '{name or spec}'")
        if index:
            if not index.isdigit() or obj.type != "MESH" or int(index) >= len(obj.data.vertices):
                raise UserError(f"keypoint {spec!r}: '{name}' has no vertex {index}")
            found.append((obj, int(index)))
        else:
            found.append((obj, None))

    def positions(depsgraph) -> np.ndarray:
        local = {}  # one evaluated mesh per object per frame, however many of its vertices are keypoints
        for obj in {o for o, index in found if index is not None}:
            ev = obj.evaluated_get(depsgraph)
            mesh = ev.to_mesh()
            try:  # modifiers that add vertices (subdivision) keep the original ones first
                verts = mesh.vertices if len(mesh.vertices) >= len(obj.data.vertices) else obj.data.vertices
                co = np.empty(len(verts) * 3)
                verts.foreach_get("co", co)
                local[obj] = co.reshape(-1, 3)
            finally:
                ev.to_mesh_clear()
        out = []
        for obj, index in found:
            m = np.array(obj.evaluated_get(depsgraph).matrix_world, dtype=np.float64)
            p = local[obj][index] if index is not None else np.zeros(3)
            out.append(m[:3, :3] @ p + m[:3, 3])
        return np.array(out).reshape(-1, 3)

    return positions


def match_viewport_to_render(scene) -> None:
    """Make what the viewport depsgraph sees (the one ray casts and mesh reads use) what the render sees:
    objects, collections and modifiers hidden or shown as for rendering, subdivision at render levels. The
    instance's scene is its own copy, so nothing of the user's is changed; run after each randomisation."""
    for obj in scene.objects:
        if obj.hide_viewport != obj.hide_render:
            obj.hide_viewport = obj.hide_render
        if not obj.hide_render and obj.hide_get():
            obj.hide_set(False)
        for mod in obj.modifiers:
            if mod.show_viewport != mod.show_render:
                mod.show_viewport = mod.show_render
            if hasattr(mod, "render_levels") and hasattr(mod, "levels") and mod.levels != mod.render_levels:
                mod.levels = mod.render_levels
    stack = [bpy.context.view_layer.layer_collection]
    while stack:
        layer = stack.pop()
        coll = layer.collection
        if coll.hide_viewport != coll.hide_render:
            coll.hide_viewport = coll.hide_render
        if layer.hide_viewport and not coll.hide_render:
            layer.hide_viewport = False
        stack.extend(layer.children)


class FrameRenderer:
    def __init__(self, scene, objs, plan: Plan, folder: Path, keypoints: list[str], quiet: bool = True):
        self.scene, self.objs, self.plan, self.quiet = scene, objs, plan, quiet
        self.target = scene.objects.get(plan.scene.target)
        self.keypoint_names = list(keypoints)
        self.keypoints = keypoint_reader(scene, keypoints)
        self.camera = build_rig_camera(scene, plan)
        state = SceneState()  # never restored: the instance's scene is its own
        apply_render_settings(state, scene, plan)
        scene.camera = self.camera
        folder.mkdir(parents=True, exist_ok=True)
        self.still = folder / "frame.png"
        scene.render.filepath = str(folder / "frame")
        scene.render.image_settings.compression = 0  # read back at once and dropped: no time spent packing it
        self._keyed = True

    def random_pose(self, rng: np.random.Generator) -> np.ndarray:
        """A camera at the rig's distance looking at its centre, from a uniformly random direction (the upper
        hemisphere unless the rig is the whole sphere)."""
        low = -0.98 if self.plan.settings.rig == "sphere" else 0.05
        z = rng.uniform(low, 0.98)
        phi = rng.uniform(0.0, 2.0 * np.pi)
        r = np.sqrt(1.0 - z * z)
        eye = np.asarray(self.plan.center) + self.plan.radius * np.array([r * np.cos(phi), r * np.sin(phi), z])
        return look_at_c2w_opengl(eye, self.plan.center)

    def pose(self, view: View | None, c2w: np.ndarray | None) -> None:
        if view is not None:
            self.scene.frame_set(view.frame)
            return
        if self._keyed:  # random views: the rig's keys would pull the camera back to a rig view
            self.camera.animation_data_clear()
            self.camera.parent = None
            self._keyed = False
        self.camera.matrix_world = Matrix(c2w.tolist())

    def render(self) -> np.ndarray:
        from PIL import Image

        self.still.unlink(missing_ok=True)
        bpy.context.view_layer.update()
        with quiet_stdout(self.quiet):
            bpy.ops.render.render(write_still=True, scene=self.scene.name)
        with Image.open(self.still) as image:
            return np.asarray(image.convert("RGBA"))

    def intrinsics(self):
        """The camera's intrinsics as it renders now (a randomisation may have changed lens or resolution)."""
        return intrinsics_from_optics(read_optics(self.scene, self.camera), read_raster(self.scene))

    def annotate(self, c2w: np.ndarray, K: np.ndarray, w: int, h: int) -> dict:
        match_viewport_to_render(self.scene)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        verts, tris = world_triangles(self.objs, depsgraph)
        near = self.camera.data.clip_start
        bbox, in_view = ann.mesh_box(verts, tris, c2w, K, near, w, h)
        target = self.target
        obj_m = np.array(target.matrix_world, dtype=np.float64) if target is not None else np.eye(4)
        if len(verts):  # the object's box in its own frame (its children's geometry included)
            local = (verts - obj_m[:3, 3]) @ np.linalg.inv(obj_m[:3, :3]).T
            lo, hi = local.min(axis=0), local.max(axis=0)
        else:
            lo = hi = np.zeros(3)
        corners = ann.box_corners(lo, hi, obj_m)
        corner_uv, _ = ann.project_points(corners, c2w, K)
        points = self.keypoints(depsgraph)
        kp_uv, _ = ann.project_points(points, c2w, K)
        visible = ann.in_image(kp_uv, w, h) & self._unoccluded(points, c2w[:3, 3], depsgraph)
        return {
            "bbox": bbox,
            "in_view": in_view,
            "box_corners": ann.finite_list(corner_uv),
            "keypoint_names": self.keypoint_names,
            "keypoints": ann.finite_list(kp_uv),
            "keypoints_visible": [bool(v) for v in visible],
            "object_to_camera": ann.finite_list(np.linalg.inv(c2w) @ obj_m),
        }

    def _unoccluded(self, points: np.ndarray, eye: np.ndarray, depsgraph) -> np.ndarray:
        """True where nothing rendered lies between the camera and the point (a ray cast that stops just
        short of it, through the render-matched depsgraph)."""
        out = []
        for p in points:
            d = float(np.linalg.norm(p - eye))
            if d <= 1e-9:
                out.append(False)
                continue
            reach = d - max(1e-4, 1e-3 * d)
            hit, *_ = self.scene.ray_cast(depsgraph, eye.tolist(), ((p - eye) / d).tolist(), distance=reach)
            out.append(not hit)
        return np.array(out, dtype=bool)


def camera_c2w(camera) -> np.ndarray:
    """The camera's world pose as rendered, without scale (OpenGL axes, as ``transform_matrix``)."""
    m = np.array(camera.matrix_world, dtype=np.float64)
    m[:3, :3] /= np.linalg.norm(m[:3, :3], axis=0)
    return m


def returned_params(value, limit: int) -> dict:
    """What the randomisation returned, checked to be a JSON object of at most ``limit`` bytes (it travels and
    is recorded with the frame)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"randomize returned {type(value).__name__}, not a dict (or None)")
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise UserError(f"randomize returned a dict that is not JSON ({exc})") from None
    if size > limit:
        raise UserError(f"randomize returned {size} bytes of JSON, over the limit of {limit} per frame")
    return value
