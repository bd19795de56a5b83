"""Depth, normal and mask passes through Blender's compositor, on 5.0's node-group API and 4.5's node tree.

The compositor writes float EXRs of every frame into staging (depth with the background zeroed, normals,
and an anti-aliased ID mask of the target); ``publish`` turns them into the dataset's files. Everything we
add to the scene (passes, pass indices, nodes, a node group) goes through the render job's ``SceneState``,
which takes it away again.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import bpy
import numpy as np

from ..core.files import write_bytes_atomic
from ..core.images import exr_complete
from ..core.passes import depth_png_counts, encode_png, mask_png, normal_png_rgb
from .state import SceneState

STAGED_PREFIX = "pass_######_"
# Where a ray hits nothing Cycles writes 1e10 and EEVEE the far clip distance; no surface lies beyond the
# far clip, so anything from just inside it on is background.
NO_HIT_DEPTH = 1e9
FAR_CLIP_MARGIN = 0.999
VIEW_LAYER_PASSES = {"depth": "use_pass_z", "normal": "use_pass_normal", "mask": "use_pass_object_index"}
RL_OUTPUTS = {"depth": ("Depth",), "normal": ("Normal",), "mask": ("Object Index", "IndexOB")}


def _with_instanced(objs) -> list:
    """The objects and, for collection instancers, the objects they instance (nested too): Cycles gives
    instanced geometry the index of its own object, not the instancer's. Another instance of the same
    collection would share the mask."""
    out, stack = [], list(objs)
    while stack:
        obj = stack.pop()
        if obj in out:
            continue
        out.append(obj)
        if obj.instance_type == "COLLECTION" and obj.instance_collection is not None:
            stack.extend(obj.instance_collection.all_objects)
    return out


def _math_node(tree, operation: str, value: float | None = None):
    kind = "CompositorNodeMath" if hasattr(bpy.types, "CompositorNodeMath") else "ShaderNodeMath"
    node = tree.nodes.new(kind)
    node.operation = operation
    if value is not None:
        node.inputs[1].default_value = value
    return node


class PassOutputs:
    """The passes of ``scene`` for the target ``objs``, staged per frame under ``staging``."""

    def __init__(self, scene, passes: tuple[str, ...], staging: Path, objs, clip_end: float = NO_HIT_DEPTH) -> None:
        self.scene, self.passes, self.staging, self.objs = scene, passes, Path(staging), list(objs)
        self.no_hit = min(NO_HIT_DEPTH, clip_end * FAR_CLIP_MARGIN)
        self._state = None
        self._exr = _ExrReader()

    def staged(self, frame: int, name: str) -> Path:
        return self.staging / (STAGED_PREFIX.replace("######", f"{frame:06d}") + f"{name}.exr")

    def begin(self, state: SceneState) -> None:
        """Set the passes up; every change goes through ``state``, which the render job restores."""
        if not self.passes:
            return
        self._state = state
        scene = self.scene
        layer = scene.view_layers[0]
        for p in self.passes:
            self._set(layer, VIEW_LAYER_PASSES[p], True)
        if "mask" in self.passes:
            # An index no other object uses, so the ID mask is exactly the target.
            self.index = 1 + max([o.pass_index for o in bpy.data.objects] + [0])
            for obj in _with_instanced(self.objs):
                self._set(obj, "pass_index", self.index)
        tree = self._compositor_tree()
        rl = self._node(tree, "CompositorNodeRLayers")
        rl.layer = layer.name
        out = {p: next(rl.outputs[n] for n in RL_OUTPUTS[p] if n in rl.outputs) for p in self.passes}
        sources = {}
        if "depth" in self.passes:
            # depth * (depth < far), with depth clamped first so 0 * inf never makes a NaN
            near = self._keep(_math_node(tree, "LESS_THAN", self.no_hit))
            clamp = self._keep(_math_node(tree, "MINIMUM", self.no_hit))
            zeroed = self._keep(_math_node(tree, "MULTIPLY"))
            tree.links.new(out["depth"], near.inputs[0])
            tree.links.new(out["depth"], clamp.inputs[0])
            tree.links.new(near.outputs[0], zeroed.inputs[0])
            tree.links.new(clamp.outputs[0], zeroed.inputs[1])
            sources["depth"] = zeroed.outputs[0]
        if "mask" in self.passes:
            idm = self._node(tree, "CompositorNodeIDMask")
            if hasattr(idm, "index"):  # 4.5: properties; 5.0: input sockets
                idm.index, idm.use_antialiasing = self.index, True
            else:
                idm.inputs["Index"].default_value = self.index
                idm.inputs["Anti-Alias"].default_value = True
            tree.links.new(out["mask"], idm.inputs[0])
            sources["mask"] = idm.outputs[0]
        if "normal" in self.passes:
            sources["normal"] = out["normal"]
        grey = [p for p in ("depth", "mask") if p in sources]
        if grey:
            self._file_output(tree, "BW", {p: sources[p] for p in grey})
        if "normal" in sources:
            self._file_output(tree, "RGB", {"normal": sources["normal"]})

    def publish(self, frame: int, files: dict[tuple[str, str], Path]) -> None:
        """Write the frame's pass files, ``files[(pass, ext)]`` = destination, from the staged EXRs."""
        r = self.scene.render
        for name in self.passes:
            staged = self.staged(frame, name)
            if not exr_complete(staged, r.resolution_x, r.resolution_y):  # Blender crashes reading a cut file
                raise OSError(errno.EIO, "Blender could not write its pass file (is the disk full?)", str(staged))
            if name in ("depth", "normal"):
                pixels = self._exr.read(staged)
                png = depth_png_counts(pixels[..., 0]) if name == "depth" else normal_png_rgb(pixels)
                write_bytes_atomic(files[(name, ".png")], encode_png(png))
                dst = files[(name, ".exr")]
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, dst)
            else:
                write_bytes_atomic(files[(name, ".png")], encode_png(mask_png(self._exr.read(staged)[..., 0])))
                staged.unlink()

    def end(self) -> None:
        self._exr.close()

    def _set(self, owner, attr: str, value) -> None:
        self._state.set(owner, attr, value)

    def _keep(self, node):
        tree = node.id_data
        self._state.on_restore(lambda: tree.nodes.remove(node))
        return node

    def _node(self, tree, kind: str):
        return self._keep(tree.nodes.new(kind))

    def _compositor_tree(self):
        scene = self.scene
        if hasattr(scene, "compositing_node_group"):  # Blender 5.0
            tree = scene.compositing_node_group
            if tree is None:
                tree = bpy.data.node_groups.new(".NeRF Dataset passes", "CompositorNodeTree")
                self._state.on_restore(lambda: bpy.data.node_groups.remove(tree))  # after the scene lets go
                self._set(scene, "compositing_node_group", tree)
        else:  # 4.5: turning nodes on makes a default tree (Render Layers -> Composite) when there is none
            self._set(scene, "use_nodes", True)
            tree = scene.node_tree
        return tree

    def _file_output(self, tree, color_mode: str, sources: dict) -> None:
        fo = self._node(tree, "CompositorNodeOutputFile")
        fmt = fo.format
        if hasattr(fo, "file_output_items"):  # 5.0
            fo.directory = str(self.staging) + os.sep
            fo.file_name = STAGED_PREFIX
            fmt.media_type = "IMAGE"  # before OPEN_EXR, which a multilayer format refuses
            fo.file_output_items.clear()
            for name in sources:
                fo.file_output_items.new("FLOAT" if color_mode == "BW" else "VECTOR", name)
        else:
            fo.base_path = str(self.staging)
            fo.file_slots.clear()
            for name in sources:
                fo.file_slots.new(STAGED_PREFIX + name)
        fmt.file_format = "OPEN_EXR"
        fmt.color_mode = color_mode
        fmt.color_depth = "32"
        fmt.exr_codec = "ZIP"
        for socket, source in zip(fo.inputs, sources.values(), strict=False):
            tree.links.new(source, socket)


class _ExrReader:
    """Reads EXRs through one reused image data-block: adding and removing an ID per frame would make
    Blender rebuild its dependency graph and re-sync the whole scene before the next frame."""

    def __init__(self) -> None:
        self._image = None

    def read(self, path: Path) -> np.ndarray:
        """Pixels, top row first, shape (h, w, channels)."""
        if self._image is None:
            self._image = bpy.data.images.load(str(path), check_existing=False)
        else:
            self._image.filepath = str(path)
            self._image.reload()
        image = self._image
        w, h = image.size
        pixels = np.empty(w * h * image.channels, dtype=np.float32)
        image.pixels.foreach_get(pixels)
        return pixels.reshape(h, w, -1)[::-1]

    def close(self) -> None:
        if self._image is not None:
            bpy.data.images.remove(self._image)
            self._image = None
