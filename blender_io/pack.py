"""The open scene as one .blend that carries every file it uses: a job's scene, rendered by workers that have
none of the user's paths. Packing changes the open file, so what was a plain file on disk goes back to being one."""

from __future__ import annotations

import contextlib
from pathlib import Path

import bpy

from ..core.errors import UserError
from .quiet import quiet_stdout


def save_packed_scene(path: Path) -> None:
    """The open scene as a .blend that carries every image it uses, so workers need none of the user's paths.
    Linked libraries and other external files cannot travel yet: refused by name rather than rendered wrong."""
    with files_stay_unpacked():
        _save_packed_scene(path)


def _save_packed_scene(path: Path) -> None:
    with quiet_stdout(), contextlib.suppress(RuntimeError):  # a missing file is named below instead
        bpy.ops.file.pack_all()  # images, fonts, sounds, volumes: whatever Blender can carry inside
    external = [f"library {lib.filepath}" for lib in bpy.data.libraries]
    external += [f"font {f.name} ({f.filepath})" for f in bpy.data.fonts
                 if f.users and f.filepath != "<builtin>" and not f.packed_file]  # fmt: skip
    external += [f"cache file {c.filepath}" for c in bpy.data.cache_files if c.users]
    external += [f"movie clip {c.filepath}" for c in bpy.data.movieclips if c.users]
    external += [f"image {i.name} ({i.source.lower()})" for i in bpy.data.images
                 if i.source in {"SEQUENCE", "MOVIE"} and i.users]  # fmt: skip
    external += [f"image {i.name} ({i.filepath}: missing)" for i in bpy.data.images
                 if i.source in {"FILE", "TILED"} and i.users and not i.packed_file and i.filepath]  # fmt: skip
    if external:
        raise UserError(
            f"the scene uses {external[0]}, which cannot be packed into the job; make it local or remove it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.blend")
    with quiet_stdout():  # "Info: Saved copy as ..."
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, compress=True, check_existing=False)
    tmp.replace(path)


# What Blender can pack into a .blend (``save_packed_scene`` packs all of them).
PACKABLE = ("images", "fonts", "sounds", "volumes")


@contextlib.contextmanager
def files_stay_unpacked():
    """Packing writes every file the scene uses into the open .blend before the job's copy is saved: the CLI
    opens a copy, but in the panel it is the user's file. Afterwards, what was a plain file on disk and unchanged in
    memory goes back to being that file (its packed copy dropped, nothing written). An image painted in memory
    stays packed: its pixels exist nowhere else, and the job needs them."""
    before = []
    for kind in PACKABLE:
        for block in getattr(bpy.data, kind):
            if block.packed_file is None and _on_disk(block) and not getattr(block, "is_dirty", False):
                before.append(block)
    try:
        yield
    finally:
        for block in before:
            with contextlib.suppress(ReferenceError, RuntimeError):
                if block.packed_file is not None:
                    _unpack(block)


def _unpack(block) -> None:
    """Back to the file on disk it was packed from. Volumes have no ``unpack()``: the operator does it by name."""
    if hasattr(block, "unpack"):
        block.unpack(method="USE_ORIGINAL")
        return
    code = bpy.types.ID.bl_rna.properties["id_type"].enum_items[block.id_type].value
    with quiet_stdout():
        bpy.ops.file.unpack_item(method="USE_ORIGINAL", id_name=block.name, id_type=code)


def _on_disk(block) -> bool:
    path = getattr(block, "filepath", "")
    return bool(path) and path != "<builtin>" and Path(bpy.path.abspath(path)).is_file()
